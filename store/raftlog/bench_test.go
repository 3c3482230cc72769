package raftlog

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// BenchmarkStoreLogs measures durable StoreLogs of ~200-byte entries.
// Modes: "syncwrites" is the production profile; "dbsync" opens badger
// without SyncWrites and calls db.Sync() after every batch (the alternative
// STACK.md §2 offers); "mem8" is the production profile with 8 MiB
// memtables; "nosync" is a non-durable reference, never used for raft.
// Reported: ns/op is per StoreLogs call; entries/s counts log entries.
func BenchmarkStoreLogs(b *testing.B) {
	modes := []struct {
		name   string
		opts   func(badger.Options) badger.Options
		dbSync bool
	}{
		{"syncwrites", func(o badger.Options) badger.Options { return o }, false},
		{"dbsync", func(o badger.Options) badger.Options { return o.WithSyncWrites(false) }, true},
		{"mem8", func(o badger.Options) badger.Options { return o.WithMemTableSize(8 << 20) }, false},
		{"nosync", func(o badger.Options) badger.Options { return o.WithSyncWrites(false) }, false},
	}
	for _, mode := range modes {
		for _, batch := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode.name, batch), func(b *testing.B) {
				db, err := badger.Open(mode.opts(badgerOptions(b.TempDir(), quietLogger())))
				if err != nil {
					b.Fatal(err)
				}
				s := &Store{db: db, log: quietLogger(), stop: make(chan struct{})}
				defer s.Close()
				data := bytes.Repeat([]byte("r"), 200)
				logs := make([]*raft.Log, batch)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
				}
				next := uint64(1)
				b.SetBytes(int64(batch * len(data)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, l := range logs {
						l.Index = next
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
					if mode.dbSync {
						if err := db.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkGetLog reads entries that are no longer in raft's LogCache.
func BenchmarkGetLog(b *testing.B) {
	s, err := Open(b.TempDir(), WithLogger(quietLogger()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 10000
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Data: bytes.Repeat([]byte("r"), 200)}
	}
	if err := s.StoreLogs(logs); err != nil {
		b.Fatal(err)
	}
	var l raft.Log
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.GetLog(uint64(i%n)+1, &l); err != nil {
			b.Fatal(err)
		}
	}
}
