package statedb

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jaminan/jaminan/internal/durable"
	"github.com/jaminan/jaminan/ledger"
)

// flushItem is a memtable key being flushed, with its newest version <= the flushed seq.
type flushItem struct {
	val   []byte
	del   bool
	write bool // the version goes to the run
	carry bool // versions after the flushed seq stay in memory
	ent   uint32
}

// flush writes the versions <= upTo of the memtable of st as a new run and moves the later
// ones to a new memtable and WAL; then the new manifest commits the change. Called with wmu
// held.
func (db *DB) flush(st *state, upTo uint64) error {
	what := fmt.Sprintf("statedb: flush up to checkpoint %d", upTo)
	if db.opts.WriteGuard != nil {
		if err := db.opts.WriteGuard(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	start := time.Now()
	// Tombstones are needed only if older runs may hold the key (compaction never adds runs).
	dropDel := len(st.runs) == 0
	var minSeq uint64
	if st.flushedValid {
		minSeq = st.flushed + 1
	}
	mem := st.mem
	mem.mu.RLock()
	w, err := createRun(db.dir, db.allocNum(), db.opts, len(mem.idx), nil)
	if err != nil {
		mem.mu.RUnlock()
		return fmt.Errorf("%s: %w", what, err)
	}
	// One pass in memory order (cache friendly) picks the versions and fills the bloom
	// filter; the sorted pass then touches only the keys and values it writes.
	w.extBloom = true
	items := make([]flushItem, 0, len(mem.idx))
	order := make([]sortItem, 0, len(mem.idx))
	for c, chunk := range mem.ents {
		for i := range chunk {
			e := &chunk[i]
			if e.last.seq == deadSeq {
				continue
			}
			it := flushItem{carry: e.last.seq > upTo, ent: uint32(c<<entShift | i)}
			if v, ok := e.at(upTo); ok && !(v.del && dropDel) {
				it.write, it.val, it.del = true, v.val, v.del
				bloomAdd(w.bloom, w.nbits, hashKeyString(e.key))
			}
			if it.write || it.carry {
				order = append(order, sortItem{pfx: prefix64s(e.key), key: e.key, i: uint32(len(items))})
				items = append(items, it)
			}
		}
	}
	seqs := slices.Clone(mem.seqs)
	mem.mu.RUnlock()
	slices.SortFunc(order, cmpSortItem)

	carries := 0
	for i := range items {
		if items[i].carry {
			carries++
		}
	}
	newMem := newMemtable(carries)
	carried := map[uint64][]ledger.Write{}
	var kb []byte
	for _, o := range order {
		it := &items[o.i]
		if it.write {
			kb = append(kb[:0], o.key...)
			if err := w.add(kb, it.val, it.del); err != nil {
				w.abort()
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if !it.carry {
			continue
		}
		mem.mu.RLock()
		e := mem.ent(it.ent)
		for _, v := range append(slices.Clone(e.prev), e.last) {
			if v.seq > upTo {
				carried[v.seq] = append(carried[v.seq], ledger.Write{Key: []byte(e.key), Value: v.val, Delete: v.del})
			}
		}
		mem.mu.RUnlock()
	}
	r, err := w.finish(minSeq, upTo)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dropRun := func() {
		if r != nil {
			r.release()
			_ = os.Remove(r.path)
		}
	}
	if r != nil {
		db.adopt(r)
	}

	// The new WAL starts with the checkpoints after upTo.
	wal, err := db.createWAL()
	if err != nil {
		dropRun()
		return fmt.Errorf("%s: %w", what, err)
	}
	var buf []byte
	for _, s := range seqs {
		if s <= upTo {
			continue
		}
		ws := carried[s]
		buf = appendRecord(buf[:0], s, ws)
		newMem.apply(s, ws)
		if _, err := wal.f.Write(buf); err != nil {
			dropRun()
			wal.remove()
			return fmt.Errorf("%s: write %s: %w", what, wal.name, err)
		}
		wal.size += int64(len(buf))
	}
	err = wal.f.Sync()
	if err == nil {
		err = durable.SyncDir(db.dir)
	}
	if err != nil {
		dropRun()
		wal.remove()
		return fmt.Errorf("%s: sync %s: %w", what, wal.name, err)
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
	next := &state{mem: newMem, runs: runs, flushed: upTo, flushedValid: true, wal: wal.num}
	if err := writeManifest(db.dir, next.manifest(nextFile)); err != nil {
		db.manMu.Unlock()
		// The manifest on disk may be the old or the new one: stop writing.
		err = fmt.Errorf("%s: %w", what, err)
		db.fail(err)
		return err
	}
	db.mu.Lock()
	db.cur = next
	db.mu.Unlock()
	orphans := db.orphans
	db.orphans = nil
	db.manMu.Unlock()

	old := db.wal
	db.wal = wal
	db.walBytes.Store(wal.size)
	_ = old.f.Close()
	if err := os.Remove(filepath.Join(db.dir, old.name)); err != nil {
		db.log.Warn("could not remove the old WAL", "file", old.name, "err", err)
	}
	db.removeFiles(orphans)
	if err := durable.SyncDir(db.dir); err != nil {
		db.log.Warn("could not sync the directory after a flush", "err", err)
	}
	db.flushes.Add(1)
	attrs := []any{"upTo", upTo, "keys", len(items), "took", time.Since(start)}
	if r != nil {
		attrs = append(attrs, "run", r.name, "bytes", r.size)
	}
	db.log.Debug("flushed the memtable", attrs...)
	return nil
}
