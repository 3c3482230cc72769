package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"

	"github.com/jaminan/jaminan/store/internal/badgerfix"
)

// Key layout: one prefix byte, then for log entries the big-endian index so
// that badger's byte order is index order, and for stable keys the raw key.
const (
	prefixLog    byte = 0x01
	prefixStable byte = 0x02
)

// ErrKeyNotFound is returned by Get and GetUint64 for a key that was never set.
// Its text is exactly "not found" because hashicorp/raft v1.8.0 compares
// err.Error() with that string in NewRaft and HasExistingState; it is
// therefore returned unwrapped.
var ErrKeyNotFound = errors.New("not found")

// ErrClosed is wrapped by the errors of calls made after Close.
var ErrClosed = errors.New("raft log store closed")

// Store is a raft.LogStore and raft.StableStore on a dedicated badger
// database. Every write is durable when the call returns (the database is
// opened with SyncWrites). Methods are safe for concurrent use.
type Store struct {
	db     *badger.DB
	guard  func() error
	log    *slog.Logger
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
	err    error
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// Option configures Open.
type Option func(*config)

type config struct {
	logger     *slog.Logger
	gcInterval time.Duration
	guard      func() error
}

// WithWriteGuard makes StoreLogs and DeleteRange ask guard first and fail with its error, writing
// nothing: a node passes its free-space floor, so that badger is not let write files it cannot
// create (raft takes a failed StoreLogs as a failed append, not as a crash). The stable store's
// Set is not guarded: raft panics when it cannot save its term, and its writes are tiny.
func WithWriteGuard(guard func() error) Option {
	return func(c *config) { c.guard = guard }
}

// WithLogger sends the store's and badger's logs to l (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithValueLogGCInterval sets how often the value log is garbage collected
// (default 5 minutes; 0 disables it). Only entries larger than the value
// threshold (1 MiB) live in the value log, so this is mostly a no-op.
func WithValueLogGCInterval(d time.Duration) Option {
	return func(c *config) { c.gcInterval = d }
}

// Open opens or creates the raft log database in dir, which must not be
// shared with any other badger database.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{logger: slog.Default(), gcInterval: 5 * time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	logger := cfg.logger.With("component", "raftlog")
	removed, err := badgerfix.RemoveEmptyMemtables(dir)
	if err != nil {
		return nil, fmt.Errorf("open raft log database %s: %w", dir, err)
	}
	if len(removed) > 0 {
		logger.Warn("removed empty memtable logs a crash left", "files", removed)
	}
	db, err := badger.Open(badgerOptions(dir, logger))
	if err != nil {
		return nil, fmt.Errorf("open raft log database %s: %w", dir, err)
	}
	s := &Store{db: db, guard: cfg.guard, log: logger, stop: make(chan struct{})}
	if cfg.gcInterval > 0 {
		s.wg.Add(1)
		go s.gcLoop(cfg.gcInterval)
	}
	return s, nil
}

// badgerOptions is the profile of the raft log database. Reasons:
//   - SyncWrites: raft requires StoreLogs and Set to be on disk when they
//     return. With SyncWrites badger msyncs the memtable WAL inside its
//     single write goroutine right after the write. The alternative, a
//     db.Sync() after each commit, was no faster in BenchmarkStoreLogs
//     (quiet run: 0.30 vs 0.24 ms for 1 entry, 2.6 vs 2.1 ms for 256; it
//     also fsyncs the value log), and it can miss a write that landed in a
//     memtable rotated away by a concurrent commit, as it syncs only the
//     current memtable's WAL.
//   - 16 MiB memtables, 2 of them: the raft log is small and short-lived;
//     16 MiB keeps the default 1 MiB value threshold valid (it must be
//     at most 15% of the memtable) so nearly every entry stays in the LSM
//     tree and is reclaimed by compaction after DeleteRange.
//   - No compression, so no block cache is required; a small 8 MiB one
//     serves reads that miss raft's LogCache.
//   - 2 compactors (1 is rejected by badger), conflict detection off
//     (raft serialises writes and never reads-modifies-writes in a txn).
func badgerOptions(dir string, logger *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(8 << 20).
		WithCompression(badgerNoCompression).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(slogAdapter{logger.With("component", "badger")})
}

// Close stops background work and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.closed.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if err := s.db.Close(); err != nil {
			s.err = fmt.Errorf("close raft log database: %w", err)
		}
	})
	return s.err
}

func (s *Store) gcLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for {
			err := s.db.RunValueLogGC(0.5)
			if err == nil {
				continue
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("raft log value log gc", "error", err)
			}
			break
		}
	}
}

func logKey(idx uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], idx)
	return k
}

func stableKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = prefixStable
	copy(k[1:], key)
	return k
}

// indexOf returns the index encoded in a log key, or an error for a key that
// is not one.
func indexOf(key []byte) (uint64, error) {
	if len(key) != 9 || key[0] != prefixLog {
		return 0, fmt.Errorf("%w: malformed log key %x", ErrCorrupt, key)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}

func (s *Store) checkOpen() error {
	if s.db.IsClosed() {
		return ErrClosed
	}
	return nil
}

// FirstIndex returns the first stored index, or 0 when the log is empty.
func (s *Store) FirstIndex() (uint64, error) {
	idx, err := s.edgeIndex(false)
	if err != nil {
		return 0, fmt.Errorf("raft log first index: %w", err)
	}
	return idx, nil
}

// LastIndex returns the last stored index, or 0 when the log is empty.
func (s *Store) LastIndex() (uint64, error) {
	idx, err := s.edgeIndex(true)
	if err != nil {
		return 0, fmt.Errorf("raft log last index: %w", err)
	}
	return idx, nil
}

// edgeIndex seeks to the first or, with reverse, the last log key. A reverse
// seek must start at prefix+0xFF… because seeking to the bare prefix lands
// before every key that has it.
func (s *Store) edgeIndex(reverse bool) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var idx uint64
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{prefixLog}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: reverse})
		defer it.Close()
		seek := prefix
		if reverse {
			seek = logKey(^uint64(0))
		}
		it.Seek(seek)
		if !it.ValidForPrefix(prefix) {
			return nil
		}
		var err error
		idx, err = indexOf(it.Item().Key())
		return err
	})
	return idx, err
}

// GetLog reads the entry at index into l. It returns raft.ErrLogNotFound,
// unwrapped as raft expects, when there is none, and an error wrapping
// ErrCorrupt when the stored value cannot be decoded.
func (s *Store) GetLog(index uint64, l *raft.Log) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("get raft log %d: %w", index, err)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logKey(index))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeLog(v, l) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("get raft log %d: %w", index, err)
	}
	if l.Index != index {
		return fmt.Errorf("get raft log %d: %w: value holds index %d", index, ErrCorrupt, l.Index)
	}
	return nil
}

// StoreLog stores one entry durably.
func (s *Store) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores entries durably in one badger transaction. When the batch
// exceeds badger's transaction limit it is committed in several
// transactions; raft tolerates a prefix being stored if an error is returned.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("store raft logs: %w", err)
	}
	if len(logs) == 0 {
		return nil
	}
	if s.guard != nil {
		if err := s.guard(); err != nil {
			return fmt.Errorf("store raft logs %d-%d: %w", logs[0].Index, logs[len(logs)-1].Index, err)
		}
	}
	size := 0
	for _, l := range logs {
		size += encodedLen(l)
	}
	// One buffer for all values: badger keeps references to them until commit.
	buf := make([]byte, 0, size)
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, l := range logs {
		start := len(buf)
		buf = encodeLog(buf, l)
		key, val := logKey(l.Index), buf[start:len(buf):len(buf)]
		err := txn.Set(key, val)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("store raft log %d: commit partial batch: %w", l.Index, err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(key, val)
		}
		if err != nil {
			return fmt.Errorf("store raft log %d: %w", l.Index, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store raft logs %d-%d: commit: %w", logs[0].Index, logs[len(logs)-1].Index, err)
	}
	return nil
}

// DeleteRange deletes the entries from min to max inclusive. Deletes are
// blind and idempotent, so a WriteBatch, which may split into several
// transactions, is enough.
func (s *Store) DeleteRange(min, max uint64) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("delete raft logs %d-%d: %w", min, max, err)
	}
	if min > max {
		return nil
	}
	if s.guard != nil {
		if err := s.guard(); err != nil {
			return fmt.Errorf("delete raft logs %d-%d: %w", min, max, err)
		}
	}
	// Delete only keys that exist: raft calls DeleteRange(first, x) after a
	// snapshot, but also with ranges it never wrote, e.g. after a restore.
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{prefixLog}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(logKey(min)); it.ValidForPrefix(prefix); it.Next() {
			idx, err := indexOf(it.Item().Key())
			if err != nil {
				return err
			}
			if idx > max {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete raft logs %d-%d: scan: %w", min, max, err)
	}
	if len(keys) == 0 {
		return nil
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("delete raft logs %d-%d: %w", min, max, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("delete raft logs %d-%d: flush: %w", min, max, err)
	}
	return nil
}

// Set stores a stable key durably.
func (s *Store) Set(key, val []byte) error {
	if err := s.checkOpen(); err != nil {
		return fmt.Errorf("set raft stable key %q: %w", key, err)
	}
	v := append([]byte(nil), val...)
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stableKey(key), v)
	})
	if err != nil {
		return fmt.Errorf("set raft stable key %q: %w", key, err)
	}
	return nil
}

// Get returns the value of a stable key, or ErrKeyNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("get raft stable key %q: %w", key, err)
	}
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get raft stable key %q: %w", key, err)
	}
	return val, nil
}

// SetUint64 stores a stable key holding a big-endian uint64.
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 returns a stable uint64, or ErrKeyNotFound.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("get raft stable key %q: %w: %d bytes, want 8", key, ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// NewCached wraps store in raft's LogCache holding the last capacity entries,
// so that replication and applies rarely read the database.
func NewCached(store raft.LogStore, capacity int) (*raft.LogCache, error) {
	c, err := raft.NewLogCache(capacity, store)
	if err != nil {
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	return c, nil
}
