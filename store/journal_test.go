package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestJournalCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ops []entry
	for i := range 5000 {
		e := entry{key: []byte{byte(i), byte(i >> 8), 'k'}, del: r.IntN(5) == 0}
		if !e.del {
			e.val = make([]byte, r.IntN(600))
			for j := range e.val {
				e.val[j] = byte(r.Uint32())
			}
		}
		ops = append(ops, e)
	}
	ops = append(ops, entry{key: []byte("big"), val: make([]byte, journalChunk+10)})
	chunks, digest := encodeJournal(ops)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for i, c := range chunks[:len(chunks)-1] {
		if len(c) > journalChunk {
			t.Fatalf("chunk %d of %d bytes", i, len(c))
		}
	}
	if journalDigest(chunks) != digest {
		t.Fatal("digest")
	}
	got, err := decodeJournal(chunks)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ops) {
		t.Fatalf("%d changes back, %d written", len(got), len(ops))
	}
	for i := range ops {
		if !bytes.Equal(got[i].key, ops[i].key) || !bytes.Equal(got[i].val, ops[i].val) || got[i].del != ops[i].del {
			t.Fatalf("change %d differs", i)
		}
	}
	for _, cut := range []int{1, 4, 8, len(chunks[0]) - 1} {
		if _, err := decodeJournal([][]byte{chunks[0][:cut]}); err == nil {
			t.Fatalf("a chunk cut at %d decodes", cut)
		}
	}
	bad := bytes.Clone(chunks[0])
	bad[0] = 7
	if _, err := decodeJournal([][]byte{bad}); err == nil {
		t.Fatal("a bad change header decodes")
	}
}

func TestOpenRefusesForeignOrIncompleteDirectories(t *testing.T) {
	// Data files without a MANIFEST.
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	newFixture(t, s, 1).next(1, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open without a MANIFEST: %v", err)
	}
	// A badger directory that is not a store.
	dir = t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x"), []byte("y")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a foreign badger directory: %v", err)
	}
	if _, err := Open(dir, Options{GCDiscardRatio: 2, MemTableSize: 1}); err == nil {
		t.Fatal("invalid options accepted")
	}
}

// TestJournalFiles: a committed journal is re-applied at Open and deleted; an uncommitted one
// is deleted; a committed one that is damaged, or a stranger in the journal directory, makes
// Open refuse the store.
func TestJournalFiles(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	newFixture(t, s, 1).next(1, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(dir, journalDir)
	ops := []entry{{key: []byte("xjournal-test"), val: []byte("redone")}}
	chunks, digest := encodeJournal(ops)
	good := encodeJournalFile(7, chunks, digest)
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(jdir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(journalName(7, journalExt), good)
	write(journalName(8, journalTmpExt), good[:len(good)/2])
	s = openDisk(t, dir, Options{})
	if s.redone != 1 {
		t.Fatalf("%d journals re-applied, want 1", s.redone)
	}
	if v, err := getValue(s.db.NewTransaction(false), []byte("xjournal-test")); err != nil || string(v) != "redone" {
		t.Fatalf("the journal's change: %q, %v", v, err)
	}
	if left, err := os.ReadDir(jdir); err != nil || len(left) != 0 {
		t.Fatalf("journal files left: %v (%v)", left, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)-40]++
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{journalName(7, journalExt), bad},                // fails its digest
		{journalName(7, journalExt), good[:len(good)-1]}, // cut short
		{journalName(9, journalExt), good},               // names checkpoint 7 inside
		{"stray", good},
	} {
		name, b := c.name, c.b
		write(name, b)
		if _, err := Open(dir, Options{Logger: testLogger(t)}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open with %s damaged: %v, want ErrCorrupt", name, err)
		}
		if err := os.Remove(filepath.Join(jdir, name)); err != nil {
			t.Fatal(err)
		}
	}
}
