package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store/internal/badgerfix"
	"github.com/jaminan/jaminan/store/internal/statedb"
)

var (
	// ErrNotFound is returned (wrapped) by queries when what was asked for is not stored, or
	// not part of an applied checkpoint.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by every method of a closed Store and of its views.
	ErrClosed = errors.New("store closed")
	// ErrNotInitialised is returned by Apply, ApplyCheckpoint, ImportSnapshot and Genesis when
	// the store has no genesis yet (see Init).
	ErrNotInitialised = errors.New("store has no genesis")
	// ErrConflict is returned by Init when the store holds another genesis, and by Apply and
	// ApplyCheckpoint when another checkpoint is already applied at that sequence.
	ErrConflict = errors.New("conflicts with the stored ledger")
	// ErrOutOfOrder is returned by Apply and ApplyCheckpoint for a checkpoint that does not
	// follow the last applied one.
	ErrOutOfOrder = errors.New("checkpoint does not follow the last applied one")
	// ErrMismatch is returned by ApplyCheckpoint and PutCertificate when the result, blocks or
	// certificate passed do not belong to the checkpoint.
	ErrMismatch = errors.New("does not match the checkpoint")
	// ErrCorrupt is returned (wrapped) by Open and by reads when data on disk fails a check.
	ErrCorrupt = errors.New("store data corrupt")
	// ErrFormat is returned (wrapped) by Open for a store written in another on-disk format
	// version than this build reads. Nothing converts it: move the directory aside and let
	// the node catch up from its peers (or a snapshot), or run the release that wrote it.
	ErrFormat = errors.New("store written in another format version")
)

// Store is the durable storage of one node: blocks, checkpoints and their certificates,
// receipts and record locations, the ledger state, and secondary indexes over accepted records.
// All of a checkpoint becomes visible at once (see ApplyCheckpoint and DESIGN.md).
//
// Reads go through a View, pinned at the last applied checkpoint. Store itself is a
// ledger.StateReader over the current view, for single reads; use a View when several reads
// must agree. A Store is safe for concurrent use; writes (Init, Apply, ApplyCheckpoint,
// PutCertificate, ImportSnapshot) are serialised.
type Store struct {
	db   *badger.DB
	log  *slog.Logger
	opts Options
	dir  string

	// The ledger state (state.go): the active generation's engine, the indexes' engine, their
	// directory, and the last checkpoint committed (the state's position; under mu).
	state   *statedb.DB
	index   *statedb.DB // the secondary indexes (W M P T A X G), DESIGN.md §2a
	engines string      // the directory of both engines: dir, or a temporary one for an in-memory store
	applied uint64
	retired map[*statedb.DB]string // engines replaced by an import, until no view reads them (under viewMu)
	pre     preDecoded             // under mu: Store.Apply's accepted contributions
	broken  error                  // set when writes cannot go on until the store is reopened (under mu)

	mu      sync.Mutex      // serialises writers
	genesis *ledger.Genesis // nil until Init; set and read under mu (views copy the network name)

	viewMu sync.Mutex // guards cur, live and View.refs
	cur    *View
	live   map[*View]struct{}

	closeMu sync.RWMutex // readers hold it shared while they touch badger; Close takes it
	closed  bool

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// redone counts the journals re-applied by Open (tests check crash recovery with it).
	redone int
	// keysWritten counts the keys (sets and deletes) checkpoints committed, journals not
	// included: the benchmarks report it per record.
	keysWritten atomic.Int64
}

// Open opens (creating if needed) the store in dir, checks the files (Options.Verify), finishes
// a checkpoint whose journal was committed before a crash, and starts the value-log GC.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open store %s: options: %w", dir, err)
	}
	if opts.InMemory != (dir == "") {
		return nil, fmt.Errorf("open store %q: an in-memory store needs dir \"\", a disk store a directory", dir)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store")
	if !opts.InMemory {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
		removed, err := badgerfix.RemoveEmptyMemtables(dir)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
		if len(removed) > 0 {
			log.Warn("removed empty memtable logs a crash left", "files", removed)
		}
		if opts.Verify != VerifyNone {
			if err := preflight(dir, opts); err != nil {
				return nil, fmt.Errorf("open store %s: %w", dir, err)
			}
		}
	}
	db, err := openBadger(dir, opts, log)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, log: log, opts: opts, dir: dir, engines: dir, live: map[*View]struct{}{}}
	if opts.InMemory {
		if s.engines, err = os.MkdirTemp("", "jaminan-state-"); err != nil {
			return nil, errors.Join(fmt.Errorf("open store: state directory: %w", err), db.Close())
		}
	}
	if err := s.start(); err != nil {
		s.discardViews()
		return nil, errors.Join(fmt.Errorf("open store %s: %w", dir, err), s.closeState(), db.Close())
	}
	if !opts.InMemory && opts.GCInterval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.wg.Add(1)
		go s.gcLoop(ctx)
	}
	return s, nil
}

// openBadger opens badger, turning a panic in the opening goroutine into an error (the
// preflight catches the damage that would panic in badger's own goroutines).
func openBadger(dir string, opts Options, log *slog.Logger) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: badger: %v", ErrCorrupt, r)
		}
	}()
	return badger.Open(badgerOptions(dir, opts, log))
}

// start brings a freshly opened database to a consistent state and publishes the first view.
func (s *Store) start() error {
	if err := s.initFormat(); err != nil {
		return err
	}
	if err := s.recoverJournals(); err != nil {
		return fmt.Errorf("recover journal: %w", err)
	}
	gen, err := s.activeGen()
	if err != nil {
		return err
	}
	if err := s.openState(gen); err != nil {
		return err
	}
	if err := s.publish(); err != nil {
		return err
	}
	v := s.View()
	defer v.Release()
	if err := v.checkConsistency(); err != nil {
		return err
	}
	if s.opts.Verify == VerifyFull {
		if err := v.verifyFull(); err != nil {
			return err
		}
	}
	return nil
}

// initFormat writes the format version of a new store and checks that of an existing one.
func (s *Store) initFormat() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			it.Rewind()
			empty := !it.Valid()
			it.Close()
			if !empty {
				return fmt.Errorf("%w: keys present but no format version (not a store, or damaged)", ErrCorrupt)
			}
			if err := txn.Set(keyFormat, u32b(formatVersion)); err != nil {
				return err
			}
			if err := txn.Set(keyGen, []byte{0}); err != nil {
				return err
			}
			return txn.Set(keyBase, appendU64(nil, 0))
		}
		if err != nil {
			return fmt.Errorf("read format version: %w", err)
		}
		v, err := itemValue(item)
		if err != nil {
			return fmt.Errorf("read format version: %w", err)
		}
		if len(v) != 4 {
			return fmt.Errorf("%w: format version %x", ErrCorrupt, v)
		}
		got := binary.BigEndian.Uint32(v)
		if got == formatUpgrade {
			s.log.Info("store: upgrading the on-disk format in place", "from", got, "to", formatVersion)
			return txn.Set(keyFormat, u32b(formatVersion))
		}
		if got != formatVersion {
			return fmt.Errorf("%w: the directory holds format %d, this build reads format %d; move it aside and let the node catch up from its peers, or run the release that wrote it", ErrFormat, got, formatVersion)
		}
		return nil
	})
}

func (s *Store) activeGen() (byte, error) {
	var gen byte
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, keyGen)
		if err != nil {
			return fmt.Errorf("read state generation: %w", err)
		}
		if len(v) != 1 {
			return fmt.Errorf("%w: state generation %x", ErrCorrupt, v)
		}
		gen = v[0]
		return nil
	})
	return gen, err
}

// Close stops the GC loop, discards the views and closes the database. Views used after Close
// return ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock() // wait for a writer in progress
	defer s.mu.Unlock()
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.discardViews()
	if err := errors.Join(s.closeState(), s.db.Close()); err != nil {
		return fmt.Errorf("close store %s: %w", s.dir, err)
	}
	return nil
}

func (s *Store) discardViews() {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	for v := range s.live {
		v.discard()
	}
	clear(s.live)
	s.cur = nil
}

// View returns a consistent read-only view of the store at the last applied checkpoint. The
// caller must Release it; a view pins badger's versions until released.
func (s *Store) View() *View {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	v := s.cur
	if v == nil { // closed
		dead := &View{s: s}
		dead.dead.Store(true)
		return dead
	}
	v.refs++
	return v
}

// publish makes a new view of the committed data current.
func (s *Store) publish() error {
	v, err := s.newView()
	if err != nil {
		return err
	}
	s.viewMu.Lock()
	old := s.cur
	s.cur = v
	v.refs = 1 // the store's own reference
	s.live[v] = struct{}{}
	s.viewMu.Unlock()
	if old != nil {
		old.Release()
	}
	return nil
}

func (s *Store) newView() (*View, error) {
	snap, err := s.state.Snapshot(s.applied)
	if err != nil {
		return nil, fmt.Errorf("state at checkpoint %d: %w", s.applied, stateErr(err))
	}
	isnap, err := s.index.Snapshot(s.applied)
	if err != nil {
		snap.Release()
		return nil, fmt.Errorf("indexes at checkpoint %d: %w", s.applied, stateErr(err))
	}
	txn := s.db.NewTransaction(false)
	v := &View{s: s, txn: txn, snap: snap, isnap: isnap, db: s.state}
	fail := func(err error) (*View, error) {
		v.discard()
		return nil, err
	}
	raw, err := getValue(txn, keyGen)
	if err != nil || len(raw) != 1 {
		return fail(fmt.Errorf("%w: state generation %x: %v", ErrCorrupt, raw, err))
	}
	v.gen = raw[0]
	if raw, err = getValue(txn, keyBase); err != nil || len(raw) != 8 {
		return fail(fmt.Errorf("%w: state base %x: %v", ErrCorrupt, raw, err))
	}
	v.base = binary.BigEndian.Uint64(raw)
	if _, err := txn.Get(keyGenesis); err == nil {
		v.initialised = true
		meta, err := ledger.ReadMeta(v.reader())
		if err != nil {
			return fail(fmt.Errorf("%w: %w", ErrCorrupt, err))
		}
		v.meta = meta
		if s.genesis == nil { // at Open: views are only made under s.mu or before the store is shared
			raw, err := getValue(txn, keyGenesis)
			if err != nil {
				return fail(fmt.Errorf("read genesis: %w", err))
			}
			if s.genesis, err = ledger.DecodeGenesis(raw); err != nil {
				return fail(fmt.Errorf("%w: genesis: %w", ErrCorrupt, err))
			}
		}
		v.net = s.genesis.Network
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return fail(fmt.Errorf("read genesis: %w", err))
	}
	return v, nil
}

// Get implements ledger.StateReader over the last applied checkpoint.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	v := s.View()
	defer v.Release()
	return v.Get(key)
}

// Meta returns the ledger position of the last applied checkpoint (ledger.ReadMeta of the
// state).
func (s *Store) Meta() (ledger.Meta, error) {
	v := s.View()
	defer v.Release()
	return v.Meta()
}

// Init stores the genesis and the initial state it defines. It is idempotent for the same
// genesis and fails with ErrConflict for another one.
func (s *Store) Init(g *ledger.Genesis) error {
	if g == nil {
		return errors.New("init store: no genesis")
	}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("init store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.View()
	defer v.Release()
	if v.dead.Load() {
		return fmt.Errorf("init store: %w", ErrClosed)
	}
	enc := g.Encode()
	if v.initialised {
		have, err := v.raw(keyGenesis)
		if err != nil {
			return fmt.Errorf("init store: %w", err)
		}
		if !bytes.Equal(have, enc) {
			return fmt.Errorf("init store: genesis %s: %w (the store holds another genesis)", g.Hash(), ErrConflict)
		}
		return nil
	}
	// The genesis state first: a crash before badger has the genesis leaves a state that Open
	// removes (openState).
	if err := s.state.Append(0, ledger.GenesisWrites(g)); err != nil {
		return fmt.Errorf("init store: write genesis state: %w", stateErr(err))
	}
	if err := s.index.Append(0, nil); err != nil {
		return fmt.Errorf("init store: start the indexes: %w", stateErr(err))
	}
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyGenesis, enc) })
	if err != nil {
		return fmt.Errorf("init store: write genesis: %w", err)
	}
	s.genesis = g
	s.applied = 0
	s.committed(0)
	if err := s.publish(); err != nil {
		return fmt.Errorf("init store: %w", err)
	}
	s.log.Info("initialised from genesis", "network", g.Network, "genesis", g.Hash().String())
	return nil
}

// getValue reads a key's value in txn (a copy).
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return itemValue(item)
}

// itemValue copies an item's value. badger's Item.Value logs a failed value-log read (bad
// checksum, truncated file) and returns an empty value without an error; an empty value for an
// item that has one is reported here as corruption instead. (The store never writes an empty
// value where badger would keep it in the value log.)
func itemValue(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("read %x: %w", item.Key(), err)
	}
	if err := checkValue(item, v); err != nil {
		return nil, err
	}
	return v, nil
}

func checkValue(item *badger.Item, v []byte) error {
	if len(v) == 0 && item.ValueSize() > 0 {
		return fmt.Errorf("%w: the value of %x (%d bytes) cannot be read from the value log", ErrCorrupt, item.Key(), item.ValueSize())
	}
	return nil
}

// Size returns the bytes of the store's tables (LSM) and value log files, as badger last
// measured them (it refreshes the figures once a minute); zeros once the store is closed.
func (s *Store) Size() (lsm, vlog int64) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return 0, 0
	}
	return s.db.Size()
}
