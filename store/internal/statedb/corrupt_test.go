package statedb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runFixture is a closed engine with several multi-block runs (compressed and plain blocks),
// tombstones and a WAL tail.
type runFixture struct {
	dir   string
	last  uint64
	want  model
	files map[string][]byte
	runs  []string
}

var errDenied = errors.New("no writes in this test")

// frozen opts let an engine open without changing its files: no flush, no compaction.
func frozen(verify bool) Options {
	return Options{Logger: quiet(), VerifyAll: verify, WriteGuard: func() error { return errDenied }}
}

func newRunFixture(t *testing.T) *runFixture {
	dir := t.TempDir()
	// Every commit flushes; three commits make three runs (compaction needs four).
	opts := Options{MemBytes: 1, BlockSize: 200, Compress: true, Logger: quiet()}
	db := mustOpen(t, dir, 0, opts)
	rng := rand.New(rand.NewPCG(7, 7))
	cur := model{}
	seq := uint64(0)
	for seq < 44 {
		seq++
		ws := randWrites(rng, 8, 120)
		for i := range ws {
			if !ws[i].Delete && rng.IntN(2) == 0 {
				ws[i].Value = []byte(strings.Repeat("abcd", 5+rng.IntN(10)))
			}
		}
		if err := db.Append(seq, ws); err != nil {
			t.Fatal(err)
		}
		cur.apply(ws)
		if seq%14 == 0 {
			if err := db.Committed(seq); err != nil {
				t.Fatal(err)
			}
			if err := db.waitFlush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f := &runFixture{dir: dir, last: seq, want: cur, files: readDir(t, dir)}
	for name := range f.files {
		if strings.HasSuffix(name, runExt) {
			f.runs = append(f.runs, name)
		}
	}
	slices.Sort(f.runs)
	if len(f.runs) != 3 {
		t.Fatalf("%d runs", len(f.runs))
	}
	return f
}

// checkReads reads every key (and some absent ones) and scans: each answer must be right or
// an error wrapping ErrCorrupt.
func (f *runFixture) checkReads(t *testing.T, db *DB, what string) {
	t.Helper()
	s, err := db.Snapshot(f.last)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer s.Release()
	for i := range 130 {
		k := testKey(i)
		v, ok, err := s.Get([]byte(k))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: get %q: %v", what, k, err)
			}
			continue
		}
		w, wok := f.want[k]
		if ok != wok || string(v) != w {
			t.Fatalf("%s: get %q: %q %v, want %q %v", what, k, v, ok, w, wok)
		}
	}
	got := model{}
	err = s.Scan(nil, nil, func(k, v []byte) error { got[string(k)] = string(v); return nil })
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: scan: %v", what, err)
		}
		return
	}
	if d := diff(f.want, got); d != "" {
		t.Fatalf("%s: scan: %s", what, d)
	}
}

func (f *runFixture) put(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// offsets returns up to about n offsets spread over [0, size), always including the last
// footerSize+1 bytes.
func offsets(size, n int) []int {
	stride := max(1, size/n)
	var offs []int
	for o := 0; o < size; o += stride {
		offs = append(offs, o)
	}
	for o := max(0, size-footerSize-1); o < size; o++ {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	return slices.Compact(offs)
}

// TestCorruptRuns flips bytes of every run file: Open with VerifyAll fails with ErrCorrupt;
// without it Open fails with ErrCorrupt (footer, index, bloom) or the reads of the damaged
// block do, never returning wrong data.
func TestCorruptRuns(t *testing.T) {
	f := newRunFixture(t)
	db := mustOpen(t, f.dir, f.last, frozen(true))
	f.checkReads(t, db, "intact")
	kinds := map[byte]int{}
	for _, r := range db.cur.runs {
		for i := range r.blocks() {
			kinds[f.files[r.name][r.blockOff(i+1)-blockTrailer]]++
		}
	}
	if kinds[compNone] == 0 || kinds[compS2] == 0 || len(kinds) != 2 {
		t.Fatalf("block kinds %v: want plain and compressed blocks", kinds)
	}
	db.Close()
	for _, name := range f.runs {
		orig := f.files[name]
		for _, off := range offsets(len(orig), 250) {
			b := append([]byte(nil), orig...)
			b[off] ^= 1 << (off % 8)
			f.put(t, name, b)
			what := fmt.Sprintf("%s flipped at %d of %d", name, off, len(b))
			_, err := Open(f.dir, f.last, frozen(true))
			wantErr(t, err, ErrCorrupt, what+", verified")
			db, err := Open(f.dir, f.last, frozen(false))
			if err != nil {
				wantErr(t, err, ErrCorrupt, what)
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("%s: error does not name the file: %v", what, err)
				}
				continue
			}
			// Footer, index and bloom filter passed: the flip is in a data block, which a
			// full scan reads.
			s, err := db.Snapshot(f.last)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Scan(nil, nil, func(k, v []byte) error { return nil })
			s.Release()
			wantErr(t, err, ErrCorrupt, what+", scan")
			f.checkReads(t, db, what)
			db.Close()
		}
		f.put(t, name, orig)
	}
}

// TestTruncatedRuns cuts run files at many lengths: Open fails with ErrCorrupt (the manifest
// records the size), and so does reading the footer of the cut file on its own.
func TestTruncatedRuns(t *testing.T) {
	f := newRunFixture(t)
	for _, name := range f.runs {
		orig := f.files[name]
		for _, n := range offsets(len(orig), 100) {
			f.put(t, name, orig[:n])
			what := fmt.Sprintf("%s cut at %d", name, n)
			_, err := Open(f.dir, f.last, frozen(false))
			wantErr(t, err, ErrCorrupt, what)
			file, err := os.Open(filepath.Join(f.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			_, err = loadRun(file, 1, name, -1, true)
			file.Close()
			wantErr(t, err, ErrCorrupt, what+", footer alone")
		}
		f.put(t, name, orig)
	}
	// A missing run is corruption naming the file.
	if err := os.Remove(filepath.Join(f.dir, f.runs[0])); err != nil {
		t.Fatal(err)
	}
	_, err := Open(f.dir, f.last, frozen(false))
	wantErr(t, err, ErrCorrupt, "missing run")
	if !strings.Contains(err.Error(), f.runs[0]) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// TestCorruptManifest flips every byte and cuts at every length of the manifest; runs in the
// wrong order, and run files without a manifest, are corruption too.
func TestCorruptManifest(t *testing.T) {
	f := newRunFixture(t)
	orig := f.files[manifestName]
	for off := range orig {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), orig...)
			b[off] ^= bit
			f.put(t, manifestName, b)
			_, err := Open(f.dir, f.last, frozen(false))
			wantErr(t, err, ErrCorrupt, fmt.Sprintf("manifest flipped at %d", off))
		}
	}
	for n := range len(orig) {
		f.put(t, manifestName, orig[:n])
		_, err := Open(f.dir, f.last, frozen(false))
		wantErr(t, err, ErrCorrupt, fmt.Sprintf("manifest cut at %d", n))
	}
	m, err := decodeManifest(orig)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(m.runs)
	f.put(t, manifestName, m.encode())
	_, err = Open(f.dir, f.last, frozen(false))
	wantErr(t, err, ErrCorrupt, "runs in the wrong order")
	if err := os.Remove(filepath.Join(f.dir, manifestName)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(f.dir, 0, frozen(false))
	wantErr(t, err, ErrCorrupt, "no manifest")
}

// TestBloom: no false negatives, and a false-positive rate near 1% at 10 bits a key.
func TestBloom(t *testing.T) {
	dir := t.TempDir()
	w, err := createRun(dir, 1, Options{BlockSize: 4096}, 20000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		if err := w.add([]byte(fmt.Sprintf("key-%08d", i*2)), []byte("v"), false); err != nil {
			t.Fatal(err)
		}
	}
	r, err := w.finish(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.release()
	fp := 0
	for i := range 20000 {
		k := []byte(fmt.Sprintf("key-%08d", i*2))
		v, found, _, err := r.get(k, hashKey(k))
		if err != nil || !found || string(v) != "v" {
			t.Fatalf("get %s: %q %v %v", k, v, found, err)
		}
		if bloomMay(r.bloom, r.nbits, r.bloomK, hashKey([]byte(fmt.Sprintf("key-%08d", i*2+1)))) {
			fp++
		}
	}
	if rate := float64(fp) / 20000; rate > 0.02 {
		t.Fatalf("false-positive rate %.4f", rate)
	}
}
