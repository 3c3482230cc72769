package statedb

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// TestRandomHistory runs random checkpoints (puts and deletes over overlapping keys, retried
// checkpoints, appends ahead of the commit, empty checkpoints) with a tiny memtable, so many
// flushes and compactions happen, and compares every step with a reference map: the newest
// state, snapshots held at older checkpoints, and the state after reopening.
func TestRandomHistory(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(fmt.Sprint(compress)))))
			opts := smallOpts()
			opts.MemBytes = 1 << 10
			opts.Compress = compress
			dir := t.TempDir()
			db := mustOpen(t, dir, 0, opts)
			defer func() { db.Close() }()
			const keys = 300
			cur := model{}
			seq := uint64(0)
			type held struct {
				s    *Snap
				want model
			}
			var snaps []held
			appendSeq := func(s uint64, ws []ledger.Write) {
				t.Helper()

				if err := db.Append(s, ws); err != nil {
					t.Fatalf("append %d: %v", s, err)
				}
			}
			commit := func(s uint64) {
				t.Helper()
				if err := db.Committed(s); err != nil {
					t.Fatalf("committed %d: %v", s, err)
				}
			}
			maxRuns := 0
			for step := range 400 {
				switch r := rng.IntN(20); {
				case r == 0: // a retried checkpoint: the first attempt is replaced
					seq++
					appendSeq(seq, randWrites(rng, 1+rng.IntN(10), keys))
					ws := randWrites(rng, rng.IntN(10), keys)
					appendSeq(seq, ws)
					cur.apply(ws)
					commit(seq)
				case r == 1: // two checkpoints appended before the first commits
					ws1 := randWrites(rng, 1+rng.IntN(20), keys)
					ws2 := randWrites(rng, 1+rng.IntN(20), keys)
					appendSeq(seq+1, ws1)
					appendSeq(seq+2, ws2)
					commit(seq + 1)
					seq += 2
					cur.apply(ws1)
					cur.apply(ws2)
					commit(seq)
				case r == 2: // empty checkpoint
					seq++
					appendSeq(seq, nil)
					commit(seq)
				default:
					seq++
					ws := randWrites(rng, 1+rng.IntN(25), keys)
					appendSeq(seq, ws)
					cur.apply(ws)
					commit(seq)
				}
				if db.Last() != seq {
					t.Fatalf("Last() = %d, want %d", db.Last(), seq)
				}
				s, err := db.Snapshot(seq)
				if err != nil {
					t.Fatal(err)
				}
				check(t, rng, s, cur, keys)
				if rng.IntN(8) == 0 && len(snaps) < 6 {
					snaps = append(snaps, held{s, maps.Clone(cur)})
				} else {
					s.Release()
				}
				if step%10 == 0 {
					for _, h := range snaps {
						check(t, rng, h.s, h.want, keys)
					}
				}
				if len(snaps) > 0 && rng.IntN(10) == 0 {
					i := rng.IntN(len(snaps))
					snaps[i].s.Release()
					snaps = append(snaps[:i], snaps[i+1:]...)
				}
				maxRuns = max(maxRuns, db.Stats().Runs)
				if step%150 == 149 {
					for _, h := range snaps {
						h.s.Release()
					}
					snaps = nil
					if err := db.Close(); err != nil {
						t.Fatal(err)
					}
					db = mustOpen(t, dir, seq, Options{MemBytes: opts.MemBytes, BlockSize: opts.BlockSize, Compress: compress, VerifyAll: true, Logger: quiet()})
					s, err := db.Snapshot(seq)
					if err != nil {
						t.Fatal(err)
					}
					check(t, rng, s, cur, keys)
					s.Release()
				}
			}
			for _, h := range snaps {
				check(t, rng, h.s, h.want, keys)
				h.s.Release()
			}
			st := db.Stats()
			if st.Flushes == 0 {
				t.Fatalf("no flush happened: %+v", st)
			}
			deadline := time.Now().Add(10 * time.Second)
			for db.Stats().Compactions == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if db.Stats().Compactions == 0 {
				t.Fatalf("no compaction happened: %+v", db.Stats())
			}
			if maxRuns > 30 {
				t.Fatalf("up to %d runs", maxRuns)
			}
			t.Logf("stats %+v, at most %d runs", db.Stats(), maxRuns)
		})
	}
}

// TestReopen: closing and opening with applied = Last() keeps the content; an uncommitted tail
// disappears with a lower applied; a higher applied is ErrMissing.
func TestReopen(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	dir := t.TempDir()
	opts := smallOpts()
	db := mustOpen(t, dir, 0, opts)
	if db.HasAny() || db.Last() != 0 {
		t.Fatalf("fresh: HasAny %v Last %d", db.HasAny(), db.Last())
	}
	cur := model{}
	for seq := uint64(0); seq <= 60; seq++ {
		ws := randWrites(rng, 10, 100)
		if err := db.Append(seq, ws); err != nil {
			t.Fatal(err)
		}
		cur.apply(ws)
		if err := db.Committed(seq); err != nil {
			t.Fatal(err)
		}
	}
	// An uncommitted tail of two checkpoints.
	tail := model{}
	maps.Copy(tail, cur)
	for seq := uint64(61); seq <= 62; seq++ {
		ws := []ledger.Write{{Key: []byte(testKey(1)), Value: []byte(fmt.Sprint("tail", seq))}, {Key: []byte(testKey(2)), Delete: true}}
		if err := db.Append(seq, ws); err != nil {
			t.Fatal(err)
		}
		tail.apply(ws)
	}
	if db.Stats().Flushes == 0 {
		t.Fatal("no flush")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// applied = Last(): everything.
	db = mustOpen(t, dir, 62, opts)
	if db.Last() != 62 || !db.HasAny() {
		t.Fatalf("Last %d HasAny %v", db.Last(), db.HasAny())
	}
	s, _ := db.Snapshot(62)
	check(t, rng, s, tail, 100)
	s.Release()
	s, err := db.Snapshot(60)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rng, s, cur, 100)
	s.Release()
	db.Close()

	// applied beyond: ErrMissing.
	_, err = Open(dir, 63, opts)
	wantErr(t, err, ErrMissing, "open with applied 63")

	// applied = 60: the tail is gone, for good.
	db = mustOpen(t, dir, 60, opts)
	if db.Last() != 60 {
		t.Fatalf("Last %d, want 60", db.Last())
	}
	s, _ = db.Snapshot(60)
	check(t, rng, s, cur, 100)
	s.Release()
	_, err = db.Snapshot(61)
	wantErr(t, err, ErrMissing, "snapshot beyond Last")
	ws := []ledger.Write{{Key: []byte("new"), Value: []byte("v61")}}
	if err := db.Append(61, ws); err != nil {
		t.Fatal(err)
	}
	cur.apply(ws)
	db.Close()
	db = mustOpen(t, dir, 61, opts)
	s, _ = db.Snapshot(61)
	check(t, rng, s, cur, 100)
	if v, ok, err := s.Get([]byte("new")); err != nil || !ok || string(v) != "v61" {
		t.Fatalf("get new: %q %v %v", v, ok, err)
	}
	s.Release()
	db.Close()

	// Flushed beyond applied: the caller lost commits.
	st, _ := readManifest(dir)
	if !st.flushedValid || st.flushed == 0 {
		t.Fatalf("manifest %+v", st)
	}
	_, err = Open(dir, st.flushed-1, opts)
	wantErr(t, err, ErrOrder, "open with applied below flushed")

	// A fresh directory with applied > 0 is ErrMissing and is left empty.
	fresh := filepath.Join(t.TempDir(), "x")
	_, err = Open(fresh, 5, opts)
	wantErr(t, err, ErrMissing, "fresh open with applied 5")
	if ents, _ := os.ReadDir(fresh); len(ents) != 0 {
		t.Fatalf("fresh dir has %d files", len(ents))
	}
}

// TestReplaceAndPipeline: a replaced checkpoint's first writes vanish (also after reopen), a
// memtable holding a checkpoint not yet committed is not flushed, and committed checkpoints
// cannot be replaced.
func TestReplaceAndPipeline(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MemBytes: 1, Logger: quiet()} // flush at every commit
	db := mustOpen(t, dir, 0, opts)
	w := func(k, v string) ledger.Write {
		if v == "" {
			return ledger.Write{Key: []byte(k), Delete: true}
		}
		return ledger.Write{Key: []byte(k), Value: []byte(v)}
	}
	get := func(db *DB, seq uint64, k string) string {
		t.Helper()
		s, err := db.Snapshot(seq)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		v, ok, err := s.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "<none>"
		}
		return string(v)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Append(0, []ledger.Write{w("a", "0"), w("b", "0")}))
	// Genesis replaced before its commit.
	must(db.Append(0, []ledger.Write{w("a", "0'"), w("c", "0'")}))
	must(db.Committed(0))
	must(db.waitFlush())
	if got := get(db, 0, "a") + get(db, 0, "b") + get(db, 0, "c"); got != "0'<none>0'" {
		t.Fatalf("after replacing genesis: %s", got)
	}
	wantErr(t, db.Append(0, nil), ErrOrder, "replace a flushed checkpoint")
	must(db.Append(1, []ledger.Write{w("a", "1"), w("a", "1b"), w("b", "1")}))
	must(db.Append(2, []ledger.Write{w("a", "2"), w("c", "")}))
	// Checkpoint 2 is not committed: the memtable holding it stays.
	must(db.Committed(1))
	must(db.waitFlush())
	if db.Stats().Flushes != 1 {
		t.Fatalf("flushes %d", db.Stats().Flushes)
	}
	if got := get(db, 1, "a") + get(db, 1, "c") + get(db, 2, "a") + get(db, 2, "c"); got != "1b0'2<none>" {
		t.Fatalf("after the commit of 1: %s", got)
	}
	// Replace the uncommitted 2.
	s2, _ := db.Snapshot(2)
	must(db.Append(2, []ledger.Write{w("a", "2'")}))
	if v, _, _ := s2.Get([]byte("a")); string(v) != "2" {
		t.Fatalf("old snapshot sees %q after the replacement", v)
	}
	s2.Release()
	if got := get(db, 2, "a") + get(db, 2, "c"); got != "2'0'" {
		t.Fatalf("after replacing 2: %s", got)
	}
	must(db.Append(3, []ledger.Write{w("d", "3")}))
	db.Close()

	// Reopen at 2: the replacement holds, 3 is gone.
	db = mustOpen(t, dir, 2, opts)
	if db.Last() != 2 {
		t.Fatalf("Last %d", db.Last())
	}
	if got := get(db, 2, "a") + get(db, 2, "c") + get(db, 2, "d"); got != "2'0'<none>" {
		t.Fatalf("after reopen: %s", got)
	}
	wantErr(t, db.Append(2, nil), ErrOrder, "replace a committed checkpoint")
	wantErr(t, db.Append(1, nil), ErrOrder, "append an old checkpoint")
	wantErr(t, db.Committed(5), ErrMissing, "commit beyond Last")
	must(db.Committed(2))
	must(db.waitFlush())
	if got := get(db, 2, "a"); got != "2'" {
		t.Fatalf("after flushing 2: %s", got)
	}
	if st := db.Stats(); st.Flushes != 1 || st.Runs != 2 {
		t.Fatalf("after flushing 2: %+v", st)
	}
	_, err := db.Snapshot(1)
	wantErr(t, err, ErrOrder, "snapshot below flushed")
	db.Close()
}

// TestFailed: once a WAL write fails, Append fails, then returns ErrFailed; reads go on.
func TestFailed(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, smallOpts())
	commit(t, db, 1, []ledger.Write{{Key: []byte("k"), Value: []byte("v1")}})
	_ = db.wal.f.Close() // test hook: the WAL becomes unwritable
	err := db.Append(2, []ledger.Write{{Key: []byte("k"), Value: []byte("v2")}})
	if err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("first failing append: %v", err)
	}
	wantErr(t, db.Append(2, nil), ErrFailed, "append after the failure")
	wantErr(t, db.Committed(1), ErrFailed, "committed after the failure")
	s, err := db.Snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get([]byte("k")); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("get after failure: %q %v %v", v, ok, err)
	}
	s.Release()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, 1, smallOpts())
	s, _ = db.Snapshot(1)
	if v, ok, err := s.Get([]byte("k")); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("get after reopen: %q %v %v", v, ok, err)
	}
	s.Release()
	db.Close()
}

// TestWriteGuard: a guard error fails the flush (returned by Committed) and skips compaction;
// the next commit flushes once the guard allows it.
func TestWriteGuard(t *testing.T) {
	var deny atomic.Bool
	opts := smallOpts()
	opts.MemBytes = 1
	opts.WriteGuard = func() error {
		if deny.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	db := mustOpen(t, t.TempDir(), 0, opts)
	defer db.Close()
	deny.Store(true)
	if err := db.Append(1, []ledger.Write{{Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Committed(1); err == nil {
		t.Fatal("flush passed the guard")
	}
	deny.Store(false)
	commit(t, db, 2, nil)
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Flushes != 1 || st.Runs != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConcurrent reads through snapshots from several goroutines while checkpoints, flushes
// and compactions happen (run with -race).
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, smallOpts())
	defer db.Close()
	const keys, steps = 200, 300
	var refMu sync.Mutex
	refs := map[uint64]model{0: {}}
	if err := db.Append(0, nil); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for !done.Load() {
				s, err := db.Snapshot(db.Last())
				if err != nil {
					if errors.Is(err, ErrOrder) { // flushed past it meanwhile
						continue
					}
					errs <- err
					return
				}
				refMu.Lock()
				want := refs[s.Seq()]
				refMu.Unlock()
				for range 1 + rng.IntN(3) { // hold it across later checkpoints
					for range 20 {
						k := testKey(rng.IntN(keys))
						v, ok, err := s.Get([]byte(k))
						w, wok := want[k]
						if err != nil || ok != wok || string(v) != w {
							errs <- fmt.Errorf("get %q at %d: %q %v %v, want %q %v", k, s.Seq(), v, ok, err, w, wok)
							s.Release()
							return
						}
					}
					if g == 0 {
						got := model{}
						if err := s.Scan(nil, nil, func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
							errs <- err
							s.Release()
							return
						}
						if d := diff(want, got); d != "" {
							errs <- fmt.Errorf("scan at %d: %s", s.Seq(), d)
							s.Release()
							return
						}
					}
					time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				}
				s.Release()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 3))
	cur := model{}
	for seq := uint64(1); seq <= steps; seq++ {
		ws := randWrites(rng, 1+rng.IntN(30), keys)
		cur.apply(ws)
		refMu.Lock()
		refs[seq] = maps.Clone(cur)
		refMu.Unlock()
		commit(t, db, seq, ws)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := db.Stats(); st.Compactions == 0 {
		t.Logf("no compaction during the test: %+v", st)
	}
}

// TestCloseWithSnapshot: a snapshot held over Close returns ErrClosed; Release after Close is
// harmless.
func TestCloseWithSnapshot(t *testing.T) {
	db := mustOpen(t, t.TempDir(), 0, Options{MemBytes: 1, Logger: quiet()})
	for seq := uint64(1); seq <= 3; seq++ {
		commit(t, db, seq, []ledger.Write{{Key: []byte(fmt.Sprint(seq)), Value: []byte("v")}})
	}
	s, err := db.Snapshot(3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get([]byte("1")); !ok || err != nil {
		t.Fatalf("get: %v %v", ok, err)
	}
	db.Close()
	_, _, err = s.Get([]byte("1"))
	wantErr(t, err, ErrClosed, "get after close")
	wantErr(t, s.Scan(nil, nil, func(k, v []byte) error { return nil }), ErrClosed, "scan after close")
	s.Release()
	s.Release()
	_, err = db.Snapshot(3)
	wantErr(t, err, ErrClosed, "snapshot after close")
	wantErr(t, db.Append(4, nil), ErrClosed, "append after close")
}

// TestScanStop: an error from the callback stops the scan and is returned.
func TestScanStop(t *testing.T) {
	db := mustOpen(t, t.TempDir(), 0, smallOpts())
	defer db.Close()
	var ws []ledger.Write
	for i := range 50 {
		ws = append(ws, ledger.Write{Key: []byte(testKey(i)), Value: []byte("v")})
	}
	if err := db.Append(1, ws); err != nil {
		t.Fatal(err)
	}
	s, _ := db.Snapshot(1)
	defer s.Release()
	stop := errors.New("stop")
	n := 0
	err := s.Scan(nil, nil, func(k, v []byte) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Fatalf("scan: %v after %d keys", err, n)
	}
}

// TestLeftovers: Open removes run, WAL and temporary files the manifest does not name, and
// keeps other files.
func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, Options{MemBytes: 1, Logger: quiet()})
	commit(t, db, 1, []ledger.Write{{Key: []byte("k"), Value: []byte("v")}})
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The flush started WAL 2 (its run is 3): a WAL numbered before the manifest's is a
	// leftover (one numbered after it would be replayed: a flush starts the next WAL before
	// its manifest names it).
	if man, err := readManifest(dir); err != nil || man.wal != 2 {
		t.Fatalf("manifest %+v, %v", man, err)
	}
	for _, name := range []string{"000099.run", "000001.wal", "MANIFEST.tmp", "000097.run.tmp", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db = mustOpen(t, dir, 1, Options{Logger: quiet()})
	db.Close()
	files := readDir(t, dir)
	for _, name := range []string{"000099.run", "000001.wal", "MANIFEST.tmp", "000097.run.tmp"} {
		if _, ok := files[name]; ok {
			t.Errorf("%s not removed", name)
		}
	}
	if _, ok := files["notes.txt"]; !ok {
		t.Error("notes.txt removed")
	}
}

func TestPickWindow(t *testing.T) {
	for _, c := range []struct {
		sizes  []int64
		lo, hi int
		ok     bool
	}{
		{[]int64{1, 1, 1}, 0, 0, false},
		{[]int64{1, 1, 1, 1}, 0, 4, true},
		{[]int64{1, 1, 1, 5, 5, 5, 5}, 3, 7, true},
		{[]int64{1, 1, 1, 1, 4, 16}, 0, 5, true},
		{[]int64{1, 3, 9, 27, 81}, 0, 0, false},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 0, 4, true},
	} {
		lo, hi, ok := pickWindow(c.sizes)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("pickWindow(%v) = %d, %d, %v; want %d, %d, %v", c.sizes, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
	// Geometric sizes never qualify by ratio: the run-count cap merges the smallest.
	var sizes []int64
	for i := range 26 {
		sizes = append(sizes, int64(1)<<(2*i+1))
	}
	if lo, hi, ok := pickWindow(sizes); !ok || lo != 0 || hi != 4 {
		t.Errorf("over the cap: %d, %d, %v", lo, hi, ok)
	}
}

// TestCompaction: four equal runs merge into one; tombstones go since the merge includes the
// oldest run; a snapshot taken before keeps reading the unlinked inputs until released.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, 0, Options{MemBytes: 1, Logger: quiet()})
	defer db.Close()
	put := func(k, v string) ledger.Write { return ledger.Write{Key: []byte(k), Value: []byte(v)} }
	del := func(k string) ledger.Write { return ledger.Write{Key: []byte(k), Delete: true} }
	var s *Snap
	for seq, ws := range [][]ledger.Write{
		{put("a", "1"), put("b", "1"), put("pad1", "x")},
		{del("a"), put("pad2", "x"), put("pad3", "x")},
		{put("c", "3"), put("pad4", "x"), put("pad5", "x")},
		{del("b"), put("pad6", "x"), put("pad7", "x")},
	} {
		if seq == 3 {
			// Hold a snapshot over the compaction (3 runs so far, none merged).
			var err error
			if s, err = db.Snapshot(uint64(seq)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Append(uint64(seq+1), ws); err != nil {
			t.Fatal(err)
		}
		if err := db.Committed(uint64(seq + 1)); err != nil {
			t.Fatal(err)
		}
		if err := db.waitFlush(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().Compactions == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := db.Stats()
	if st.Compactions != 1 || st.Runs != 1 || st.Keys != 8 {
		t.Fatalf("after compaction: %+v", st)
	}
	runs := 0
	for name := range readDir(t, dir) {
		if filepath.Ext(name) == runExt {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("%d run files after compaction", runs)
	}
	// The old snapshot (checkpoint 3: a deleted, b and c present) reads the unlinked files.
	want := model{"b": "1", "c": "3", "pad1": "x", "pad2": "x", "pad3": "x", "pad4": "x", "pad5": "x"}
	if d := diff(want, scanAll(t, s, nil, nil)); d != "" {
		t.Fatal(d)
	}
	db.liveMu.Lock()
	open := len(db.live)
	db.liveMu.Unlock()
	if open != 4 {
		t.Fatalf("%d run files open while the snapshot holds 3 inputs", open)
	}
	s.Release()
	db.liveMu.Lock()
	open = len(db.live)
	db.liveMu.Unlock()
	if open != 1 {
		t.Fatalf("%d run files open after the release", open)
	}
	s, _ = db.Snapshot(4)
	defer s.Release()
	want = model{"c": "3", "pad1": "x", "pad2": "x", "pad3": "x", "pad4": "x", "pad5": "x", "pad6": "x", "pad7": "x"}
	if d := diff(want, scanAll(t, s, nil, nil)); d != "" {
		t.Fatal(d)
	}
}

// TestFrozenMemtable: while the flush of a frozen memtable has not completed, reads see it,
// a reopen replays its WAL and the WAL after it, and the next commit retries the flush,
// which removes both WALs' predecessors. Open refuses a torn record in a sealed WAL and
// drops the WALs after a checkpoint the caller did not commit.
func TestFrozenMemtable(t *testing.T) {
	dir := t.TempDir()
	// The guard allows every write until limited, then left more.
	var limited atomic.Bool
	var left atomic.Int64
	opts := Options{MemBytes: 64, BlockSize: 256, Logger: quiet(), WriteGuard: func() error {
		if limited.Load() && left.Add(-1) < 0 {
			return errors.New("disk full")
		}
		return nil
	}}
	db := mustOpen(t, dir, 0, opts)
	rng := rand.New(rand.NewPCG(3, 3))
	want := model{}
	var snaps []model
	for seq := uint64(1); seq <= 3; seq++ {
		ws := randWrites(rng, 20, 50)
		want.apply(ws)
		snaps = append(snaps, maps.Clone(want))
		commit(t, db, seq, ws)
		if err := db.waitFlush(); err != nil {
			t.Fatal(err)
		}
	}
	// failFlush commits checkpoint seq of random writes with a guard that lets the freeze
	// pass and refuses the background attempt.
	failFlush := func(db *DB, seq uint64) {
		t.Helper()
		ws := randWrites(rng, 20, 50)
		want.apply(ws)
		snaps = append(snaps, maps.Clone(want))
		if err := db.Append(seq, ws); err != nil {
			t.Fatal(err)
		}
		left.Store(1)
		limited.Store(true)
		if err := db.Committed(seq); err != nil {
			t.Fatal(err)
		}
		if err := db.waitFlush(); err == nil {
			t.Fatal("the flush passed a guard that refused it")
		}
	}
	failFlush(db, 4)
	if !db.Stats().FlushFailed {
		t.Fatal("Stats does not report the failed flush")
	}
	db.mu.RLock()
	imm := db.cur.imm
	db.mu.RUnlock()
	if imm == nil {
		t.Fatal("no frozen memtable after a failed flush")
	}
	// Checkpoint 5 goes to the new WAL and memtable; reads see both memtables and the runs.
	ws := randWrites(rng, 20, 50)
	want.apply(ws)
	snaps = append(snaps, maps.Clone(want))
	if err := db.Append(5, ws); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB, from uint64) {
		t.Helper()
		for seq := from; seq <= 5; seq++ { // snaps[seq-1] is the state at seq
			s, err := db.Snapshot(seq)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(snaps[seq-1], scanAll(t, s, nil, nil)); d != "" {
				t.Fatalf("checkpoint %d: %s", seq, d)
			}
			for k, v := range snaps[seq-1] {
				if got, ok, err := s.Get([]byte(k)); err != nil || !ok || string(got) != v {
					t.Fatalf("checkpoint %d: get %q: %q %v %v", seq, k, got, ok, err)
				}
			}
			s.Release()
		}
	}
	check(db, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wals := func() (n int) {
		for name := range readDir(t, dir) {
			if filepath.Ext(name) == walExt {
				n++
			}
		}
		return n
	}
	if n := wals(); n != 2 {
		t.Fatalf("%d WAL files with a flush pending", n)
	}

	// Reopen at 5: both WALs replay into one memtable; the next commit flushes it all.
	db = mustOpen(t, dir, 5, Options{MemBytes: 64, BlockSize: 256, Logger: quiet()})
	check(db, 3)
	if len(db.sealed) != 1 {
		t.Fatalf("sealed WALs %v", db.sealed)
	}
	if err := db.Committed(5); err != nil {
		t.Fatal(err)
	}
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	check(db, 5)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := wals(); n != 1 {
		t.Fatalf("%d WAL files after the flush", n)
	}

	// In process: a failed attempt is retried by the next commit, which returns its error.
	limited.Store(false)
	db = mustOpen(t, dir, 5, opts)
	defer db.Close()
	failFlush(db, 6)
	limited.Store(false)
	if err := db.Committed(6); err == nil {
		t.Fatal("the commit after a failed flush did not report it")
	}
	if err := db.waitFlush(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Flushes != 1 || st.MemBytes != 0 || st.FlushFailed {
		t.Fatalf("after the retry: %+v", st)
	}
	s, err := db.Snapshot(6)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if d := diff(snaps[5], scanAll(t, s, nil, nil)); d != "" {
		t.Fatal(d)
	}
}

// TestSealedWALs: Open replays the WALs after the manifest's in order, refuses a torn record
// in any but the last, and drops those after a checkpoint the caller did not commit.
func TestSealedWALs(t *testing.T) {
	// Three WALs: the manifest's (checkpoints 1-2), then 3-4, then 5.
	build := func(t *testing.T) (string, []string) {
		dir := t.TempDir()
		db := mustOpen(t, dir, 0, Options{MemBytes: 1 << 30, Logger: quiet()})
		var names []string
		for seq := uint64(1); seq <= 5; seq++ {
			commit(t, db, seq, []ledger.Write{{Key: []byte{'k', byte(seq)}, Value: []byte("v")}})
			if seq == 2 || seq == 4 {
				// Seal the WAL as a freeze does, without the flush.
				w, err := db.createWAL()
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, db.wal.name)
				_ = db.wal.f.Close()
				db.wal = w
			}
		}
		names = append(names, db.wal.name)
		db.Close()
		return dir, names
	}
	keys := func(db *DB, seq uint64) int {
		s, err := db.Snapshot(seq)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		return len(scanAll(t, s, nil, nil))
	}
	dir, _ := build(t)
	db := mustOpen(t, dir, 5, Options{Logger: quiet()})
	if n := keys(db, 5); n != 5 || db.Last() != 5 {
		t.Fatalf("%d keys, last %d", n, db.Last())
	}
	db.Close()

	// Applied 3: the record of 4 and the third WAL go.
	dir, names := build(t)
	db = mustOpen(t, dir, 3, Options{Logger: quiet()})
	if n := keys(db, 3); n != 3 || db.Last() != 3 {
		t.Fatalf("applied 3: %d keys, last %d", n, db.Last())
	}
	db.Close()
	files := readDir(t, dir)
	if _, ok := files[names[2]]; ok {
		t.Fatalf("%s kept after a checkpoint not committed", names[2])
	}
	db = mustOpen(t, dir, 3, Options{Logger: quiet()})
	if err := db.Append(4, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A torn record at the end of a sealed WAL is corruption.
	dir, names = build(t)
	path := filepath.Join(dir, names[1])
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, 5, Options{Logger: quiet()})
	wantErr(t, err, ErrCorrupt, "torn sealed WAL")
}
