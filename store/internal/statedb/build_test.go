package statedb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// pairs returns a next function for Build over keys and values.
func pairs(keys, vals []string) func() ([]byte, []byte, bool, error) {
	i := 0
	return func() ([]byte, []byte, bool, error) {
		if i >= len(keys) {
			return nil, nil, false, nil
		}
		i++
		return []byte(keys[i-1]), []byte(vals[i-1]), true, nil
	}
}

// TestBuild: a built engine holds exactly the pairs as of its checkpoint and takes later
// checkpoints; unsorted or duplicate keys are ErrOrder and leave no file behind.
func TestBuild(t *testing.T) {
	var keys, vals []string
	want := model{}
	for i := range 3000 {
		k, v := testKey(i * 3)[2:], fmt.Sprintf("value-%d-%s", i, "xxxxxxxxxxxxxxxxxxxx"[:i%20])
		keys, vals = append(keys, k), append(vals, v)
		want[k] = v
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := Build(dir, 7, pairs(keys, vals), Options{Compress: true, BlockSize: 512}); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, 6, Options{Logger: quiet()})
	wantErr(t, err, ErrOrder, "open below the built checkpoint")
	db := mustOpen(t, dir, 7, Options{MemBytes: 1, VerifyAll: true, Logger: quiet()})
	if db.Last() != 7 || !db.HasAny() {
		t.Fatalf("Last %d HasAny %v", db.Last(), db.HasAny())
	}
	s, err := db.Snapshot(7)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(want, scanAll(t, s, nil, nil)); d != "" {
		t.Fatal(d)
	}
	for i := range 50 {
		k := testKey(i)[2:]
		v, ok, err := s.Get([]byte(k))
		if w, wok := want[k]; err != nil || ok != wok || string(v) != w {
			t.Fatalf("get %q: %q %v %v", k, v, ok, err)
		}
	}
	s.Release()
	wantErr(t, db.Append(7, nil), ErrOrder, "replace the built checkpoint")
	ws := []ledger.Write{{Key: []byte(keys[0]), Delete: true}, {Key: []byte(keys[1]), Value: []byte("new")}, {Key: []byte("zz"), Value: []byte("z")}}
	if err := db.Append(8, ws); err != nil {
		t.Fatal(err)
	}
	want.apply(ws)
	if err := db.Committed(8); err != nil {
		t.Fatal(err)
	}
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpen(t, dir, 8, Options{VerifyAll: true, Logger: quiet()})
	s, _ = db.Snapshot(8)
	if d := diff(want, scanAll(t, s, nil, nil)); d != "" {
		t.Fatal(d)
	}
	s.Release()
	if st := db.Stats(); st.Runs != 2 {
		t.Fatalf("stats %+v", st)
	}
	db.Close()

	// Out of order and duplicates.
	for _, c := range [][]string{{"b", "a"}, {"a", "b", "b"}} {
		dir := t.TempDir()
		err := Build(dir, 1, pairs(c, make([]string, len(c))), Options{})
		wantErr(t, err, ErrOrder, fmt.Sprint("build ", c))
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("build %v left %d files", c, len(ents))
		}
	}
	// A failing source.
	boom := errors.New("boom")
	err = Build(t.TempDir(), 1, func() ([]byte, []byte, bool, error) { return nil, nil, false, boom }, Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("failing source: %v", err)
	}
	// Not empty.
	if err := Build(dir, 1, pairs(nil, nil), Options{}); err == nil {
		t.Fatal("build into a non-empty directory")
	}
	// Nothing at all: an engine at checkpoint 5 with an empty state.
	empty := t.TempDir()
	if err := Build(empty, 5, pairs(nil, nil), Options{}); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, empty, 5, Options{Logger: quiet()})
	s, _ = db.Snapshot(5)
	if got := scanAll(t, s, nil, nil); len(got) != 0 || db.Last() != 5 || !db.HasAny() {
		t.Fatalf("empty build: %v, Last %d", got, db.Last())
	}
	s.Release()
	db.Close()
}
