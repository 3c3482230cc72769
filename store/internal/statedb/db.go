package statedb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jaminan/jaminan/internal/durable"
	"github.com/jaminan/jaminan/ledger"
)

// Options configures a DB.
type Options struct {
	// MemBytes is the memtable flush threshold in bytes of keys+values (0 → 32 MiB).
	MemBytes int64
	// BlockSize is the target uncompressed data block size (0 → 4096, at most 1 MiB).
	BlockSize int
	// Compress compresses data blocks with S2 (a flag per block; kept only if it saves 1/8).
	Compress bool
	// VerifyAll makes Open read and check every block of every run, not only each run's
	// footer, index and bloom filter.
	VerifyAll bool
	// WriteGuard, if set, is called before a flush or a compaction writes a file. An error
	// skips the compaction (logged as a warning) or fails the flush (returned by Committed).
	WriteGuard func() error
	// Logger receives the engine's logs (nil → slog.Default()), with component=statedb.
	Logger *slog.Logger
	// NoSync skips the log's fsync on Append: for an engine that need not survive a crash (the
	// store's in-memory mode, for tests). Flushes and compactions still sync.
	NoSync bool
}

const (
	defaultMemBytes  = 32 << 20
	defaultBlockSize = 4096
	maxBlockSize     = 1 << 20
	// compactRetry is how long a failed compaction waits before it is tried again (a flush
	// also triggers it).
	compactRetry = 10 * time.Second
	// walBufMax bounds the WAL record buffer kept between Appends.
	walBufMax = 8 << 20
)

func (o Options) withDefaults() Options {
	if o.MemBytes <= 0 {
		o.MemBytes = defaultMemBytes
	}
	if o.BlockSize <= 0 {
		o.BlockSize = defaultBlockSize
	}
	o.BlockSize = min(o.BlockSize, maxBlockSize)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "statedb")
	return o
}

// Errors of the engine; returned errors wrap them with what was being done.
var (
	// ErrCorrupt: a checksum, format or missing-file problem in the engine's files.
	ErrCorrupt = errors.New("statedb: corrupt")
	// ErrClosed: the DB (or the snapshot) is closed.
	ErrClosed = errors.New("statedb: closed")
	// ErrOrder: a checkpoint or key out of order.
	ErrOrder = errors.New("statedb: out of order")
	// ErrFailed: a WAL or manifest write failed earlier; the DB takes no more writes.
	ErrFailed = errors.New("statedb: failed earlier")
	// ErrMissing: the engine holds fewer checkpoints than the caller committed or asks for.
	ErrMissing = errors.New("statedb: writes missing")
)

// state is one immutable view of which memtables and runs hold the state.
type state struct {
	mem          *memtable // takes the Appends
	imm          *memtable // frozen, being flushed (nil if none): every version older than mem's
	runs         []*run    // newest first
	flushed      uint64    // the runs hold the state as of this checkpoint (if flushedValid)
	flushedValid bool
	wal          uint64 // the first WAL file to replay (the manifest's)
}

// DB is the state engine of one node. Append, Committed and Close are serialised; Snapshot
// and reads through snapshots may run concurrently with everything.
type DB struct {
	dir  string
	opts Options
	log  *slog.Logger

	wmu            sync.Mutex // Append, Committed (flush), Close
	wal            *walFile   // under wmu
	walBuf         []byte     // under wmu
	committed      uint64     // under wmu
	committedValid bool       // under wmu
	sealed         []string   // under wmu: WAL files before wal, until a flush covers them
	job            *flushJob  // under wmu: the flush of the frozen memtable, until it succeeds

	manMu   sync.Mutex // manifest writes and the installs that go with them
	orphans []string   // under manMu: files to remove after the next manifest write

	mu       sync.RWMutex
	cur      *state // under mu
	nextFile uint64 // under mu

	liveMu sync.Mutex
	live   map[*run]struct{} // every run file open

	last     atomic.Uint64
	hasAny   atomic.Bool
	closed   atomic.Bool
	stopping atomic.Bool
	failMu   sync.Mutex
	failErr  error

	compactCh chan struct{}
	stopCh    chan struct{}
	wg        sync.WaitGroup

	walBytes    atomic.Int64
	flushes     atomic.Int64
	compactions atomic.Int64
	flushFailed atomic.Bool // the last flush attempt failed
}

// Open opens or creates the engine in dir (created if absent). applied is the last
// checkpoint seq the caller has committed (0 = genesis only, or nothing). WAL entries with
// seq <= applied are replayed into the memtable; entries with seq > applied were never
// committed and are discarded (the WAL is truncated to drop them). If the engine's newest
// seq (highest WAL entry, or the manifest's flushed seq) is < applied → ErrMissing. A fresh
// directory with applied == 0 is fine (empty state, Last() == 0 with HasAny false). Files
// not named in the manifest (leftovers of an interrupted flush or compaction: run files,
// WAL files, *.tmp) are removed. A run named in the manifest that is missing, truncated or
// fails its checksums → ErrCorrupt with the file name. Never panics on any file content.
func Open(dir string, applied uint64, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statedb: open %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("statedb: open %s: %w", dir, err)
	}
	man, err := readManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("statedb: open %s: %w", dir, err)
	}
	if man == nil {
		for _, e := range ents {
			if _, _, ok := parseFileName(e.Name()); ok {
				return nil, fmt.Errorf("statedb: open %s: %w", dir, corruptf("no %s, but %s is present", manifestName, e.Name()))
			}
		}
		if applied > 0 {
			return nil, fmt.Errorf("statedb: open %s: empty, the caller committed checkpoint %d: %w", dir, applied, ErrMissing)
		}
		man = &manifest{nextFile: 2, wal: 1}
		if err := writeManifest(dir, man); err != nil {
			return nil, fmt.Errorf("statedb: create in %s: %w", dir, err)
		}
	}
	if man.flushedValid && man.flushed > applied {
		return nil, fmt.Errorf("statedb: open %s: the runs hold checkpoint %d, the caller committed only %d: %w",
			dir, man.flushed, applied, ErrOrder)
	}

	db := &DB{
		dir: dir, opts: opts, log: opts.Logger,
		live:      make(map[*run]struct{}),
		compactCh: make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		nextFile:  man.nextFile,
	}
	ok := false
	var runs []*run
	defer func() {
		if !ok {
			for _, r := range runs {
				r.release()
			}
		}
	}()
	for _, m := range man.runs {
		r, err := openRun(dir, m.num, m.size, opts.VerifyAll)
		if err != nil {
			return nil, err
		}
		r.onClose = db.forget
		runs = append(runs, r)
	}
	if err := checkRunSeqs(runs, man.flushed); err != nil {
		return nil, fmt.Errorf("statedb: open %s: %w", dir, err)
	}

	wals, mem, res, err := openWALs(dir, ents, man, applied)
	if err != nil {
		return nil, err
	}
	wal := wals.active
	defer func() {
		if !ok {
			_ = wal.f.Close()
		}
	}()
	if (res.have && res.newest < applied) || (!res.have && applied > 0) {
		newest := "none"
		if res.have {
			newest = fmt.Sprint(res.newest)
		}
		return nil, fmt.Errorf("statedb: open %s: newest checkpoint %s, the caller committed %d: %w", dir, newest, applied, ErrMissing)
	}

	// Everything checks out: now change files.
	if err := removeLeftovers(dir, ents, man, wals.discard); err != nil {
		return nil, err
	}
	if res.end < wal.size {
		if err := wal.f.Truncate(res.end); err != nil {
			return nil, fmt.Errorf("statedb: truncate %s: %w", wal.name, err)
		}
		if err := wal.f.Sync(); err != nil {
			return nil, fmt.Errorf("statedb: sync %s: %w", wal.name, err)
		}
		if res.torn != "" {
			opts.Logger.Warn("dropped the torn tail of the WAL", "file", wal.name, "offset", res.end, "reason", res.torn)
		} else {
			opts.Logger.Info("dropped uncommitted checkpoints from the WAL", "file", wal.name, "after", applied)
		}
		wal.size = res.end
	}
	if _, err := wal.f.Seek(wal.size, io.SeekStart); err != nil {
		return nil, fmt.Errorf("statedb: seek %s: %w", wal.name, err)
	}

	last, has := man.flushed, man.flushedValid
	if s, ok := mem.lastSeq(); ok {
		last, has = s, true
	}
	db.last.Store(last)
	db.hasAny.Store(has)
	db.committed, db.committedValid = applied, applied > 0
	db.wal = wal
	db.sealed = wals.sealed
	db.nextFile = max(db.nextFile, wals.maxNum+1)
	db.walBytes.Store(wal.size)
	db.cur = &state{mem: mem, runs: runs, flushed: man.flushed, flushedValid: man.flushedValid, wal: man.wal}
	for _, r := range runs {
		db.live[r] = struct{}{}
	}
	ok = true
	db.wg.Add(1)
	go db.compactLoop()
	db.signalCompact()
	return db, nil
}

// checkRunSeqs checks that the runs (newest first) cover disjoint, descending checkpoint
// ranges, none beyond the flushed seq.
func checkRunSeqs(runs []*run, flushed uint64) error {
	for i, r := range runs {
		if i == 0 && r.maxSeq > flushed {
			return corruptf("run %s holds checkpoint %d, beyond the flushed %d", r.name, r.maxSeq, flushed)
		}
		if i > 0 && r.maxSeq >= runs[i-1].minSeq {
			return corruptf("run %s (checkpoints %d..%d) overlaps the newer %s (%d..%d)",
				r.name, r.minSeq, r.maxSeq, runs[i-1].name, runs[i-1].minSeq, runs[i-1].maxSeq)
		}
	}
	return nil
}

// walSet is what Open found in the WALs: the one Appends go on writing, the sealed ones
// before it (written before a flush that did not complete), and the files after a checkpoint
// the caller never committed, which Open removes.
type walSet struct {
	active  *walFile
	sealed  []string
	discard []string
	maxNum  uint64
}

// openWALs replays, in file order, the manifest's WAL and every WAL file numbered after it
// (each flush starts a new WAL when it freezes the memtable, before its manifest names the
// new one) into a new memtable.
func openWALs(dir string, ents []fs.DirEntry, man *manifest, applied uint64) (walSet, *memtable, replayResult, error) {
	var set walSet
	nums := []uint64{man.wal}
	for _, e := range ents {
		if num, ext, ok := parseFileName(e.Name()); ok && ext == walExt && num > man.wal {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	set.maxNum = nums[len(nums)-1]
	mem := newMemtable(0)
	var res replayResult
	for i, num := range nums {
		name := walName(num)
		path := filepath.Join(dir, name)
		if res.stopped {
			// Only checkpoints after the one that stopped the replay: never committed.
			set.discard = append(set.discard, name)
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) && i == 0 && !man.flushedValid {
			// A fresh engine's WAL is created right after its first manifest.
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				err = durable.SyncDir(dir)
			}
		} else if errors.Is(err, fs.ErrNotExist) {
			return set, nil, replayResult{}, fmt.Errorf("statedb: open WAL %s: %w", name, corruptf("file missing"))
		}
		if err != nil {
			return set, nil, replayResult{}, fmt.Errorf("statedb: open WAL %s: %w", name, err)
		}
		st, err := f.Stat()
		if err == nil {
			res, err = replayWAL(f, st.Size(), man.flushed, man.flushedValid, applied, res, func(seq uint64, ws []ledger.Write, replace bool) {
				if replace {
					mem.dropSeq(seq)
				}
				mem.apply(seq, ws)
			})
			if err != nil {
				err = fmt.Errorf("statedb: replay WAL %s: %w", name, err)
			}
		}
		if err == nil && res.torn != "" && i < len(nums)-1 {
			// A WAL is sealed only after its last record was synced.
			err = fmt.Errorf("statedb: replay WAL %s: %w", name, corruptf("torn record (%s) in a sealed WAL", res.torn))
		}
		if err != nil {
			_ = f.Close()
			if set.active != nil {
				_ = set.active.f.Close()
			}
			return set, nil, res, err
		}
		if set.active != nil {
			_ = set.active.f.Close()
			set.sealed = append(set.sealed, set.active.name)
		}
		set.active = &walFile{num: num, name: name, f: f, size: st.Size()}
	}
	return set, mem, res, nil
}

// removeLeftovers removes the run files the manifest does not name, the WAL files before its
// WAL and those in discard, and *.tmp files.
func removeLeftovers(dir string, ents []fs.DirEntry, man *manifest, discard []string) error {
	keep := map[uint64]bool{}
	for _, r := range man.runs {
		keep[r.num] = true
	}
	removed := false
	for _, e := range ents {
		name := e.Name()
		num, ext, ok := parseFileName(name)
		switch {
		case ok && ext == runExt && keep[num], ok && ext == walExt && num >= man.wal && !slices.Contains(discard, name):
			continue
		case ok, strings.HasSuffix(name, tmpExt):
		default:
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("statedb: remove leftover %s: %w", name, err)
		}
		removed = true
	}
	if removed {
		if err := durable.SyncDir(dir); err != nil {
			return fmt.Errorf("statedb: remove leftovers: %w", err)
		}
	}
	return nil
}

// forget drops a closed run from the set of open files.
func (db *DB) forget(r *run) {
	db.liveMu.Lock()
	delete(db.live, r)
	db.liveMu.Unlock()
}

func (db *DB) adopt(r *run) {
	r.onClose = db.forget
	db.liveMu.Lock()
	db.live[r] = struct{}{}
	db.liveMu.Unlock()
}

func (db *DB) allocNum() uint64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	n := db.nextFile
	db.nextFile++
	return n
}

func (db *DB) failure() error {
	db.failMu.Lock()
	defer db.failMu.Unlock()
	return db.failErr
}

func (db *DB) fail(err error) {
	db.failMu.Lock()
	if db.failErr == nil {
		db.failErr = err
	}
	db.failMu.Unlock()
	db.log.Error("the state engine takes no more writes", "err", err)
}

// usable returns the error that stops a write: closed or failed.
func (db *DB) usable(what string) error {
	if db.closed.Load() {
		return fmt.Errorf("statedb: %s: %w", what, ErrClosed)
	}
	if err := db.failure(); err != nil {
		return fmt.Errorf("statedb: %s: %w (%w)", what, ErrFailed, err)
	}
	return nil
}

// Append makes the writes of checkpoint seq durable (one WAL record, write + fsync) and adds
// them to the memtable as version seq. seq must be > Last(), or == Last() to replace an
// appended-but-uncommitted checkpoint (the store retries a checkpoint whose commit failed);
// else ErrOrder. Writes are applied in slice order (a later write of the same key wins).
// Appending no writes is allowed and still records seq. A WAL write or fsync error is
// returned and fails the DB: every later Append returns ErrFailed. The writes' byte slices
// are copied.
func (db *DB) Append(seq uint64, writes []ledger.Write) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	what := fmt.Sprintf("append checkpoint %d", seq)
	if err := db.usable(what); err != nil {
		return err
	}
	replace := false
	if db.hasAny.Load() {
		last := db.last.Load()
		db.mu.RLock()
		st := db.cur
		db.mu.RUnlock()
		switch {
		case seq < last:
			return fmt.Errorf("statedb: %s: the last is %d: %w", what, last, ErrOrder)
		case seq == last && st.flushedValid && seq == st.flushed:
			return fmt.Errorf("statedb: %s: already flushed: %w", what, ErrOrder)
		case seq == last && db.committedValid && seq <= db.committed:
			return fmt.Errorf("statedb: %s: already committed: %w", what, ErrOrder)
		case seq == last:
			replace = true
		}
	}
	for i := range writes {
		if len(writes[i].Key) > maxKeyLen {
			return fmt.Errorf("statedb: %s: write %d: key of %d bytes, over the limit of %d", what, i, len(writes[i].Key), maxKeyLen)
		}
		if !writes[i].Delete && len(writes[i].Value) > maxValueLen {
			return fmt.Errorf("statedb: %s: write %d: value of %d bytes, over the limit of %d", what, i, len(writes[i].Value), maxValueLen)
		}
	}
	n := recordSize(seq, writes)
	if n > maxRecord+walHeader {
		return fmt.Errorf("statedb: %s: WAL record over the limit of %d bytes", what, maxRecord)
	}

	// The record is built in a buffer of its exact size (no regrowth), kept for the next
	// Append unless large.
	buf := db.walBuf[:0]
	if cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	rec := appendRecord(buf, seq, writes)
	if cap(rec) <= walBufMax {
		db.walBuf = rec
	} else {
		db.walBuf = nil
	}
	f := db.wal.f
	if _, err := f.Write(rec); err != nil {
		err = fmt.Errorf("statedb: %s: write %s: %w", what, db.wal.name, err)
		db.fail(err)
		return err
	}
	// The memtable is updated while the WAL syncs; the writes become visible (Last, or the
	// replaced memtable) only once the sync succeeded.
	synced := make(chan error, 1)
	if db.opts.NoSync {
		synced <- nil
	} else {
		go func() { synced <- f.Sync() }()
	}
	db.mu.RLock()
	mem := db.cur.mem
	db.mu.RUnlock()
	if replace {
		mem = mem.clone()
		mem.dropSeq(seq)
	}
	mem.apply(seq, writes)
	if err := <-synced; err != nil {
		err = fmt.Errorf("statedb: %s: sync %s: %w", what, db.wal.name, err)
		db.fail(err)
		return err
	}
	db.wal.size += int64(len(rec))
	db.walBytes.Store(db.wal.size)
	if replace {
		db.mu.Lock()
		next := *db.cur
		next.mem = mem
		db.cur = &next
		db.mu.Unlock()
		return nil
	}
	db.last.Store(seq)
	db.hasAny.Store(true)
	return nil
}

// Committed tells the engine that every checkpoint <= seq is committed by the caller. If the
// memtable holds MemBytes or more and only committed checkpoints, it is frozen and flushed in
// the background (flush.go); if the flush of the memtable frozen before is still running
// then, Committed waits for it. The error of a failed flush (or of the write guard) is
// returned by the next Committed, which tries the flush again.
func (db *DB) Committed(seq uint64) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	what := fmt.Sprintf("commit checkpoint %d", seq)
	if err := db.usable(what); err != nil {
		return err
	}
	if !db.hasAny.Load() {
		if seq == 0 {
			return nil
		}
		return fmt.Errorf("statedb: %s: the engine holds no checkpoint: %w", what, ErrMissing)
	}
	if last := db.last.Load(); seq > last {
		return fmt.Errorf("statedb: %s: the last appended is %d: %w", what, last, ErrMissing)
	}
	if !db.committedValid || seq > db.committed {
		db.committed, db.committedValid = seq, true
	}
	return db.maybeFlush()
}

func (db *DB) removeFiles(names []string) {
	for _, name := range names {
		if err := os.Remove(filepath.Join(db.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			db.log.Warn("could not remove an unused file", "file", name, "err", err)
		}
	}
}

// manifest returns the manifest describing st.
func (st *state) manifest(nextFile uint64) *manifest {
	m := &manifest{flushed: st.flushed, flushedValid: st.flushedValid, nextFile: nextFile, wal: st.wal}
	for _, r := range st.runs {
		m.runs = append(m.runs, runMeta{num: r.num, size: r.size})
	}
	return m
}

func (db *DB) createWAL() (*walFile, error) {
	num := db.allocNum()
	name := walName(num)
	f, err := os.OpenFile(filepath.Join(db.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create WAL %s: %w", name, err)
	}
	return &walFile{num: num, name: name, f: f}, nil
}

func (w *walFile) remove() {
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// Last returns the highest checkpoint appended (or flushed), 0 if none.
func (db *DB) Last() uint64 { return db.last.Load() }

// HasAny reports whether the engine holds any checkpoint (genesis included), telling an
// empty engine from one at checkpoint 0.
func (db *DB) HasAny() bool { return db.hasAny.Load() }

// Snapshot returns a consistent read view of the state as of checkpoint seq: every write of
// checkpoints <= seq and none of later ones. seq must be >= the flushed seq of the current
// manifest (else ErrOrder) and <= Last() (else ErrMissing). Release the snapshot exactly
// once; it keeps the runs and memtable it saw readable until then. Snapshots are safe for
// concurrent use with Append, Committed and compaction.
func (db *DB) Snapshot(seq uint64) (*Snap, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed.Load() {
		return nil, fmt.Errorf("statedb: snapshot at checkpoint %d: %w", seq, ErrClosed)
	}
	st := db.cur
	if last := db.last.Load(); seq > last {
		return nil, fmt.Errorf("statedb: snapshot at checkpoint %d: the last is %d: %w", seq, last, ErrMissing)
	}
	if st.flushedValid && seq < st.flushed {
		return nil, fmt.Errorf("statedb: snapshot at checkpoint %d: older than the flushed %d: %w", seq, st.flushed, ErrOrder)
	}
	for _, r := range st.runs {
		r.refs.Add(1)
	}
	return &Snap{db: db, seq: seq, mem: st.mem, imm: st.imm, runs: st.runs}, nil
}

// Close stops background compaction (abandoning a merge in progress) and closes the files.
// Snapshots still held become unusable (ErrClosed). Close is idempotent.
func (db *DB) Close() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.closed.Swap(true) {
		return nil
	}
	db.stopping.Store(true)
	close(db.stopCh)
	db.wg.Wait()
	err := db.wal.f.Close()
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	db.liveMu.Lock()
	runs := make([]*run, 0, len(db.live))
	for r := range db.live {
		runs = append(runs, r)
	}
	db.liveMu.Unlock()
	for _, r := range runs {
		r.closeFile()
	}
	// Drop the state's references: a run's mapping goes with its last reference (a snapshot
	// not released yet keeps it, reading only errors from the closed file).
	db.mu.RLock()
	cur := db.cur
	db.mu.RUnlock()
	for _, r := range cur.runs {
		r.unref()
	}
	if err != nil {
		return fmt.Errorf("statedb: close %s: %w", db.wal.name, err)
	}
	return nil
}

// Stats describes the engine, for metrics and benchmarks.
type Stats struct {
	Runs        int   // run files in the current manifest
	RunBytes    int64 // their total size
	MemBytes    int64 // keys+values in the memtables (the one taking writes and the one being flushed)
	WALBytes    int64 // size of the current WAL
	Flushes     int64 // memtable flushes since Open
	Compactions int64 // compactions since Open
	Keys        int64 // entries in the runs (a key in several runs counts in each)
	FlushFailed bool  // the last flush failed (an I/O error or the write guard); Committed retries it
}

// Stats returns the current statistics.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	st := db.cur
	db.mu.RUnlock()
	s := Stats{
		Runs:        len(st.runs),
		MemBytes:    st.mem.bytes.Load() + st.imm.size(),
		WALBytes:    db.walBytes.Load(),
		Flushes:     db.flushes.Load(),
		Compactions: db.compactions.Load(),
		FlushFailed: db.flushFailed.Load(),
	}
	for _, r := range st.runs {
		s.RunBytes += r.size
		s.Keys += int64(r.count)
	}
	return s
}
