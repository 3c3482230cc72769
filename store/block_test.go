package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// TestBlockValue: a block's encoding is stored S2-compressed and read back whole; an
// encoding S2 cannot shrink, and a format-3 value (the encoding itself), read as they are;
// damaged or oversized compressed values are ErrCorrupt.
func TestBlockValue(t *testing.T) {
	n := ledgertest.New(t)
	enc := contributionBlocks(n, 0, 1)[0].Encode()
	val := blockValue(enc)
	if val[0] != blockS2 || len(val) > len(enc)/2 {
		t.Fatalf("block of %d bytes stored in %d (first byte %#x)", len(enc), len(val), val[0])
	}
	for _, v := range [][]byte{val, enc} {
		got, err := blockBytes(v)
		if err != nil || !bytes.Equal(got, enc) {
			t.Fatalf("read back: %d bytes, %v", len(got), err)
		}
	}
	noise := make([]byte, 4096)
	rand.Read(noise)
	noise[0] = 0xa5 // a CBOR map, as every block encoding starts
	if v := blockValue(noise); !bytes.Equal(v, noise) {
		t.Fatalf("incompressible encoding stored as %d bytes", len(v))
	}
	damaged := bytes.Clone(val)
	damaged[len(damaged)/2] ^= 0xff
	damaged[len(damaged)/3] ^= 0xff
	if got, err := blockBytes(damaged); err == nil && bytes.Equal(got, enc) {
		t.Fatal("damaged value read as the block")
	} else if err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged value: %v, want ErrCorrupt", err)
	}
	huge := append([]byte{blockS2}, s2.Encode(nil, make([]byte, ledger.MaxBlockSize+1))...)
	if _, err := blockBytes(huge); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("oversized value: %v, want ErrCorrupt", err)
	}
	for _, v := range [][]byte{{blockS2}, {blockS2, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := blockBytes(v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("value %x: %v, want ErrCorrupt", v, err)
		}
	}
}

// FuzzBlockBytes: any stored value gives the block encoding or ErrCorrupt, never a panic.
func FuzzBlockBytes(f *testing.F) {
	n := ledgertest.New(f)
	f.Add(blockValue(contributionBlocks(n, 0, 1)[0].Encode()))
	f.Add([]byte{blockS2})
	f.Add([]byte{0xa5, 1, 2})
	f.Fuzz(func(t *testing.T, val []byte) {
		raw, err := blockBytes(val)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if err == nil && len(raw) > max(len(val), ledger.MaxBlockSize) {
			t.Fatalf("%d bytes from a value of %d", len(raw), len(val))
		}
	})
}

// TestOpenFormat3: a format-3 store (blocks stored as their encoding) is upgraded in place
// at Open and its blocks read as before; the blocks of later checkpoints are compressed.
func TestOpenFormat3(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	f := newFixture(t, s, 1)
	f.next(2, 20)
	old := f.steps[0].blocks[0]
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keyFormat, u32b(formatUpgrade)); err != nil {
			return err
		}
		return txn.Set(blockKey(old.Hash()), old.Encode())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, Options{})
	defer s.Close()
	err = s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, keyFormat)
		if err == nil && !bytes.Equal(v, u32b(formatVersion)) {
			t.Errorf("format %x after the upgrade", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	f.next(2, 20)
	v := s.View()
	defer v.Release()
	for _, st := range f.steps {
		for _, b := range st.blocks {
			got, _, err := v.Block(b.Hash())
			if err != nil || !bytes.Equal(got.Encode(), b.Encode()) {
				t.Fatalf("block %s: %v", b.Hash(), err)
			}
		}
	}
	if raw, err := v.raw(blockKey(f.steps[1].blocks[0].Hash())); err != nil || raw[0] != blockS2 {
		t.Fatalf("a new block is stored uncompressed: %v", err)
	}
}
