package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mkLog(idx uint64) *raft.Log {
	return &raft.Log{
		Index:      idx,
		Term:       idx/10 + 1,
		Type:       raft.LogCommand,
		Data:       []byte(fmt.Sprintf("entry-%d", idx)),
		Extensions: []byte{byte(idx)},
		AppendedAt: time.Unix(1_750_000_000, int64(idx)),
	}
}

func wantBounds(t *testing.T, s *Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("first, last = %d, %d; want %d, %d", f, l, first, last)
	}
}

func wantLog(t *testing.T, s *Store, idx uint64) {
	t.Helper()
	var got raft.Log
	if err := s.GetLog(idx, &got); err != nil {
		t.Fatalf("GetLog(%d): %v", idx, err)
	}
	if want := mkLog(idx); !logsEqual(got, *want) {
		t.Fatalf("GetLog(%d) = %+v, want %+v", idx, got, *want)
	}
}

func wantMissing(t *testing.T, s *Store, idx uint64) {
	t.Helper()
	var got raft.Log
	// raft compares with == in places, so the sentinel must not be wrapped.
	if err := s.GetLog(idx, &got); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(%d) error = %v, want raft.ErrLogNotFound", idx, err)
	}
}

// TestLogStoreConformance walks the LogStore and StableStore contract of
// hashicorp/raft v1.8.0 on an on-disk store, then reopens it.
func TestLogStoreConformance(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)

	// An empty store: both bounds 0, nothing found, "not found" stable keys.
	wantBounds(t, s, 0, 0)
	wantMissing(t, s, 1)
	if _, err := s.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get of a missing key: err = %v, want text \"not found\"", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64 of a missing key: err = %v, want text \"not found\"", err)
	}
	snaps, err := raft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if has, err := raft.HasExistingState(s, s, snaps); err != nil || has {
		t.Fatalf("HasExistingState on an empty store = %v, %v; want false, nil", has, err)
	}

	// StoreLog and StoreLogs, including indexes whose little-endian order
	// differs from their numeric order (255/256, 65535/65536).
	if err := s.StoreLog(mkLog(1)); err != nil {
		t.Fatal(err)
	}
	var batch []*raft.Log
	for i := uint64(2); i <= 300; i++ {
		batch = append(batch, mkLog(i))
	}
	if err := s.StoreLogs(batch); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 300)
	for _, i := range []uint64{1, 2, 255, 256, 257, 300} {
		wantLog(t, s, i)
	}
	wantMissing(t, s, 301)
	if err := s.StoreLogs(nil); err != nil {
		t.Fatalf("StoreLogs(nil): %v", err)
	}

	// Overwrite: a follower replaces a conflicting suffix.
	repl := mkLog(300)
	repl.Data = []byte("replaced")
	if err := s.StoreLog(repl); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := s.GetLog(300, &got); err != nil || string(got.Data) != "replaced" {
		t.Fatalf("after overwrite GetLog(300) = %q, %v", got.Data, err)
	}
	if err := s.StoreLog(mkLog(300)); err != nil {
		t.Fatal(err)
	}

	// Truncate the front (after a snapshot): the range is inclusive.
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 11, 300)
	wantMissing(t, s, 10)
	wantLog(t, s, 11)

	// Truncate the back (a follower dropping a conflicting suffix).
	if err := s.DeleteRange(256, 300); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 11, 255)
	wantMissing(t, s, 256)
	wantLog(t, s, 255)

	// Ranges that cover nothing, or more than exists, are fine.
	if err := s.DeleteRange(1000, 2000); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(5, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(250, 1<<62); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 11, 249)

	// A high index must become the last one (big-endian keys).
	if err := s.StoreLog(mkLog(1 << 40)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 11, 1<<40)

	// Stable store.
	if err := s.Set([]byte("LastVoteCand"), []byte("node-2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 41); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	// Stable keys must not be visible as log entries and vice versa.
	wantBounds(t, s, 11, 1<<40)

	check := func(s *Store) {
		t.Helper()
		if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-2" {
			t.Fatalf("Get(LastVoteCand) = %q, %v", v, err)
		}
		if v, err := s.Get([]byte("empty")); err != nil || len(v) != 0 {
			t.Fatalf("Get(empty) = %q, %v; want empty value, nil", v, err)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
			t.Fatalf("GetUint64(CurrentTerm) = %d, %v", v, err)
		}
		wantBounds(t, s, 11, 1<<40)
		for i := uint64(11); i <= 249; i++ {
			wantLog(t, s, i)
		}
		wantLog(t, s, 1<<40)
		wantMissing(t, s, 250)
	}
	check(s)

	// Reopen on disk: everything is still there.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.StoreLog(mkLog(5000)); !errors.Is(err, ErrClosed) {
		t.Fatalf("StoreLog after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close: err = %v, want ErrClosed", err)
	}
	s2 := openTest(t, dir)
	check(s2)
	if has, err := raft.HasExistingState(s2, s2, snaps); err != nil || !has {
		t.Fatalf("HasExistingState after reopen = %v, %v; want true, nil", has, err)
	}
}

// TestStoreLogsSplitsTooBigBatch stores a batch larger than one badger
// transaction may hold and checks that every entry arrives.
func TestStoreLogsSplitsTooBigBatch(t *testing.T) {
	s := openTest(t, t.TempDir())
	const n = 4000 // 4000 × ~1 KiB > 15% of the 16 MiB memtable
	logs := make([]*raft.Log, n)
	for i := range logs {
		l := mkLog(uint64(i + 1))
		l.Data = bytes.Repeat([]byte{byte(i)}, 1024)
		logs[i] = l
	}
	// Premise: the batch does not fit one transaction.
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, l := range logs {
			if err := txn.Set(logKey(l.Index), encodeLog(nil, l)); err != nil {
				return err
			}
		}
		return errors.New("rollback")
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("premise: one transaction of the batch gave %v, want ErrTxnTooBig", err)
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, n)
	for _, i := range []uint64{1, n / 2, n} {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatal(err)
		}
		if !logsEqual(got, *logs[i-1]) {
			t.Fatalf("entry %d differs", i)
		}
	}
}

// TestGetLogCorruptValue plants damaged values under log keys: GetLog must
// return an error wrapping ErrCorrupt (not ErrLogNotFound, not a panic).
func TestGetLogCorruptValue(t *testing.T) {
	s := openTest(t, t.TempDir())
	valid := encodeLog(nil, mkLog(7))
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/2] ^= 0x10
	cases := map[string][]byte{
		"empty":           {},
		"garbage":         []byte("definitely not a raft log entry"),
		"truncated":       valid[:len(valid)-5],
		"bit flip":        flipped,
		"other index":     encodeLog(nil, mkLog(8)),
		"huge length":     withCRC([]byte{logFormatV1, 0, 7, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		"trailing bytes":  withCRC(append(bytes.Clone(valid[:len(valid)-4]), 0)),
		"unknown version": append([]byte{9}, valid[1:]...),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(logKey(7), v) }); err != nil {
				t.Fatal(err)
			}
			var got raft.Log
			err := s.GetLog(7, &got)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("GetLog of a %s value: err = %v, want ErrCorrupt", name, err)
			}
		})
	}
	// A corrupt stable uint64 is an error too, and not "not found".
	if err := s.Set([]byte("CurrentTerm"), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetUint64 of a 3-byte value: err = %v, want ErrCorrupt", err)
	}
}

func withCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

func TestNewCached(t *testing.T) {
	s := openTest(t, t.TempDir())
	c, err := NewCached(s, 512)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs([]*raft.Log{mkLog(1), mkLog(2)}); err != nil {
		t.Fatal(err)
	}
	// Written through to disk, not only to the cache.
	wantLog(t, s, 2)
	if _, err := NewCached(s, 0); err == nil {
		t.Fatal("NewCached with capacity 0 succeeded")
	}
}

// TestWriteGuardRefusesAppendsAndDeletes: while the guard says no (the disk below the node's
// floor), StoreLogs and DeleteRange fail with its error and write nothing; the stable store
// still takes raft's term; once the guard says yes, appends go on.
func TestWriteGuardRefusesAppendsAndDeletes(t *testing.T) {
	full := errors.New("disk below the floor")
	var refuse bool
	s, err := Open(t.TempDir(), WithLogger(quietLogger()), WithWriteGuard(func() error {
		if refuse {
			return full
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.StoreLogs([]*raft.Log{mkLog(1), mkLog(2)}); err != nil {
		t.Fatal(err)
	}
	refuse = true
	if err := s.StoreLogs([]*raft.Log{mkLog(3)}); !errors.Is(err, full) {
		t.Fatalf("append below the floor: %v", err)
	}
	if err := s.DeleteRange(1, 1); !errors.Is(err, full) {
		t.Fatalf("delete below the floor: %v", err)
	}
	wantBounds(t, s, 1, 2)
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatalf("stable store below the floor: %v", err)
	}
	refuse = false
	if err := s.StoreLogs([]*raft.Log{mkLog(3)}); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 3)
	wantLog(t, s, 3)
}
