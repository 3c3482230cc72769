package badgerfix

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestEmptyMemtableLeftByACrash: a badger directory with an empty memtable log (what a kill
// between creating and sizing the file leaves) does not open; after RemoveEmptyMemtables it
// opens with its data.
func TestEmptyMemtableLeftByACrash(t *testing.T) {
	dir := t.TempDir()
	opts := badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(true)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if db, err := badger.Open(opts); err == nil {
		db.Close()
		t.Fatal("badger opened a directory with an empty memtable log: this repair may no longer be needed")
	}
	// The failed open sized the file; the state a crash leaves is the empty file.
	if err := os.Truncate(filepath.Join(dir, "00099.mem"), 0); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveEmptyMemtables(dir)
	if err != nil || len(removed) != 1 || removed[0] != "00099.mem" {
		t.Fatalf("removed %v, %v", removed, err)
	}
	db, err = badger.Open(opts)
	if err != nil {
		t.Fatalf("open after the repair: %v", err)
	}
	defer db.Close()
	if err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte("k"))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if string(v) != "v" {
				t.Errorf("value %q", v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}
