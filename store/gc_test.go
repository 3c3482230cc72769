package store

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestValueLogGCAsksTheWriteGuard: the value-log garbage collection, which writes new files
// before it deletes old ones, asks Options.WriteGuard every round and writes nothing while it
// refuses (the node's free-space floor).
func TestValueLogGCAsksTheWriteGuard(t *testing.T) {
	var asked atomic.Int32
	s := openDisk(t, t.TempDir(), Options{GCInterval: 5 * time.Millisecond, WriteGuard: func() error {
		asked.Add(1)
		return errors.New("disk below the floor")
	}})
	defer s.Close()
	for i := 0; i < 400 && asked.Load() < 3; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if n := asked.Load(); n < 3 {
		t.Fatalf("the guard was asked %d times in 2 s of 5 ms rounds", n)
	}
}
