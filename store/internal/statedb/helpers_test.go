package statedb

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// smallOpts makes many flushes and compactions happen.
func smallOpts() Options {
	return Options{MemBytes: 4 << 10, BlockSize: 256, Logger: quiet()}
}

// commit appends the writes of checkpoint seq and reports it committed.
func commit(t testing.TB, db *DB, seq uint64, ws []ledger.Write) {
	t.Helper()
	if err := db.Append(seq, ws); err != nil {
		t.Fatal(err)
	}
	if err := db.Committed(seq); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t testing.TB, dir string, applied uint64, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, applied, opts)
	if err != nil {
		t.Fatalf("Open(%s, %d): %v", dir, applied, err)
	}
	return db
}

// model is the reference state: key → value.
type model map[string]string

func (m model) apply(ws []ledger.Write) {
	for _, w := range ws {
		if w.Delete {
			delete(m, string(w.Key))
		} else {
			m[string(w.Key)] = string(w.Value)
		}
	}
}

func testKey(i int) string { return fmt.Sprintf("%c/key-%05d", 'a'+i%4, i) }

// randWrites makes n random writes over keys [0, keys).
func randWrites(rng *rand.Rand, n, keys int) []ledger.Write {
	ws := make([]ledger.Write, n)
	for i := range ws {
		ws[i].Key = []byte(testKey(rng.IntN(keys)))
		if rng.IntN(4) == 0 {
			ws[i].Delete = true
		} else {
			v := make([]byte, rng.IntN(40))
			for j := range v {
				v[j] = byte('a' + rng.IntN(26))
			}
			ws[i].Value = v
		}
	}
	return ws
}

func scanAll(t testing.TB, s *Snap, prefix, start []byte) model {
	t.Helper()
	got := model{}
	var prev []byte
	err := s.Scan(prefix, start, func(k, v []byte) error {
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("scan order: %q after %q", k, prev)
		}
		prev = append(prev[:0], k...)
		got[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatalf("scan at %d: %v", s.Seq(), err)
	}
	return got
}

// filter returns the part of m a Scan(prefix, start) must show.
func (m model) filter(prefix, start string) model {
	out := model{}
	for k, v := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix && k >= start {
			out[k] = v
		}
	}
	return out
}

func diff(want, got model) string {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			return fmt.Sprintf("key %q: got %q (present %v), want %q", k, g, ok, want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("key %q: got %q, want absent", k, got[k])
		}
	}
	return ""
}

// check compares a snapshot with the reference: a full scan, a prefix scan and point reads.
func check(t testing.TB, rng *rand.Rand, s *Snap, want model, keys int) {
	t.Helper()
	if d := diff(want, scanAll(t, s, nil, nil)); d != "" {
		t.Fatalf("scan at %d: %s", s.Seq(), d)
	}
	prefix := string(rune('a' + rng.IntN(4)))
	start := testKey(rng.IntN(keys))
	if d := diff(want.filter(prefix, start), scanAll(t, s, []byte(prefix), []byte(start))); d != "" {
		t.Fatalf("scan %q from %q at %d: %s", prefix, start, s.Seq(), d)
	}
	for range 20 {
		k := testKey(rng.IntN(keys + keys/10))
		v, ok, err := s.Get([]byte(k))
		if err != nil {
			t.Fatalf("get %q at %d: %v", k, s.Seq(), err)
		}
		w, wok := want[k]
		if ok != wok || string(v) != w {
			t.Fatalf("get %q at %d: %q %v, want %q %v", k, s.Seq(), v, ok, w, wok)
		}
	}
}

// readDir returns the files of dir.
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// writeDir writes files into a new directory.
func writeDir(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}
