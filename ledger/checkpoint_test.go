package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func fixtureBlockHashes(n int) []Hash {
	hs := make([]Hash, n)
	for i := range hs {
		hs[i] = fixtureHash(fmt.Sprintf("block %d", i))
	}
	return hs
}

func TestCheckpointBuildVerify(t *testing.T) {
	genesis := fixtureGenesis().Hash()
	blocks := fixtureBlockHashes(5)
	cb := NewCheckpoint(fixtureNetwork, 1, genesis, 1735689600200, blocks)
	if err := cb.Verify(fixtureNetwork); err != nil {
		t.Fatal(err)
	}
	c := cb.Checkpoint
	if c.Seq != 1 || c.Prev != genesis || c.Count != 5 || c.Root != BlocksRoot(blocks) {
		t.Fatalf("checkpoint %+v", c)
	}
	blocks[0] = Hash{}
	if cb.Blocks[0] == blocks[0] {
		t.Fatal("NewCheckpoint kept the caller's slice")
	}
	if c.Hash() != taggedHash(tagCheckpoint, c.Encode()) {
		t.Fatal("checkpoint hash is not the tagged hash of the header")
	}

	enc := cb.Encode()
	got, err := DecodeCheckpointBody(enc, fixtureNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, cb) || !bytes.Equal(got.Encode(), enc) {
		t.Fatal("checkpoint does not round-trip")
	}

	next := NewCheckpoint(fixtureNetwork, 2, c.Hash(), c.Time, nil)
	if err := next.Verify(fixtureNetwork); err != nil {
		t.Fatalf("empty checkpoint: %v", err)
	}
	if _, err := DecodeCheckpointBody(next.Encode(), fixtureNetwork); err != nil {
		t.Fatalf("empty checkpoint: %v", err)
	}
}

func TestCheckpointVerifyRejects(t *testing.T) {
	base := NewCheckpoint(fixtureNetwork, 3, fixtureHash("prev"), 1, fixtureBlockHashes(4))
	cases := map[string]func(*CheckpointBody){
		"duplicate block": func(b *CheckpointBody) {
			b.Blocks[3] = b.Blocks[1]
			b.Checkpoint.Root = MerkleRoot(b.Blocks)
		},
		"duplicate adjacent block": func(b *CheckpointBody) {
			b.Blocks = append(b.Blocks, b.Blocks[3])
			b.Checkpoint.Count, b.Checkpoint.Root = 5, MerkleRoot(b.Blocks)
		},
		"network":          func(b *CheckpointBody) { b.Checkpoint.Network = "jaminan-other" },
		"seq 0":            func(b *CheckpointBody) { b.Checkpoint.Seq = 0 },
		"count":            func(b *CheckpointBody) { b.Checkpoint.Count++ },
		"block missing":    func(b *CheckpointBody) { b.Blocks = b.Blocks[:3] },
		"root":             func(b *CheckpointBody) { b.Checkpoint.Root[31] ^= 1 },
		"blocks reordered": func(b *CheckpointBody) { b.Blocks[0], b.Blocks[1] = b.Blocks[1], b.Blocks[0] },
		"block altered":    func(b *CheckpointBody) { b.Blocks[2][0] ^= 1 },
		"too many blocks": func(b *CheckpointBody) {
			b.Blocks = make([]Hash, MaxCheckpointSize+1)
			for i := range b.Blocks {
				binary.BigEndian.PutUint64(b.Blocks[i][:], uint64(i))
			}
			b.Checkpoint.Count, b.Checkpoint.Root = uint32(len(b.Blocks)), MerkleRoot(b.Blocks)
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			b := base
			b.Blocks = slices.Clone(base.Blocks)
			edit(&b)
			if err := b.Verify(fixtureNetwork); !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("Verify = %v, want ErrCheckpoint", err)
			}
			if _, err := DecodeCheckpointBody(b.Encode(), fixtureNetwork); !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("DecodeCheckpointBody = %v, want ErrCheckpoint", err)
			}
		})
	}
	if _, err := DecodeCheckpointBody(make([]byte, 64+MaxCheckpointSize*40+1), fixtureNetwork); !errors.Is(err, ErrEncoding) {
		t.Fatalf("oversized: %v", err)
	}
}

func TestVoteSignVerify(t *testing.T) {
	s := fixtureSigner(3)
	cp, root := fixtureHash("checkpoint"), fixtureHash("state")
	v := SignVote(s, fixtureNetwork, 7, cp, root)
	if err := VerifyVote(fixtureNetwork, &v); err != nil {
		t.Fatal(err)
	}
	// The vote covers tag || 0 || network || 0 || seq (8 bytes, big-endian) || checkpoint || root.
	msg := slices.Concat([]byte("jaminan/v1/final\x00"+fixtureNetwork+"\x00"), []byte{0, 0, 0, 0, 0, 0, 0, 7}, cp[:], root[:])
	if !ed25519.Verify(mustKeyIDPublicKey(t, s.ID()), msg, v.Sig.Sig) {
		t.Fatal("vote signature does not cover the documented message")
	}

	enc := encode(v)
	got, err := DecodeVote(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, v) || !bytes.Equal(encode(got), enc) {
		t.Fatal("vote does not round-trip")
	}
	if _, err := DecodeVote(make([]byte, 513)); !errors.Is(err, ErrEncoding) {
		t.Fatalf("oversized vote: %v", err)
	}

	for name, edit := range map[string]func(*Vote){
		"seq":        func(v *Vote) { v.Seq++ },
		"checkpoint": func(v *Vote) { v.Checkpoint[0] ^= 1 },
		"state root": func(v *Vote) { v.StateRoot[0] ^= 1 },
		"signer":     func(v *Vote) { v.Sig.Signer = fixtureSigner(4).ID() },
		"signature":  func(v *Vote) { v.Sig.Sig = slices.Clone(v.Sig.Sig); v.Sig.Sig[63] ^= 1 },
	} {
		x := v
		edit(&x)
		if err := VerifyVote(fixtureNetwork, &x); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
	if err := VerifyVote("jaminan-other", &v); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong network: %v", err)
	}
}

// A witness cosignature and a finality vote have the same shape but different signing domains,
// so neither can be passed off as the other.
func TestWitnessVoteSeparation(t *testing.T) {
	s := fixtureSigner(3)
	cp, root := fixtureHash("checkpoint"), fixtureHash("state")
	w := SignWitness(s, fixtureNetwork, 7, cp, root)
	v := SignVote(s, fixtureNetwork, 7, cp, root)
	if err := VerifyWitness(fixtureNetwork, &w); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(w.Sig.Sig, v.Sig.Sig) {
		t.Fatal("witness and vote signatures are equal")
	}
	if err := VerifyVote(fixtureNetwork, &w); !errors.Is(err, ErrSignature) {
		t.Fatalf("witness verified as a vote: %v", err)
	}
	if err := VerifyWitness(fixtureNetwork, &v); !errors.Is(err, ErrSignature) {
		t.Fatalf("vote verified as a witness: %v", err)
	}
	_, ministry := fixtureMinistry(1)
	cert := Certify(7, cp, root, []Vote{w})
	if err := cert.Verify(fixtureNetwork, ministry); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("certificate of witness signatures: %v", err)
	}
}

func TestCertificateVerify(t *testing.T) {
	cp, root := fixtureHash("checkpoint"), fixtureHash("state")
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			signers, ministry := fixtureMinistry(n)
			votes := make([]Vote, n)
			for i, s := range signers {
				votes[i] = SignVote(s, fixtureNetwork, 9, cp, root)
			}
			q := Quorum(n)
			if q != n/2+1 {
				t.Fatalf("quorum of %d is %d", n, q)
			}
			for k := 0; k <= n; k++ {
				// Any k of the n, taken from the end so that Certify has to sort.
				subset := slices.Clone(votes[n-k:])
				slices.Reverse(subset)
				c := Certify(9, cp, root, subset)
				if len(c.Sigs) != k || !sigsSorted(c.Sigs) {
					t.Fatalf("Certify kept %d signatures (sorted %v), want %d", len(c.Sigs), sigsSorted(c.Sigs), k)
				}
				err := c.Verify(fixtureNetwork, ministry)
				if k >= q && err != nil {
					t.Fatalf("%d of %d: %v", k, n, err)
				}
				if k < q && !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("%d of %d (too few): %v", k, n, err)
				}
				if got, derr := DecodeCertificate(c.Encode()); derr != nil || !bytes.Equal(got.Encode(), c.Encode()) {
					t.Fatalf("certificate does not round-trip: %v", derr)
				}
			}

			full := Certify(9, cp, root, votes)
			cases := map[string]func(*Certificate, *[]KeyID){
				"altered state root": func(c *Certificate, _ *[]KeyID) { c.StateRoot[0] ^= 1 },
				"altered checkpoint": func(c *Certificate, _ *[]KeyID) { c.Checkpoint[0] ^= 1 },
				"altered seq":        func(c *Certificate, _ *[]KeyID) { c.Seq++ },
				"signer outside the ministry set": func(c *Certificate, m *[]KeyID) {
					*m = slices.Clone((*m)[1:])
					*m = append(*m, fixtureSigner(99).ID())
				},
				"duplicated signer": func(c *Certificate, _ *[]KeyID) {
					// Replace the first signature by a repeat of the second (or, with one
					// member, add a repeat), keeping the list in non-decreasing order.
					if len(c.Sigs) > 1 {
						c.Sigs[0] = c.Sigs[1]
					} else {
						c.Sigs = append(c.Sigs, c.Sigs[0])
					}
				},
				"unsorted signatures": func(c *Certificate, _ *[]KeyID) {
					if len(c.Sigs) < 2 {
						c.Sigs = append(c.Sigs, c.Sigs[0])
					}
					c.Sigs[0], c.Sigs[1] = c.Sigs[1], c.Sigs[0]
				},
				"more signatures than members": func(c *Certificate, _ *[]KeyID) {
					c.Sigs = append(c.Sigs, Sig{Signer: fixtureSigner(99).ID(), Sig: make([]byte, 64)})
					sortSigs(c.Sigs)
				},
				"one bad signature": func(c *Certificate, _ *[]KeyID) {
					c.Sigs[len(c.Sigs)-1].Sig = slices.Clone(c.Sigs[len(c.Sigs)-1].Sig)
					c.Sigs[len(c.Sigs)-1].Sig[0] ^= 1
				},
				"wrong network": func(c *Certificate, _ *[]KeyID) {},
				"empty ministry set": func(c *Certificate, m *[]KeyID) {
					*m = nil
				},
				"no signatures": func(c *Certificate, m *[]KeyID) { c.Sigs = nil },
			}
			for name, edit := range cases {
				c := full
				c.Sigs = slices.Clone(full.Sigs)
				m := slices.Clone(ministry)
				edit(&c, &m)
				network := fixtureNetwork
				if name == "wrong network" {
					network = "jaminan-other"
				}
				if err := c.Verify(network, m); !errors.Is(err, ErrCheckpoint) {
					t.Errorf("%s: %v, want ErrCheckpoint", name, err)
				}
			}
		})
	}
}

// A duplicated signer must not count twice: with 5 members, two distinct signatures plus a
// repeat of one are not a majority.
func TestCertificateDuplicateDoesNotCount(t *testing.T) {
	signers, ministry := fixtureMinistry(5)
	cp, root := fixtureHash("checkpoint"), fixtureHash("state")
	a := SignVote(signers[0], fixtureNetwork, 1, cp, root).Sig
	b := SignVote(signers[1], fixtureNetwork, 1, cp, root).Sig
	sigs := []Sig{a, b, a}
	sortSigs(sigs)
	c := Certificate{Seq: 1, Checkpoint: cp, StateRoot: root, Sigs: sigs}
	if err := c.Verify(fixtureNetwork, ministry); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("2 signers plus a duplicate: %v", err)
	}
	// Certify drops the repeat and disagreeing votes.
	votes := []Vote{
		SignVote(signers[0], fixtureNetwork, 1, cp, root),
		SignVote(signers[0], fixtureNetwork, 1, cp, root),
		SignVote(signers[1], fixtureNetwork, 1, cp, fixtureHash("other root")),
		SignVote(signers[2], fixtureNetwork, 2, cp, root),
	}
	if got := Certify(1, cp, root, votes); len(got.Sigs) != 1 {
		t.Fatalf("Certify kept %d signatures", len(got.Sigs))
	}
}
