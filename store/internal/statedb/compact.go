package statedb

import (
	"errors"
	"fmt"
	"time"

	"github.com/jaminan/jaminan/internal/durable"
)

const (
	// minMerge runs of sizes within sizeRatio of each other are merged; at most maxMerge at
	// once.
	minMerge  = 4
	maxMerge  = 16
	sizeRatio = 4
	// maxRuns: above it the smallest minMerge adjacent runs are merged whatever their sizes.
	maxRuns = 24
)

// pickWindow chooses the runs to merge, sizes in age order (newest first): the newest window
// of >= minMerge adjacent runs whose sizes are within a factor sizeRatio of each other (at
// most maxMerge runs); failing that, with more than maxRuns runs, the minMerge adjacent runs
// of the smallest total size. It returns [lo, hi), or ok false.
func pickWindow(sizes []int64) (lo, hi int, ok bool) {
	for i := 0; i+minMerge <= len(sizes); i++ {
		mn, mx := sizes[i], sizes[i]
		j := i + 1
		for ; j < len(sizes) && j-i < maxMerge; j++ {
			s := sizes[j]
			if max(mx, s) > sizeRatio*min(mn, s) {
				break
			}
			mn, mx = min(mn, s), max(mx, s)
		}
		if j-i >= minMerge {
			return i, j, true
		}
	}
	if len(sizes) <= maxRuns {
		return 0, 0, false
	}
	best, bestSum := 0, int64(-1)
	for i := 0; i+minMerge <= len(sizes); i++ {
		var sum int64
		for _, s := range sizes[i : i+minMerge] {
			sum += s
		}
		if bestSum < 0 || sum < bestSum {
			best, bestSum = i, sum
		}
	}
	return best, best + minMerge, true
}

func (db *DB) signalCompact() {
	select {
	case db.compactCh <- struct{}{}:
	default:
	}
}

// compactLoop runs compactions while a window qualifies, after every signal. A failed
// compaction is retried after compactRetry (or the next flush).
func (db *DB) compactLoop() {
	defer db.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-db.stopCh:
			return
		case <-db.compactCh:
		case <-retry.C:
		}
		for !db.stopping.Load() {
			did, err := db.compactOnce()
			if errors.Is(err, errStopped) {
				return
			}
			if err != nil {
				db.log.Warn("compaction failed; will retry", "err", err, "in", compactRetry)
				retry.Reset(compactRetry)
				break
			}
			if !did {
				break
			}
		}
	}
}

// compactOnce merges one window of runs into one, if a window qualifies.
func (db *DB) compactOnce() (bool, error) {
	if db.failure() != nil {
		return false, nil
	}
	db.mu.RLock()
	st := db.cur
	sizes := make([]int64, len(st.runs))
	for i, r := range st.runs {
		sizes[i] = r.size
	}
	lo, hi, ok := pickWindow(sizes)
	var inputs []*run
	if ok {
		inputs = st.runs[lo:hi]
		for _, r := range inputs {
			r.refs.Add(1)
		}
	}
	db.mu.RUnlock()
	if !ok {
		return false, nil
	}
	held := true // the compaction's references to the inputs
	defer func() {
		if held {
			for _, r := range inputs {
				r.unref()
			}
		}
	}()
	if db.opts.WriteGuard != nil {
		if err := db.opts.WriteGuard(); err != nil {
			db.log.Warn("compaction skipped by the write guard", "err", err)
			return false, nil
		}
	}
	start := time.Now()
	// Tombstones go only when nothing older remains below the merged run.
	dropDel := hi == len(st.runs)
	var expect uint64
	for _, r := range inputs {
		expect += r.count
	}
	w, err := createRun(db.dir, db.allocNum(), db.opts, int(min(expect, 1<<40)), db.stopping.Load)
	if err != nil {
		return false, fmt.Errorf("statedb: compact: %w", err)
	}
	its := make([]iterator, len(inputs))
	for i, r := range inputs {
		its[i] = r.iter(compactChunk)
	}
	err = merge(its, func(k, v []byte, del bool) error {
		if del && dropDel {
			return nil
		}
		return w.add(k, v, del)
	})
	if err != nil {
		w.abort()
		if errors.Is(err, errStopped) || db.stopping.Load() {
			return false, errStopped
		}
		return false, fmt.Errorf("statedb: compact into %s: %w", w.name, err)
	}
	out, err := w.finish(inputs[len(inputs)-1].minSeq, inputs[0].maxSeq)
	if err != nil {
		if errors.Is(err, errStopped) {
			return false, errStopped
		}
		return false, fmt.Errorf("statedb: compact: %w", err)
	}
	if out != nil {
		db.adopt(out)
		if err := durable.SyncDir(db.dir); err != nil {
			out.release()
			db.removeFiles([]string{out.name})
			return false, fmt.Errorf("statedb: compact into %s: %w", out.name, err)
		}
	}

	// Install: the new manifest, then the new state, then unlink the inputs.
	db.manMu.Lock()
	db.mu.RLock()
	cur, nextFile := db.cur, db.nextFile
	db.mu.RUnlock()
	at := -1
	for i, r := range cur.runs {
		if r == inputs[0] {
			at = i
			break
		}
	}
	if at < 0 || at+len(inputs) > len(cur.runs) || !sameRuns(cur.runs[at:at+len(inputs)], inputs) {
		db.manMu.Unlock()
		if out != nil {
			out.release()
			db.removeFiles([]string{out.name})
		}
		return false, errors.New("statedb: compact: the merged runs changed meanwhile")
	}
	runs := make([]*run, 0, len(cur.runs)-len(inputs)+1)
	runs = append(runs, cur.runs[:at]...)
	if out != nil {
		runs = append(runs, out)
	}
	runs = append(runs, cur.runs[at+len(inputs):]...)
	man := *cur
	man.runs = runs
	if err := writeManifest(db.dir, man.manifest(nextFile)); err != nil {
		// The manifest on disk may name the new run: keep its file until a later manifest
		// is written.
		if out != nil {
			out.release()
			db.orphans = append(db.orphans, out.name)
		}
		db.manMu.Unlock()
		return false, fmt.Errorf("statedb: compact: %w", err)
	}
	// Only the runs change: the memtable may have been replaced meanwhile (Append).
	db.mu.Lock()
	next := *db.cur
	next.runs = runs
	db.cur = &next
	db.mu.Unlock()
	orphans := db.orphans
	db.orphans = nil
	db.manMu.Unlock()

	names := make([]string, 0, len(inputs)+len(orphans))
	for _, r := range inputs {
		names = append(names, r.name)
	}
	db.removeFiles(append(names, orphans...))
	if err := durable.SyncDir(db.dir); err != nil {
		db.log.Warn("could not sync the directory after a compaction", "err", err)
	}
	// The state's references, then the compaction's: the inputs are closed (unless a
	// snapshot holds them) before the compaction counts as done.
	for _, r := range inputs {
		r.unref()
		r.unref()
	}
	held = false
	db.compactions.Add(1)
	attrs := []any{"inputs", len(inputs), "took", time.Since(start)}
	if out != nil {
		attrs = append(attrs, "run", out.name, "bytes", out.size, "keys", out.count)
	}
	db.log.Debug("compacted runs", attrs...)
	return true, nil
}

func sameRuns(a, b []*run) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
