package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Golden vectors for independent implementations (docs/wire.md): every byte below is derived from
// fixed ed25519 seeds, and ed25519 signatures are deterministic, so the file is stable. Rewrite it
// with `go test ./ledger -run Golden -update` after an intended format change, and say so in the
// change: every other implementation breaks with it.

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden.json")

const goldenPath = "testdata/golden.json"

type goldenKey struct {
	Role      string `json:"role"`
	Seed      string `json:"seed"`
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id"`      // raw 38 bytes, hex
	KeyIDText string `json:"key_id_text"` // libp2p text form
}

type goldenGenesis struct {
	Encoded string `json:"encoded"`
	Hash    string `json:"hash"`
}

type goldenSig struct {
	Signer    string `json:"signer"` // key_id_text of the signer
	Message   string `json:"message"`
	Signature string `json:"signature"`
}

type goldenRecord struct {
	Type     string      `json:"type"`
	Body     string      `json:"body"`     // canonical body, the value of envelope key 4
	Unsigned string      `json:"unsigned"` // envelope without key 5: the bytes the ID covers
	ID       string      `json:"id"`
	Sigs     []goldenSig `json:"sigs,omitempty"`
	Encoded  string      `json:"encoded"` // the whole record as carried in a block
}

type goldenBlock struct {
	Records    []string  `json:"records"`     // hex of each record's encoded bytes, in block order
	LeafHashes []string  `json:"leaf_hashes"` // SHA-256(0x00 || record)
	Root       string    `json:"root"`
	Header     string    `json:"header"`
	Hash       string    `json:"hash"`
	Sig        goldenSig `json:"sig"`
	Encoded    string    `json:"encoded"`
}

type goldenProof struct {
	Index    uint64   `json:"index"` // zero-based position of the record in the block
	Size     uint64   `json:"size"`
	Leaf     string   `json:"leaf"`
	Path     []string `json:"path"` // leaf to root
	Encoded  string   `json:"encoded"`
	Verifies string   `json:"root"` // the block header's root, which the proof leads to
}

type goldenCheckpoint struct {
	Header string   `json:"header"`
	Hash   string   `json:"hash"`
	Blocks []string `json:"blocks"`
	Body   string   `json:"body"`
}

type goldenVote struct {
	Seq        uint64    `json:"seq"`
	Checkpoint string    `json:"checkpoint"`
	StateRoot  string    `json:"state_root"`
	Final      goldenSig `json:"final"`
	Encoded    string    `json:"encoded"`
	Witness    goldenSig `json:"witness"`
}

type goldenVectors struct {
	Comment      string           `json:"comment"`
	Network      string           `json:"network"`
	Keys         []goldenKey      `json:"keys"`
	Genesis      goldenGenesis    `json:"genesis"`
	Contribution goldenRecord     `json:"contribution"`
	Employment   goldenRecord     `json:"employment"`
	Apply        goldenRecord     `json:"transfer_apply"`
	Block        goldenBlock      `json:"block"`
	Proof        goldenProof      `json:"proof"`
	OtherProofs  []goldenProof    `json:"other_proofs"`
	Checkpoint   goldenCheckpoint `json:"checkpoint"`
	Vote         goldenVote       `json:"vote"`
	Certificate  string           `json:"certificate"`
}

const goldenNetwork = "jaminan-golden"

func goldenHex(b []byte) string { return hex.EncodeToString(b) }

// goldenStateRoot is an arbitrary state root (bytes 0x00…0x1f): the vectors cover signatures and
// encodings, not the state machine.
func goldenStateRoot() Hash {
	var h Hash
	for i := range h {
		h[i] = byte(i)
	}
	return h
}

func buildGolden(t *testing.T) goldenVectors {
	t.Helper()
	seed := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	producer, employer := SignerFromSeed(seed(1)), SignerFromSeed(seed(2))
	ministry := []*Signer{SignerFromSeed(seed(3)), SignerFromSeed(seed(4)), SignerFromSeed(seed(5))}
	v := goldenVectors{
		Comment: "Test vectors of docs/wire.md. All bytes are hex. Keys derive from the 32-byte seeds " +
			"(RFC 8032); signatures are ed25519 over the message bytes shown. Regenerate with " +
			"`go test ./ledger -run Golden -update`.",
		Network: goldenNetwork,
	}
	for _, k := range []struct {
		role string
		b    byte
	}{{"producer (bureau)", 1}, {"employer", 2}, {"ministry 1", 3}, {"ministry 2", 4}, {"ministry 3", 5}} {
		s := SignerFromSeed(seed(k.b))
		pub := s.PrivateKey().Public().(ed25519.PublicKey)
		v.Keys = append(v.Keys, goldenKey{Role: k.role, Seed: goldenHex(seed(k.b)), PublicKey: goldenHex(pub), KeyID: goldenHex([]byte(s.ID())), KeyIDText: s.ID().String()})
	}

	g := &Genesis{
		Network: goldenNetwork,
		Time:    1735660800000, // 2025-01-01T00:00:00+08:00
		Members: []Member{
			{ID: producer.ID(), Role: RoleBureau, Region: "110105", Name: "Beijing Chaoyang social insurance bureau"},
			{ID: employer.ID(), Role: RoleEmployer, Region: "110105", Name: "Example employer"},
		},
		Params:    []Param{{Name: ParamPensionEmployee, Effective: 19980101, Value: 800}},
		UTCOffset: 8 * 3600,
	}
	for i, m := range ministry {
		g.Members = append(g.Members, Member{ID: m.ID(), Role: RoleMinistry, Name: "ministry node " + string(rune('1'+i))})
	}
	g.Normalise()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	v.Genesis = goldenGenesis{Encoded: goldenHex(g.Encode()), Hash: g.Hash().String()}

	worker := Pseudonym([]byte("golden pepper"), "11010519491231002X")
	record := func(author KeyID, at uint64, body Body, signers ...*Signer) (Record, goldenRecord) {
		r := NewRecord(author, at, body)
		gr := goldenRecord{Type: string(r.Type), Body: goldenHex(r.Body), Unsigned: goldenHex(encode(unsignedRecord{r.Type, r.Author, r.At, r.Body})), ID: r.ID().String()}
		for _, s := range signers {
			r.Sign(goldenNetwork, s)
		}
		for _, s := range r.Sigs {
			gr.Sigs = append(gr.Sigs, goldenSig{Signer: s.Signer.String(), Message: goldenHex(recordSigMessage(goldenNetwork, r.ID())), Signature: goldenHex(s.Sig)})
		}
		gr.Encoded = goldenHex(r.Encode())
		return r, gr
	}
	contribution, gc := record(producer.ID(), 1735689600000, &Contribution{
		Worker: worker, Hukou: "11", Birth: 19491231, Sex: SexFemale, Employer: "91110000600037341L",
		Region: "110105", Period: 202501, Scheme: SchemePension, Wage: 1200000, Base: 1000000,
		EmployeeAmount: 80000, EmployerAmount: 160000,
	}, producer)
	employment, ge := record(employer.ID(), 1735689600001, &Employment{
		Worker: worker, Employer: "91110000600037341L", Region: "110105", Start: 20250101,
	}, employer)
	apply, ga := record(producer.ID(), 1735689600002, &TransferApply{Worker: worker, Scheme: SchemePension, From: "44", To: "11"})
	v.Contribution, v.Employment, v.Apply = gc, ge, ga

	records := [][]byte{contribution.Encode(), employment.Encode(), apply.Encode()}
	blk, err := BuildBlock(producer, goldenNetwork, nil, 1735689600100, records)
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([]Hash, len(records))
	for i, r := range records {
		leaves[i] = LeafHash(r)
		v.Block.Records = append(v.Block.Records, goldenHex(r))
		v.Block.LeafHashes = append(v.Block.LeafHashes, leaves[i].String())
	}
	v.Block.Root = blk.Header.Root.String()
	v.Block.Header = goldenHex(encode(&blk.Header))
	v.Block.Hash = blk.Hash().String()
	v.Block.Sig = goldenSig{Signer: producer.ID().String(), Message: goldenHex(blockSigMessage(blk.Hash())), Signature: goldenHex(blk.Sig)}
	v.Block.Encoded = goldenHex(blk.Encode())

	proof := func(i int) goldenProof {
		p, err := BuildMerkleProof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		gp := goldenProof{Index: p.Index, Size: p.Size, Leaf: leaves[i].String(), Encoded: goldenHex(encode(p)), Verifies: blk.Header.Root.String()}
		for _, h := range p.Path {
			gp.Path = append(gp.Path, h.String())
		}
		return gp
	}
	v.Proof = proof(2)
	v.OtherProofs = []goldenProof{proof(0), proof(1)}

	cb := NewCheckpoint(goldenNetwork, 1, g.Hash(), 1735689600200, []Hash{blk.Hash()})
	v.Checkpoint = goldenCheckpoint{Header: goldenHex(cb.Checkpoint.Encode()), Hash: cb.Checkpoint.Hash().String(), Blocks: []string{blk.Hash().String()}, Body: goldenHex(cb.Encode())}

	cp, root := cb.Checkpoint.Hash(), goldenStateRoot()
	vote := SignVote(ministry[0], goldenNetwork, 1, cp, root)
	witness := SignWitness(producer, goldenNetwork, 1, cp, root)
	v.Vote = goldenVote{
		Seq: 1, Checkpoint: cp.String(), StateRoot: root.String(),
		Final:   goldenSig{Signer: ministry[0].ID().String(), Message: goldenHex(voteMessage(tagFinal, goldenNetwork, 1, cp, root)), Signature: goldenHex(vote.Sig.Sig)},
		Encoded: goldenHex(encode(vote)),
		Witness: goldenSig{Signer: producer.ID().String(), Message: goldenHex(voteMessage(tagWitness, goldenNetwork, 1, cp, root)), Signature: goldenHex(witness.Sig.Sig)},
	}
	cert := Certify(1, cp, root, []Vote{vote, SignVote(ministry[1], goldenNetwork, 1, cp, root)})
	if err := cert.Verify(goldenNetwork, []KeyID{ministry[0].ID(), ministry[1].ID(), ministry[2].ID()}); err != nil {
		t.Fatal(err)
	}
	v.Certificate = goldenHex(cert.Encode())
	return v
}

func TestGolden(t *testing.T) {
	want, err := json.MarshalIndent(buildGolden(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./ledger -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s line %d differs from what the code produces:\n file: %s\n code: %s\n"+
					"The wire format changed. If that is intended, run go test ./ledger -run Golden -update.", goldenPath, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s has %d lines, the code produces %d", goldenPath, len(gl), len(wl))
	}
}

// TestGoldenIndependently checks the committed vectors the way another implementation would:
// with SHA-256, ed25519 and the byte layouts of docs/wire.md, not with this package's encoder.
func TestGoldenIndependently(t *testing.T) {
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var v goldenVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		t.Helper()
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tagged := func(tag string, parts ...[]byte) string {
		h := sha256.Sum256(slices.Concat(append([][]byte{[]byte(tag), {0}}, parts...)...))
		return goldenHex(h[:])
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range v.Keys {
		pub := ed25519.NewKeyFromSeed(unhex(k.Seed)).Public().(ed25519.PublicKey)
		if goldenHex(pub) != k.PublicKey {
			t.Fatalf("%s: public key", k.Role)
		}
		if want := slices.Concat([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, pub); goldenHex(want) != k.KeyID {
			t.Fatalf("%s: key id", k.Role)
		}
		keys[k.KeyIDText] = pub
	}
	checkSig := func(what string, s goldenSig, wantMsg []byte) {
		t.Helper()
		if goldenHex(wantMsg) != s.Message {
			t.Fatalf("%s: message %s, want %x", what, s.Message, wantMsg)
		}
		pub, ok := keys[s.Signer]
		if !ok || !ed25519.Verify(pub, unhex(s.Message), unhex(s.Signature)) {
			t.Fatalf("%s: signature does not verify", what)
		}
	}
	net := []byte(v.Network)

	if tagged("jaminan/v1/genesis", unhex(v.Genesis.Encoded)) != v.Genesis.Hash {
		t.Fatal("genesis hash")
	}
	for _, r := range []goldenRecord{v.Contribution, v.Employment, v.Apply} {
		if tagged("jaminan/v1/record", unhex(r.Unsigned)) != r.ID {
			t.Fatalf("%s: record id", r.Type)
		}
		// The unsigned envelope is the encoded record minus key 5: same pairs, count one less.
		enc, uns := unhex(r.Encoded), unhex(r.Unsigned)
		if len(r.Sigs) > 0 {
			if enc[0] != uns[0]+1 || !bytes.Equal(enc[1:len(uns)], uns[1:]) || enc[len(uns)] != 0x05 {
				t.Fatalf("%s: signed envelope does not extend the unsigned one", r.Type)
			}
		} else if !bytes.Equal(enc, uns) {
			t.Fatalf("%s: unsigned record differs", r.Type)
		}
		if !bytes.HasSuffix(uns, unhex(r.Body)) {
			t.Fatalf("%s: body is not the last value of the envelope", r.Type)
		}
		for _, s := range r.Sigs {
			checkSig(r.Type, s, slices.Concat([]byte("jaminan/v1/record-sig\x00"), net, []byte{0}, unhex(r.ID)))
		}
	}
	if v.Block.Records[0] != v.Contribution.Encoded || v.Block.Records[1] != v.Employment.Encoded || v.Block.Records[2] != v.Apply.Encoded {
		t.Fatal("block records are not the three records")
	}
	node := func(l, r []byte) []byte { h := sha256.Sum256(slices.Concat([]byte{1}, l, r)); return h[:] }
	var leaves [][]byte
	for i, r := range v.Block.Records {
		h := sha256.Sum256(append([]byte{0}, unhex(r)...))
		if goldenHex(h[:]) != v.Block.LeafHashes[i] {
			t.Fatalf("leaf %d", i)
		}
		leaves = append(leaves, h[:])
	}
	// Three leaves: the odd third is promoted, so root = node(node(l0, l1), l2).
	if goldenHex(node(node(leaves[0], leaves[1]), leaves[2])) != v.Block.Root {
		t.Fatal("records root")
	}
	header := unhex(v.Block.Header)
	if !bytes.Contains(unhex(v.Block.Encoded), header) || !bytes.Contains(header, unhex(v.Block.Root)) {
		t.Fatal("block layout")
	}
	if tagged("jaminan/v1/block", header) != v.Block.Hash {
		t.Fatal("block hash")
	}
	checkSig("block", v.Block.Sig, slices.Concat([]byte("jaminan/v1/block-sig\x00"), unhex(v.Block.Hash)))

	for _, p := range append([]goldenProof{v.Proof}, v.OtherProofs...) {
		var path []Hash
		for _, h := range p.Path {
			var x Hash
			copy(x[:], unhex(h))
			path = append(path, x)
		}
		var leaf Hash
		copy(leaf[:], unhex(p.Leaf))
		root, ok := refRootFromPath(p.Index, p.Size, leaf, path)
		if !ok || root.String() != v.Block.Root || p.Leaf != v.Block.LeafHashes[p.Index] {
			t.Fatalf("proof of %d does not lead to the root", p.Index)
		}
	}

	if tagged("jaminan/v1/checkpoint", unhex(v.Checkpoint.Header)) != v.Checkpoint.Hash || v.Checkpoint.Hash != v.Vote.Checkpoint {
		t.Fatal("checkpoint hash")
	}
	if !bytes.Contains(unhex(v.Checkpoint.Header), unhex(v.Genesis.Hash)) {
		t.Fatal("checkpoint 1 does not chain from the genesis hash")
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], v.Vote.Seq)
	voteTail := slices.Concat(net, []byte{0}, seq[:], unhex(v.Vote.Checkpoint), unhex(v.Vote.StateRoot))
	checkSig("vote", v.Vote.Final, slices.Concat([]byte("jaminan/v1/final\x00"), voteTail))
	checkSig("witness", v.Vote.Witness, slices.Concat([]byte("jaminan/v1/witness\x00"), voteTail))
	if !bytes.Contains(unhex(v.Certificate), unhex(v.Vote.Final.Signature)) {
		t.Fatal("certificate does not carry the vote")
	}

	// And this package decodes and verifies what the file holds.
	blk, err := DecodeBlock(unhex(v.Block.Encoded))
	if err != nil {
		t.Fatal(err)
	}
	if err := blk.Verify(v.Network); err != nil {
		t.Fatal(err)
	}
	for _, r := range blk.Records {
		rec, _, err := DecodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.VerifySigs(v.Network); err != nil {
			t.Fatal(err)
		}
	}
	var p MerkleProof
	if err := decodeCanonical(unhex(v.Proof.Encoded), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(LeafHash(blk.Records[p.Index]), blk.Header.Root); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCheckpointBody(unhex(v.Checkpoint.Body), v.Network); err != nil {
		t.Fatal(err)
	}
	cert, err := DecodeCertificate(unhex(v.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	var ministry []KeyID
	for _, k := range v.Keys[2:] {
		id, err := ParseKeyID(k.KeyIDText)
		if err != nil {
			t.Fatal(err)
		}
		ministry = append(ministry, id)
	}
	if err := cert.Verify(v.Network, ministry); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeGenesis(unhex(v.Genesis.Encoded)); err != nil {
		t.Fatal(err)
	}
}
