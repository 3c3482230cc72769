package statedb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// Every test maps the scratch bloom filters of runs being written except the smallest.
func init() { scratchHeapMax = bloomBlock / 8 }

// TestRunMapped writes runs of many blocks with and without an expected count (Build's
// second pass) and with the bloom filter on the heap or mapped, then reads every key back
// and checks the index in place.
func TestRunMapped(t *testing.T) {
	defer func(m int) { scratchHeapMax = m }(scratchHeapMax)
	for _, tc := range []struct {
		expect  int
		heapMax int
	}{{0, 1 << 20}, {0, 0}, {5000, 1 << 20}, {5000, 0}} {
		t.Run(fmt.Sprintf("expect=%d,heapMax=%d", tc.expect, tc.heapMax), func(t *testing.T) {
			scratchHeapMax = tc.heapMax
			dir := t.TempDir()
			w, err := createRun(dir, 1, Options{BlockSize: 128, Compress: true}, tc.expect, nil)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5000
			for i := range n {
				if err := w.add([]byte(fmt.Sprintf("key-%06d", i)), []byte(fmt.Sprintf("v%d", i)), i%7 == 0); err != nil {
					t.Fatal(err)
				}
			}
			r, err := w.finish(1, 2)
			if err != nil {
				t.Fatal(err)
			}
			if r.blocks() < 100 {
				t.Fatalf("%d blocks", r.blocks())
			}
			check := func(r *run) {
				t.Helper()
				for i := range n {
					k := []byte(fmt.Sprintf("key-%06d", i))
					v, found, del, err := r.get(k, hashKey(k))
					if err != nil || !found || del != (i%7 == 0) || (!del && string(v) != fmt.Sprintf("v%d", i)) {
						t.Fatalf("get %s: %q %v %v %v", k, v, found, del, err)
					}
				}
				for _, k := range []string{"", "a", "key-", "key-0049995", "zzz"} {
					if _, found, _, err := r.get([]byte(k), hashKey([]byte(k))); err != nil || found {
						t.Fatalf("get %q: %v %v", k, found, err)
					}
				}
				if err := r.verify(); err != nil {
					t.Fatal(err)
				}
			}
			check(r)
			r.release()
			// No temporary file is left.
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) != 1 {
				t.Fatalf("files %v, %v", ents, err)
			}
			r, err = openRun(dir, 1, -1, true)
			if err != nil {
				t.Fatal(err)
			}
			check(r)
			r.release()
		})
	}
}

// TestRunOldVersion: a run of another format version is refused as corruption.
func TestRunOldVersion(t *testing.T) {
	dir := t.TempDir()
	w, err := createRun(dir, 1, Options{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.add([]byte("k"), []byte("v"), false); err != nil {
		t.Fatal(err)
	}
	r, err := w.finish(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.release()
	path := filepath.Join(dir, runName(1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ft := b[len(b)-footerSize:]
	binary.BigEndian.PutUint32(ft[footerCRC-4:], 1)
	binary.BigEndian.PutUint32(ft[footerCRC:], crc32.Checksum(ft[:footerCRC], castagnoli))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = openRun(dir, 1, int64(len(b)), false)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 1: %v", err)
	}
}

// TestCloseWithSnapshotMapped: reads through a snapshot still held when the DB closes fail with
// ErrClosed (the mapping stays until the release), and the release frees the runs.
func TestCloseWithSnapshotMapped(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, Options{MemBytes: 1, Logger: quiet()})
	for seq := uint64(1); seq <= 3; seq++ {
		ws := []ledger.Write{{Key: []byte(fmt.Sprintf("k%d", seq)), Value: []byte("v")}}
		commit(t, db, seq, ws)
	}
	s, err := db.Snapshot(3)
	if err != nil {
		t.Fatal(err)
	}
	runs := s.runs
	if len(runs) == 0 {
		t.Fatal("no runs")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.mapped == nil {
			t.Fatalf("run %s unmapped while a snapshot holds it", r.name)
		}
		// A read racing the close: the file is closed, the mapping still there.
		if _, found, _, err := r.get([]byte("k1"), hashKey([]byte("k1"))); err == nil && found {
			t.Fatalf("read of the closed run %s succeeded", r.name)
		}
	}
	if _, _, err := s.Get([]byte("k1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	s.Release()
	for _, r := range runs {
		if r.mapped != nil || r.refs.Load() != 0 {
			t.Fatalf("run %s still mapped (%d refs) after the release", r.name, r.refs.Load())
		}
	}
}
