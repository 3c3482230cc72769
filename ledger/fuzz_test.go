package ledger

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Fuzz targets for every decoder of untrusted bytes. The invariant is the same for all: never
// panic, and whatever decodes re-encodes to exactly the input (one byte form per value). The
// seed corpus is both added with f.Add and committed under testdata/fuzz/<FuzzName>/; run
// `JAMINAN_WRITE_SEEDS=1 go test ./ledger -run TestWriteFuzzSeeds` after a format change.

// fuzzSeed is one named seed input of a fuzz target (one []byte per fuzz argument).
type fuzzSeed struct {
	name string
	args [][]byte
}

func newFuzzSeed(name string, args ...[]byte) fuzzSeed { return fuzzSeed{name, args} }

// fuzzSeeds returns the seed inputs of every fuzz target, built from the fixtures.
func fuzzSeeds(t testing.TB) map[string][]fuzzSeed {
	t.Helper()
	out := map[string][]fuzzSeed{}

	for i, body := range fixtureBodies() {
		r := NewRecord(fixtureSigner(1).ID(), 1735689600000, body)
		r.Sign(fixtureNetwork, fixtureSigner(1))
		if i%2 == 0 {
			r.Sign(fixtureNetwork, fixtureSigner(2))
		}
		out["FuzzDecodeRecord"] = append(out["FuzzDecodeRecord"], newFuzzSeed(string(body.RecordType()), r.Encode()))
	}
	for _, body := range fixtureMinimalBodies() {
		r := NewRecord(fixtureSigner(2).ID(), 0, body)
		out["FuzzDecodeRecord"] = append(out["FuzzDecodeRecord"], newFuzzSeed(string(body.RecordType())+"-minimal", r.Encode()))
	}

	blk := fixtureBlock(t)
	next, err := BuildBlock(fixtureSigner(1), fixtureNetwork, &blk.Header, blk.Header.Time+1, fixtureRecords(t)[:1])
	if err != nil {
		t.Fatal(err)
	}
	// A small block gives the mutator short inputs to work on; Verify does not decode records.
	tiny, err := BuildBlock(fixtureSigner(1), fixtureNetwork, nil, 1, [][]byte{{0xa0}})
	if err != nil {
		t.Fatal(err)
	}
	out["FuzzDecodeBlock"] = []fuzzSeed{newFuzzSeed("three-records", blk.Encode()), newFuzzSeed("second-block", next.Encode()), newFuzzSeed("tiny", tiny.Encode())}

	cp1 := NewCheckpoint(fixtureNetwork, 1, fixtureGenesis().Hash(), 1735689600200, []Hash{blk.Hash(), next.Hash()})
	cp2 := NewCheckpoint(fixtureNetwork, 2, cp1.Checkpoint.Hash(), 1735689600300, nil)
	cp3 := NewCheckpoint(fixtureNetwork, 3, cp2.Checkpoint.Hash(), 1735689600400, fixtureBlockHashes(5))
	out["FuzzDecodeCheckpointBody"] = []fuzzSeed{newFuzzSeed("two-blocks", cp1.Encode()), newFuzzSeed("empty", cp2.Encode()), newFuzzSeed("five-blocks", cp3.Encode())}

	signers, _ := fixtureMinistry(3)
	cph, root := cp1.Checkpoint.Hash(), fixtureHash("state")
	var votes []Vote
	for _, s := range signers {
		votes = append(votes, SignVote(s, fixtureNetwork, 1, cph, root))
	}
	all, majority := Certify(1, cph, root, votes), Certify(1, cph, root, votes[1:])
	out["FuzzDecodeCertificate"] = []fuzzSeed{newFuzzSeed("three-of-three", all.Encode()), newFuzzSeed("two-of-three", majority.Encode())}
	att := SnapshotAttestation{Seq: 1, Checkpoint: cph, StateRoot: root, Digest: fixtureHash("digest"), Keys: 42}
	for _, s := range signers[:2] {
		att.Sign(fixtureNetwork, s)
	}
	out["FuzzDecodeSnapshotAttestation"] = []fuzzSeed{newFuzzSeed("two-of-three", att.Encode())}
	out["FuzzDecodeVote"] = []fuzzSeed{
		newFuzzSeed("vote", encode(votes[0])),
		newFuzzSeed("witness", encode(SignWitness(fixtureSigner(1), fixtureNetwork, 1, cph, root))),
	}

	data := merkleData(7)
	leaves := merkleLeaves(data)
	for _, i := range []int{0, 3, 6} {
		p, err := BuildMerkleProof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		out["FuzzMerkleProof"] = append(out["FuzzMerkleProof"], newFuzzSeed(fmt.Sprintf("leaf-%d-of-7", i), encode(p), data[i]))
	}
	p, _ := BuildMerkleProof(leaves[:1], 0)
	out["FuzzMerkleProof"] = append(out["FuzzMerkleProof"], newFuzzSeed("leaf-0-of-1", encode(p), data[0]))

	out["FuzzDecodeGenesis"] = []fuzzSeed{newFuzzSeed("fixture", fixtureGenesis().Encode())}

	n := newTnet(t)
	w := worker(1)
	b44 := n.bureau["44"]
	proofs := n.proveAll(n.block(b44, n.rec(b44, n.contribution(w, "440300", 202301, 800000)), n.rec(b44, &ConsentGrant{Worker: w, Grantee: testEmployer, Scope: "history", From: 20230101})))
	out["FuzzDecodeRecordProof"] = []fuzzSeed{newFuzzSeed("contribution", proofs[0].Encode()), newFuzzSeed("consent", proofs[1].Encode())}
	stmt := Statement{Network: n.g.Network, Worker: w, Proofs: proofs}
	out["FuzzDecodeStatement"] = []fuzzSeed{newFuzzSeed("two-records", stmt.Encode()), newFuzzSeed("empty", (&Statement{Network: n.g.Network, Worker: w}).Encode())}
	out["FuzzApplyRecord"] = []fuzzSeed{
		newFuzzSeed("contribution", n.rec(b44, n.contribution(worker(2), "440300", 202301, 800000))),
		newFuzzSeed("transfer", n.rec(b44, &TransferApply{Worker: w, Scheme: SchemePension, From: "51", To: "44"})),
		newFuzzSeed("out", n.rec(b44, &TransferOut{Case: proofs[0].Block.Root})),
	}
	m0, m1 := n.ministry[0], n.ministry[1]
	admit := n.proveAll(n.block(m0, n.rec(m0, &GovMember{Member: Member{ID: fixtureSigner(0x57).ID(), Role: RoleMinistry, Name: "Ministry node 4"}}, m0, m1)))
	changed := Statement{Network: n.g.Network, Worker: w, Proofs: proofs, Ministry: admit}
	out["FuzzDecodeStatement"] = append(out["FuzzDecodeStatement"], newFuzzSeed("ministry-change", changed.Encode()))
	alone := proofs[0]
	alone.Ministry = admit
	out["FuzzDecodeRecordProof"] = append(out["FuzzDecodeRecordProof"], newFuzzSeed("ministry-change", alone.Encode()))
	return out
}

func addSeeds(f *testing.F, name string) {
	for _, s := range fuzzSeeds(f)[name] {
		args := make([]any, len(s.args))
		for i, a := range s.args {
			args[i] = a
		}
		f.Add(args...)
	}
}

// corpusFile renders a seed in the `go test fuzz v1` format.
func corpusFile(s fuzzSeed) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range s.args {
		fmt.Fprintf(&b, "[]byte(%q)\n", a)
	}
	return b.Bytes()
}

// TestWriteFuzzSeeds regenerates testdata/fuzz from the fixtures.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("JAMINAN_WRITE_SEEDS") == "" {
		t.Skip("set JAMINAN_WRITE_SEEDS=1 to rewrite testdata/fuzz")
	}
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), corpusFile(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFuzzSeedsCommitted keeps the committed seed corpus in step with the fixtures, so that a
// format change cannot leave the fuzzers starting from stale, invalid inputs.
func TestFuzzSeedsCommitted(t *testing.T) {
	seeds := fuzzSeeds(t)
	targets := make([]string, 0, len(seeds))
	for name := range seeds {
		targets = append(targets, name)
	}
	sort.Strings(targets)
	for _, target := range targets {
		for _, s := range seeds[target] {
			path := filepath.Join("testdata", "fuzz", target, "seed-"+s.name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run JAMINAN_WRITE_SEEDS=1 go test ./ledger -run TestWriteFuzzSeeds)", err)
				continue
			}
			if !bytes.Equal(got, corpusFile(s)) {
				t.Errorf("%s is stale (run JAMINAN_WRITE_SEEDS=1 go test ./ledger -run TestWriteFuzzSeeds)", path)
			}
		}
	}
}

// mustReencode fails the fuzz run if a decoded value does not re-encode to its input.
func mustReencode(t *testing.T, in, out []byte) {
	t.Helper()
	if !bytes.Equal(in, out) {
		t.Fatalf("decoded value re-encodes differently:\n in %x\nout %x", in, out)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	addSeeds(f, "FuzzDecodeRecord")
	f.Fuzz(func(t *testing.T, b []byte) {
		peeked, peekOK := PeekRecordType(b)
		r, body, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if !peekOK || peeked != r.Type {
			t.Fatalf("PeekRecordType %q %v, the record is a %s", peeked, peekOK, r.Type)
		}
		mustReencode(t, b, r.Encode())
		mustReencode(t, r.Body, encode(body))
		if body.RecordType() != r.Type {
			t.Fatalf("body of type %s in a %s record", body.RecordType(), r.Type)
		}
		_ = r.ID()
		_, _ = r.VerifySigs(fixtureNetwork)
	})
}

func FuzzDecodeBlock(f *testing.F) {
	addSeeds(f, "FuzzDecodeBlock")
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := DecodeBlock(b)
		if err != nil {
			return
		}
		mustReencode(t, b, blk.Encode())
		if err := blk.Verify(fixtureNetwork); err != nil {
			return
		}
		for _, r := range blk.Records {
			_, _, _ = DecodeRecord(r)
		}
	})
}

func FuzzDecodeCheckpointBody(f *testing.F) {
	addSeeds(f, "FuzzDecodeCheckpointBody")
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := DecodeCheckpointBody(b, fixtureNetwork)
		if err != nil {
			return
		}
		mustReencode(t, b, cb.Encode())
		if err := cb.Verify(fixtureNetwork); err != nil {
			t.Fatalf("decoded checkpoint fails Verify: %v", err)
		}
		_ = cb.Checkpoint.Hash()
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	addSeeds(f, "FuzzDecodeCertificate")
	_, ministry := fixtureMinistry(3)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCertificate(b)
		if err != nil {
			return
		}
		mustReencode(t, b, c.Encode())
		if err := c.Verify(fixtureNetwork, ministry); err == nil && len(c.Sigs) < Quorum(len(ministry)) {
			t.Fatalf("certificate with %d signatures verified", len(c.Sigs))
		}
	})
}

func FuzzDecodeSnapshotAttestation(f *testing.F) {
	addSeeds(f, "FuzzDecodeSnapshotAttestation")
	_, ministry := fixtureMinistry(3)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeSnapshotAttestation(b)
		if err != nil {
			return
		}
		mustReencode(t, b, a.Encode())
		if err := a.Verify(fixtureNetwork, ministry); err == nil && len(a.Sigs) < Quorum(len(ministry)) {
			t.Fatalf("snapshot attestation with %d signatures verified", len(a.Sigs))
		}
	})
}

func FuzzDecodeVote(f *testing.F) {
	addSeeds(f, "FuzzDecodeVote")
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVote(b)
		if err != nil {
			return
		}
		mustReencode(t, b, encode(v))
		if VerifyVote(fixtureNetwork, v) == nil && VerifyWitness(fixtureNetwork, v) == nil {
			t.Fatal("one signature verified as both a vote and a witness")
		}
	})
}

func FuzzMerkleProof(f *testing.F) {
	addSeeds(f, "FuzzMerkleProof")
	f.Fuzz(func(t *testing.T, b, leaf []byte) {
		var p MerkleProof
		if err := decodeCanonical(b, &p); err != nil {
			return
		}
		mustReencode(t, b, encode(p))
		lh := LeafHash(leaf)
		got, err := p.RootFromProof(lh)
		if len(p.Path) > maxProofPath {
			if err == nil {
				t.Fatalf("path of %d hashes accepted", len(p.Path))
			}
			return
		}
		// The iterative verifier must agree with the recursive definition on every input.
		want, ok := refRootFromPath(p.Index, p.Size, lh, p.Path)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("proof %+v: RootFromProof = %s, %v; reference %s, %v", p, got, err, want, ok)
		}
	})
}

func FuzzDecodeGenesis(f *testing.F) {
	addSeeds(f, "FuzzDecodeGenesis")
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeGenesis(b)
		if err != nil {
			return
		}
		mustReencode(t, b, g.Encode())
		if err := g.Validate(); err != nil {
			t.Fatalf("decoded genesis fails Validate: %v", err)
		}
		_ = g.Hash()
	})
}

func FuzzDecodeRecordProof(f *testing.F) {
	addSeeds(f, "FuzzDecodeRecordProof")
	g := newTnet(f).g
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeRecordProof(b)
		if err != nil {
			return
		}
		mustReencode(t, b, p.Encode())
		_, _, _ = p.Verify(g)
	})
}

func FuzzDecodeStatement(f *testing.F) {
	addSeeds(f, "FuzzDecodeStatement")
	g := newTnet(f).g
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStatement(b)
		if err != nil {
			return
		}
		mustReencode(t, b, s.Encode())
		_, _ = s.Verify(g)
	})
}

// FuzzApplyRecord puts arbitrary bytes in a validly signed block and applies it: the machine
// must never panic or fail, only reject, and a rejected record must write nothing but its receipt.
func FuzzApplyRecord(f *testing.F) {
	addSeeds(f, "FuzzApplyRecord")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 || len(raw) > MaxRecordSize {
			return
		}
		n := newTnet(t)
		n.submit(n.bureau["44"], n.rec(n.bureau["44"], n.contribution(worker(1), "440300", 202301, 800000)))
		res := n.apply(n.block(n.bureau["44"], raw))
		if len(res.Receipts) != 1 {
			t.Fatalf("%d receipts", len(res.Receipts))
		}
		if res.Receipts[0].Code != CodeOK {
			for _, w := range res.Writes {
				if w.Key[0] != pfxRecord && w.Key[0] != pfxTip && !bytes.Equal(w.Key, keyMeta) {
					t.Fatalf("rejected record (%s) wrote %q", res.Receipts[0].Code, w.Key[:1])
				}
			}
		}
	})
}
