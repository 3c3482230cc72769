package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Verify says how much Open checks the files on disk before trusting them.
type Verify int

const (
	// VerifyTables (the default) replays the MANIFEST and refuses a torn or truncated one, and
	// reads every live table in full, checking each block's checksum, before badger opens the
	// directory; badger itself panics in its own goroutines on some damaged tables. Values in
	// the value log are checked (CRC) whenever they are read.
	VerifyTables Verify = iota
	// VerifyFull adds, after opening, a read of every key and value (so every value-log entry
	// in use passes its checksum) and a walk of the checkpoint chain.
	VerifyFull
	// VerifyNone trusts the files: for a store just written by the same process (benchmarks).
	VerifyNone
)

func (v Verify) String() string {
	switch v {
	case VerifyTables:
		return "tables"
	case VerifyFull:
		return "full"
	case VerifyNone:
		return "none"
	}
	return fmt.Sprintf("Verify(%d)", int(v))
}

// Options configures a Store. The zero value of a field means its default (DefaultOptions).
type Options struct {
	// Logger receives the store's logs and badger's, with "component"="badger" on the latter.
	// Nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory: for unit tests. The directory must be "".
	InMemory bool
	// Verify is the check Open runs on the files (see Verify).
	Verify Verify
	// GCInterval is the period of the value-log garbage collection; negative disables it.
	GCInterval time.Duration
	// GCDiscardRatio is the share of stale data from which a value-log file is rewritten.
	GCDiscardRatio float64
	// WriteGuard, when set, is asked before the store's own background writes (the value-log
	// garbage collection, which writes new files before it deletes old ones); an error skips
	// them until the next round. The node passes its free-space floor.
	WriteGuard func() error
	// MemTableSize is badger's memtable size in bytes. A checkpoint whose changes fit in 15% of
	// it is committed in one transaction; larger ones go through the redo journal.
	MemTableSize int64
	// StateMemBytes is the size of the ledger state's writes the state engine keeps in memory
	// before it writes them to a sorted file (DESIGN.md §2a); the index engine keeps half as
	// much. While one memtable is written out the next fills, so each engine holds up to twice
	// this (in Go structures about 2.2 times the bytes).
	StateMemBytes int64

	// Tests only: the change-set size above which the journal is used even if badger would
	// take one transaction (0: badger's limit), and the number of changes per redo batch.
	journalAbove int
	redoBatch    int
	// Benchmarks only: the table compression, to compare (when setCompression).
	compression    options.CompressionType
	setCompression bool
}

// DefaultOptions returns the small-machine profile of DESIGN.md.
func DefaultOptions() Options {
	return Options{GCInterval: 5 * time.Minute, GCDiscardRatio: 0.5, MemTableSize: 16 << 20, StateMemBytes: 4 << 20}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.GCInterval == 0 {
		o.GCInterval = d.GCInterval
	}
	if o.GCDiscardRatio == 0 {
		o.GCDiscardRatio = d.GCDiscardRatio
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = d.MemTableSize
	}
	if o.StateMemBytes == 0 {
		o.StateMemBytes = d.StateMemBytes
	}
	if o.redoBatch <= 0 {
		o.redoBatch = 1 << 16
	}
	return o
}

// Validate returns every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.GCDiscardRatio < 0 || o.GCDiscardRatio >= 1 {
		errs = append(errs, fmt.Errorf("GCDiscardRatio %v: want 0 < ratio < 1", o.GCDiscardRatio))
	}
	if o.StateMemBytes < 0 || o.StateMemBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("StateMemBytes %d: want at most 1 GiB", o.StateMemBytes))
	}
	// badger refuses a value threshold above 15% of the memtable; ours is 1 KiB.
	if o.MemTableSize != 0 && (o.MemTableSize < 1<<20 || o.MemTableSize > 1<<30) {
		errs = append(errs, fmt.Errorf("MemTableSize %d: want 1 MiB to 1 GiB", o.MemTableSize))
	}
	if o.Verify < VerifyTables || o.Verify > VerifyNone {
		errs = append(errs, fmt.Errorf("Verify %d: unknown", int(o.Verify)))
	}
	return errors.Join(errs...)
}

// valueThreshold is the value size from which badger keeps a value in the value log instead of
// the LSM tree: blocks, receipt lists and checkpoint bodies go there, state objects stay in
// the tree.
const valueThreshold = 1 << 10

// badgerOptions is the small-machine profile (STACK.md §5) plus what durability and corruption
// handling need; DESIGN.md gives the reason for each value.
func badgerOptions(dir string, o Options, log *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(dir)
	threshold := int64(valueThreshold)
	if o.InMemory {
		// Without a value log every value lives in the memtable: allow values of a block's size.
		bo, threshold = badger.DefaultOptions("").WithInMemory(true), 1<<20
	}
	// Memory (DESIGN.md §1, §7): every table below level 0 the base size, so table builders stay
	// small (badger has no With… for it), and at most 3 level-0 tables (below), so badger's
	// level-0 to level-0 compaction, whose builder starts at 256 MB, never runs.
	bo.TableSizeMultiplier = 1
	return bo.
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(3).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithValueThreshold(threshold).
		WithCompression(compression(o)).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{log})
}

// tableCompression is the profile's compression of LSM tables: Snappy, measured against ZSTD
// and none in DESIGN.md §7 (ZSTD cost a quarter of the apply CPU for 6 % less disk).
const tableCompression = options.Snappy

func compression(o Options) options.CompressionType {
	if o.setCompression {
		return o.compression
	}
	return tableCompression
}
