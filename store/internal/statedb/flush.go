package statedb

import (
	"errors"
	"fmt"
	"time"

	"github.com/jaminan/jaminan/internal/durable"
)

// A flush turns the memtable into a run in two steps. Committed freezes it, under wmu: a new
// WAL takes the Appends from then on and a new, empty memtable takes their writes, while the
// frozen one (state.imm) stays readable. A goroutine then writes the frozen memtable as a run
// and installs it: the new manifest names the run, the flushed seq and the new WAL; then the
// state drops the frozen memtable and the WALs before the new one are removed. Until that
// manifest is written the old manifest names the oldest WAL still needed, and Open replays it
// and every WAL after it, so a crash at any point loses nothing.
//
// Only a memtable of committed checkpoints is frozen (the store commits each checkpoint right
// after appending it), so nothing of it is ever replaced and a flush carries nothing over.

// flushJob is the flush of one frozen memtable; it stays pending until an attempt succeeds.
type flushJob struct {
	imm  *memtable
	upTo uint64   // its newest checkpoint
	wal  uint64   // the WAL started at the freeze: the manifest's once the run is in
	drop []string // the WAL files the run makes unnecessary
	att  *flushAttempt
}

// flushAttempt is one try of a flushJob.
type flushAttempt struct {
	done chan struct{} // closed when the attempt ended
	err  error         // its outcome, set before done is closed
}

// maybeFlush finishes (or retries) the pending flush and freezes a full memtable. Called with
// wmu held.
func (db *DB) maybeFlush() error {
	db.mu.RLock()
	st := db.cur
	db.mu.RUnlock()
	full := st.mem.bytes.Load() >= db.opts.MemBytes
	if j := db.job; j != nil {
		if full {
			<-j.att.done // back-pressure: the flush falls behind the writes
		}
		select {
		case <-j.att.done:
		default:
			return nil // still running, and there is room
		}
		if err := j.att.err; err != nil {
			db.startFlush(j) // again, in the background; the memtable grows meanwhile
			return err
		}
		db.job = nil
		db.mu.RLock()
		st = db.cur
		db.mu.RUnlock()
	}
	if !full {
		return nil
	}
	st.mem.mu.RLock()
	upTo, ok := st.mem.lastSeq()
	st.mem.mu.RUnlock()
	if !ok || !db.committedValid || upTo > db.committed {
		return nil // flushed once its checkpoints are committed
	}
	what := fmt.Sprintf("statedb: flush up to checkpoint %d", upTo)
	if db.opts.WriteGuard != nil {
		if err := db.opts.WriteGuard(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	wal, err := db.createWAL()
	if err == nil {
		if err = durable.SyncDir(db.dir); err != nil {
			wal.remove()
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	old := db.wal
	db.wal = wal
	db.walBytes.Store(0)
	_ = old.f.Close()
	j := &flushJob{imm: st.mem, upTo: upTo, wal: wal.num, drop: append(db.sealed, old.name)}
	db.sealed = nil
	st.mem.mu.RLock()
	hint := len(st.mem.idx)
	st.mem.mu.RUnlock()
	db.mu.Lock()
	next := *db.cur
	// The next memtable will hold about as many keys as this one: presized, its index does
	// not rehash as it grows (that was 7 % of the store's apply).
	next.mem, next.imm = newMemtable(hint), st.mem
	db.cur = &next
	db.mu.Unlock()
	db.job = j
	db.startFlush(j)
	return nil
}

// startFlush runs an attempt of j in the background.
func (db *DB) startFlush(j *flushJob) {
	att := &flushAttempt{done: make(chan struct{})}
	j.att = att
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		att.err = db.flush(j)
		db.flushFailed.Store(att.err != nil && !errors.Is(att.err, errStopped))
		close(att.done)
		if att.err == nil {
			db.signalCompact()
		} else if !errors.Is(att.err, errStopped) {
			db.log.Warn("flush failed; the next commit tries again", "err", att.err)
		}
	}()
}

// waitFlush waits for the pending flush's current attempt (tests).
func (db *DB) waitFlush() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.job == nil {
		return nil
	}
	<-db.job.att.done
	if err := db.job.att.err; err != nil {
		return err
	}
	db.job = nil
	return nil
}

// flush writes j's frozen memtable as a new run and installs it.
func (db *DB) flush(j *flushJob) error {
	what := fmt.Sprintf("statedb: flush up to checkpoint %d", j.upTo)
	if db.opts.WriteGuard != nil {
		if err := db.opts.WriteGuard(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	start := time.Now()
	db.mu.RLock()
	st := db.cur
	db.mu.RUnlock()
	// Tombstones are needed only if older runs may hold the key (runs are added only by
	// flushes, one at a time).
	dropDel := len(st.runs) == 0
	var minSeq uint64
	if st.flushedValid {
		minSeq = st.flushed + 1
	}
	mem := j.imm
	mem.mu.RLock() // frozen: nothing writes it, but its readers lock
	w, err := createRun(db.dir, db.allocNum(), db.opts, len(mem.idx), db.stopping.Load)
	if err != nil {
		mem.mu.RUnlock()
		return fmt.Errorf("%s: %w", what, err)
	}
	// One pass in memory order (cache friendly) fills the bloom filter; the sorted pass then
	// touches only the keys and values it writes.
	w.extBloom = true
	order := make([]sortItem, 0, len(mem.idx))
	for c, chunk := range mem.ents {
		for i := range chunk {
			e := &chunk[i]
			if e.last.seq == deadSeq || (e.last.del && dropDel) {
				continue
			}
			bloomAdd(w.bloom, w.nbits, hashKeyString(e.key))
			order = append(order, sortItem{pfx: prefix64s(e.key), key: e.key, i: uint32(c<<entShift | i)})
		}
	}
	mem.mu.RUnlock()
	sortItems(order)
	var kb []byte
	for _, o := range order {
		e := mem.ent(o.i)
		kb = append(kb[:0], o.key...)
		if err := w.add(kb, e.last.val, e.last.del); err != nil {
			w.abort()
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	r, err := w.finish(minSeq, j.upTo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dropRun := func() {
		if r != nil {
			r.release()
			db.removeFiles([]string{r.name})
		}
	}
	if r != nil {
		db.adopt(r)
		if err := durable.SyncDir(db.dir); err != nil {
			dropRun()
			return fmt.Errorf("%s: %w", what, err)
		}
	}

	// Commit: the new manifest, then the new state.
	db.manMu.Lock()
	db.mu.RLock()
	cur, nextFile := db.cur, db.nextFile
	db.mu.RUnlock()
	runs := cur.runs
	if r != nil {
		runs = append([]*run{r}, cur.runs...)
	}
	man := state{runs: runs, flushed: j.upTo, flushedValid: true, wal: j.wal}
	if err := writeManifest(db.dir, man.manifest(nextFile)); err != nil {
		db.manMu.Unlock()
		// The manifest on disk may be the old or the new one: stop writing.
		err = fmt.Errorf("%s: %w", what, err)
		db.fail(err)
		return err
	}
	// The memtable may have been replaced meanwhile (Append), the runs not (manMu).
	db.mu.Lock()
	next := *db.cur
	next.imm, next.runs, next.flushed, next.flushedValid, next.wal = nil, runs, j.upTo, true, j.wal
	db.cur = &next
	db.mu.Unlock()
	orphans := db.orphans
	db.orphans = nil
	db.manMu.Unlock()

	db.removeFiles(append(j.drop, orphans...))
	if err := durable.SyncDir(db.dir); err != nil {
		db.log.Warn("could not sync the directory after a flush", "err", err)
	}
	db.flushes.Add(1)
	attrs := []any{"upTo", j.upTo, "keys", len(order), "took", time.Since(start)}
	if r != nil {
		attrs = append(attrs, "run", r.name, "bytes", r.size)
	}
	db.log.Debug("flushed the memtable", attrs...)
	return nil
}
