package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestBlockBuildVerify(t *testing.T) {
	producer := fixtureSigner(1)
	records := fixtureRecords(t)
	b := fixtureBlock(t)
	if err := b.Verify(fixtureNetwork); err != nil {
		t.Fatal(err)
	}
	h := b.Header
	if h.Network != fixtureNetwork || h.Producer != producer.ID() || h.Height != 1 || !h.Prev.IsZero() ||
		h.Count != 3 || h.Root != RecordsRoot(records) {
		t.Fatalf("header %+v", h)
	}
	// The signature covers tag || 0 || block hash, and the hash is the tagged hash of the header.
	if b.Hash() != taggedHash(tagBlock, encode(&h)) {
		t.Fatal("block hash is not the tagged hash of the header")
	}
	hash := b.Hash()
	msg := slices.Concat([]byte("jaminan/v1/block-sig\x00"), hash[:])
	if !ed25519.Verify(mustKeyIDPublicKey(t, producer.ID()), msg, b.Sig) {
		t.Fatal("block signature does not cover the documented message")
	}

	enc := b.Encode()
	got, err := DecodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Header, b.Header) || !reflect.DeepEqual(got.Records, b.Records) || !bytes.Equal(got.Sig, b.Sig) || !bytes.Equal(got.Encode(), enc) {
		t.Fatal("block does not round-trip")
	}
	if err := got.Verify(fixtureNetwork); err != nil {
		t.Fatal(err)
	}

	next, err := BuildBlock(producer, fixtureNetwork, &b.Header, h.Time+1, records[:1])
	if err != nil {
		t.Fatal(err)
	}
	if next.Header.Height != 2 || next.Header.Prev != b.Hash() {
		t.Fatalf("next header %+v", next.Header)
	}
	if err := next.Verify(fixtureNetwork); err != nil {
		t.Fatal(err)
	}
	// Every record is provable against the header.
	leaves := make([]Hash, len(records))
	for i, r := range records {
		leaves[i] = LeafHash(r)
	}
	for i := range records {
		p, err := BuildMerkleProof(leaves, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(LeafHash(records[i]), h.Root); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildBlockLimits(t *testing.T) {
	s := fixtureSigner(1)
	if _, err := BuildBlock(s, fixtureNetwork, nil, 1, nil); err == nil {
		t.Fatal("empty block built")
	}
	if _, err := BuildBlock(s, fixtureNetwork, nil, 1, make([][]byte, MaxBlockRecords+1)); err == nil {
		t.Fatal("oversized block built")
	}
	big := make([][]byte, 300)
	for i := range big {
		big[i] = make([]byte, MaxRecordSize)
	}
	if _, err := BuildBlock(s, fixtureNetwork, nil, 1, big); err == nil {
		t.Fatal("block over MaxBlockSize built")
	}
	if _, err := DecodeBlock(make([]byte, MaxBlockSize+1)); !errors.Is(err, ErrEncoding) {
		t.Fatalf("decode oversized: %v", err)
	}
}

// resignBlock re-signs a tampered header with the producer's key, so that a test sees the rule it
// means to test rather than the signature check.
func resignBlock(b *Block, s *Signer) {
	hash := b.Header.Hash()
	b.Sig = s.sign(blockSigMessage(hash))
}

func TestBlockVerifyRejectsTampering(t *testing.T) {
	producer, other := fixtureSigner(1), fixtureSigner(2)
	base := fixtureBlock(t)
	clone := func() *Block {
		b := &Block{Header: base.Header, Records: slices.Clone(base.Records), Sig: slices.Clone(base.Sig)}
		for i := range b.Records {
			b.Records[i] = slices.Clone(b.Records[i])
		}
		return b
	}
	cases := []struct {
		name   string
		edit   func(*Block)
		resign bool // the tamper is re-signed by the producer: a block rule, not the signature, must catch it
	}{
		{"network", func(b *Block) { b.Header.Network = "jaminan-other" }, false},
		{"network re-signed", func(b *Block) { b.Header.Network = "jaminan-other" }, true},
		{"producer", func(b *Block) { b.Header.Producer = other.ID() }, false},
		{"producer not a key", func(b *Block) { b.Header.Producer = "bogus" }, false},
		{"height", func(b *Block) { b.Header.Height = 2 }, false},
		{"height 0 re-signed", func(b *Block) { b.Header.Height = 0 }, true},
		{"height 1 with prev re-signed", func(b *Block) { b.Header.Prev = fixtureHash("prev") }, true},
		{"height 2 without prev re-signed", func(b *Block) { b.Header.Height = 2 }, true},
		{"prev", func(b *Block) { b.Header.Height, b.Header.Prev = 2, fixtureHash("prev") }, false},
		{"time", func(b *Block) { b.Header.Time++ }, false},
		{"root", func(b *Block) { b.Header.Root[0] ^= 1 }, false},
		{"root re-signed", func(b *Block) { b.Header.Root[0] ^= 1 }, true},
		{"count +1", func(b *Block) { b.Header.Count++ }, false},
		{"count -1 re-signed", func(b *Block) { b.Header.Count-- }, true},
		{"count +1 re-signed", func(b *Block) { b.Header.Count++ }, true},
		{"count 0 re-signed", func(b *Block) { b.Header.Count = 0 }, true},
		{"record byte flipped", func(b *Block) { b.Records[1][10] ^= 1 }, false},
		{"record byte flipped re-signed", func(b *Block) { b.Records[1][10] ^= 1 }, true},
		{"record truncated", func(b *Block) { b.Records[2] = b.Records[2][:len(b.Records[2])-1] }, false},
		{"record appended", func(b *Block) { b.Records = append(b.Records, b.Records[0]) }, false},
		{"record appended and counted", func(b *Block) { b.Records = append(b.Records, b.Records[0]); b.Header.Count++ }, true},
		{"record removed", func(b *Block) { b.Records = b.Records[:2] }, false},
		{"records swapped", func(b *Block) { b.Records[0], b.Records[1] = b.Records[1], b.Records[0] }, false},
		{"no records re-signed", func(b *Block) { b.Records, b.Header.Count = nil, 0; b.Header.Root = RecordsRoot(nil) }, true},
		{"empty record re-signed", func(b *Block) { b.Records[1] = nil; b.Header.Root = RecordsRoot(b.Records) }, true},
		{"oversized record re-signed", func(b *Block) {
			b.Records[1] = make([]byte, MaxRecordSize+1)
			b.Header.Root = RecordsRoot(b.Records)
		}, true},
		{"signature byte flipped", func(b *Block) { b.Sig[0] ^= 1 }, false},
		{"signature truncated", func(b *Block) { b.Sig = b.Sig[:63] }, false},
		{"signature extended", func(b *Block) { b.Sig = append(b.Sig, 0) }, false},
		{"signature missing", func(b *Block) { b.Sig = nil }, false},
		{"signed by another key", func(b *Block) { resignBlock(b, other) }, false},
		{"signed over the header bytes, untagged", func(b *Block) { b.Sig = producer.sign(encode(&b.Header)) }, false},
		{"signed in the record domain", func(b *Block) { h := b.Hash(); b.Sig = producer.sign(taggedMessage(tagRecordSig, h[:])) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := clone()
			tc.edit(b)
			if tc.resign {
				resignBlock(b, producer)
			}
			err := b.Verify(fixtureNetwork)
			if !errors.Is(err, ErrBlock) {
				t.Fatalf("Verify = %v, want ErrBlock", err)
			}
			// A tampered block that still encodes canonically decodes, and still fails.
			if d, derr := DecodeBlock(b.Encode()); derr == nil {
				if err := d.Verify(fixtureNetwork); !errors.Is(err, ErrBlock) {
					t.Fatalf("decoded: Verify = %v, want ErrBlock", err)
				}
			}
		})
	}
	if err := base.Verify(fixtureNetwork); err != nil {
		t.Fatalf("clone shared memory with the fixture: %v", err)
	}
}

// TestBlockHeaderEncodingMatchesReflection: the hand encoder of block headers gives the
// reflection encoder's bytes, so block hashes are unchanged.
func TestBlockHeaderEncodingMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 5000 {
		h := BlockHeader{Network: rtext(r), Producer: KeyID(rbytes(r)), Height: uint64(rint(r)), Prev: rhash(r),
			Time: uint64(rint(r)), Root: rhash(r), Count: ru32(r)}
		if got, want := h.appendCBOR(nil), encode(&h); !bytes.Equal(got, want) {
			t.Fatalf("case %d %+v:\n hand %x\n refl %x", i, h, got, want)
		}
		if h.Hash() != taggedHash(tagBlock, encode(&h)) {
			t.Fatalf("case %d: hash differs", i)
		}
	}
}
