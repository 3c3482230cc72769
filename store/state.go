package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store/internal/statedb"
)

// The ledger state is kept outside badger, in statedb (DESIGN.md §2a): one engine per state
// generation, in <dir>/state/<generation>. Badger holds which generation is active (keyGen) and
// the checkpoints; the engine holds every checkpoint's state writes, made durable before the
// checkpoint's badger commit, so that after a crash it holds at least every checkpoint badger
// does, and Open drops the ones badger does not.

// stateRoot is the directory of the state generations.
func (s *Store) stateRoot() string { return filepath.Join(s.engines, "state") }

// stateDir is the directory of state generation gen.
func (s *Store) stateDir(gen byte) string {
	return filepath.Join(s.stateRoot(), strconv.Itoa(int(gen)))
}

func (s *Store) stateOptions() statedb.Options {
	return statedb.Options{
		MemBytes:   s.opts.StateMemBytes,
		Compress:   true,
		VerifyAll:  s.opts.Verify == VerifyFull,
		WriteGuard: s.opts.WriteGuard,
		Logger:     s.log,
		NoSync:     s.opts.InMemory,
	}
}

// stateErr marks the engine's findings about its files as the store's corruption.
func stateErr(err error) error {
	if errors.Is(err, statedb.ErrCorrupt) || errors.Is(err, statedb.ErrMissing) {
		return fmt.Errorf("%w: state: %w", ErrCorrupt, err)
	}
	return err
}

// lastApplied returns the last checkpoint badger holds: the newest checkpoint summary, or the
// checkpoint an imported snapshot starts after, whichever is later (0 for a new store).
func (s *Store) lastApplied() (uint64, error) {
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, keyBase)
		if err != nil || len(raw) != 8 {
			return fmt.Errorf("%w: state base %x: %v", ErrCorrupt, raw, err)
		}
		seq = binary.BigEndian.Uint64(raw)
		p := []byte{pfxSummary}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, Reverse: true, PrefetchValues: false})
		defer it.Close()
		it.Seek(seqKey(pfxSummary, ^uint64(0)))
		if it.ValidForPrefix(p) {
			k := it.Item().Key()
			if len(k) != 9 {
				return fmt.Errorf("%w: summary key %x", ErrCorrupt, k)
			}
			seq = max(seq, binary.BigEndian.Uint64(k[1:]))
		}
		return nil
	})
	return seq, err
}

// openState opens the engine of the active generation at the last checkpoint badger holds and
// removes the directories of other generations (an import that failed or was interrupted, or
// whose old generation was not yet removed). The state of a store without a genesis is removed
// first: it can only be an Init interrupted between the engine and badger.
func (s *Store) openState(gen byte) error {
	if err := os.MkdirAll(s.stateRoot(), 0o700); err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	applied, err := s.lastApplied()
	if err != nil {
		return err
	}
	initialised := true
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(keyGenesis)
		if errors.Is(err, badger.ErrKeyNotFound) {
			initialised = false
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("open state: read genesis: %w", err)
	}
	entries, err := os.ReadDir(s.stateRoot())
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	for _, e := range entries {
		if e.Name() == strconv.Itoa(int(gen)) && initialised {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.stateRoot(), e.Name())); err != nil {
			return fmt.Errorf("open state: remove stale %s: %w", e.Name(), err)
		}
		s.log.Info("removed stale state", "dir", e.Name())
	}
	db, err := statedb.Open(s.stateDir(gen), applied, s.stateOptions())
	if err != nil {
		return fmt.Errorf("open state generation %d at checkpoint %d: %w", gen, applied, stateErr(err))
	}
	s.state, s.applied = db, applied
	// The indexes: one engine for the store's life (an import keeps the indexes of the
	// history before it), written like the state, checkpoint by checkpoint.
	indexDir := filepath.Join(s.engines, "index")
	if !initialised {
		if err := os.RemoveAll(indexDir); err != nil {
			return fmt.Errorf("open indexes: remove stale: %w", err)
		}
	}
	opts := s.stateOptions()
	opts.MemBytes = max(opts.MemBytes/2, 1<<20)
	if s.index, err = statedb.Open(indexDir, applied, opts); err != nil {
		return fmt.Errorf("open indexes at checkpoint %d: %w", applied, stateErr(err))
	}
	return nil
}

// committed tells the engines that checkpoint seq is committed in badger: they may write their
// memtables to runs. A failed flush loses nothing (the writes are in the engine's log) and is
// retried at the next checkpoint.
func (s *Store) committed(seq uint64) {
	for _, e := range []struct {
		name string
		db   *statedb.DB
	}{{"state", s.state}, {"indexes", s.index}} {
		if err := e.db.Committed(seq); err != nil {
			s.log.Warn("flush "+e.name, "seq", seq, "err", err)
		}
	}
}

// closeState closes the engines and, for an in-memory store, removes their directory.
func (s *Store) closeState() error {
	var err error
	s.viewMu.Lock()
	for db := range s.retired {
		err = errors.Join(err, db.Close())
	}
	clear(s.retired)
	s.viewMu.Unlock()
	for _, db := range []**statedb.DB{&s.state, &s.index} {
		if *db != nil {
			err = errors.Join(err, (*db).Close())
			*db = nil
		}
	}
	if s.opts.InMemory && s.engines != "" {
		err = errors.Join(err, os.RemoveAll(s.engines))
	}
	return err
}

// stateReader reads the state of a view without the Close guard (for use inside guarded code
// and before a view is published).
type stateReader struct{ snap *statedb.Snap }

func (r stateReader) Get(key []byte) ([]byte, bool, error) {
	if r.snap == nil {
		return nil, false, ErrClosed
	}
	v, ok, err := r.snap.Get(key)
	if err != nil {
		return nil, false, fmt.Errorf("read state %x: %w", key, stateErr(err))
	}
	return v, ok, nil
}

var _ ledger.StateReader = stateReader{}

// retireState puts an engine replaced by an import aside until no live view reads it, then
// closes it and removes its directory.
func (s *Store) retireState(db *statedb.DB, dir string) {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if s.retired == nil {
		s.retired = map[*statedb.DB]string{}
	}
	s.retired[db] = dir
	s.closeRetiredLocked()
}

// closeRetiredLocked closes and removes the retired engines no live view reads (under viewMu).
func (s *Store) closeRetiredLocked() {
	for db, dir := range s.retired {
		inUse := false
		for v := range s.live {
			if v.db == db && !v.dead.Load() {
				inUse = true
				break
			}
		}
		if inUse {
			continue
		}
		delete(s.retired, db)
		if err := errors.Join(db.Close(), os.RemoveAll(dir)); err != nil {
			s.log.Warn("remove the replaced state (Open retries)", "dir", dir, "err", err)
		}
	}
}

// EngineStats describes one of the store's two engines (the ledger state's, the indexes'),
// for metrics. The counters start at zero when the store opens and when an import replaces
// the state's engine.
type EngineStats struct {
	Bytes       int64 // its runs and logs on disk
	Runs        int   // sorted run files
	MemBytes    int64 // keys and values in memory: the memtable filling and the one being written out
	Flushes     int64 // memtables written out
	Merges      int64 // merges of runs
	FlushFailed bool  // the last flush failed (I/O, or below the disk floor); the next commit retries it
}

// EngineStats returns the statistics of the state's engine and of the indexes'; zeros once
// the store is closed.
func (s *Store) EngineStats() (state, index EngineStats) {
	s.mu.Lock() // s.state changes on an import; the order of Close: mu, then closeMu
	defer s.mu.Unlock()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return EngineStats{}, EngineStats{}
	}
	of := func(db *statedb.DB) EngineStats {
		if db == nil {
			return EngineStats{}
		}
		st := db.Stats()
		return EngineStats{Bytes: st.RunBytes + st.WALBytes, Runs: st.Runs, MemBytes: st.MemBytes,
			Flushes: st.Flushes, Merges: st.Compactions, FlushFailed: st.FlushFailed}
	}
	return of(s.state), of(s.index)
}

// EngineSize returns the bytes on disk of the state's engine and of the indexes' (their runs
// and logs; a merge's output in progress is not counted); zeros once the store is closed.
func (s *Store) EngineSize() (state, index int64) {
	st, ix := s.EngineStats()
	return st.Bytes, ix.Bytes
}
