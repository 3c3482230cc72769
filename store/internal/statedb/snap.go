package statedb

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
)

// Snap is a consistent read view of the state as of one checkpoint. It is safe for
// concurrent use; Release it exactly once.
type Snap struct {
	db       *DB
	seq      uint64
	mem      *memtable
	imm      *memtable // nil if none
	runs     []*run    // newest first
	released atomic.Bool
}

var errReleased = fmt.Errorf("statedb: snapshot released: %w", ErrClosed)

func (s *Snap) check() error {
	if s.released.Load() {
		return errReleased
	}
	if s.db.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Seq returns the checkpoint the snapshot shows.
func (s *Snap) Seq() uint64 { return s.seq }

// Release gives the snapshot's runs and memtable back; the snapshot is unusable after.
// Further calls do nothing.
func (s *Snap) Release() {
	if !s.released.CompareAndSwap(false, true) {
		return
	}
	for _, r := range s.runs {
		r.unref()
	}
}

// Get returns the value of key as of the snapshot's checkpoint; ok is false if the key is
// absent or deleted. The value must not be modified; it may be shared.
func (s *Snap) Get(key []byte) (value []byte, ok bool, err error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	for _, m := range [2]*memtable{s.mem, s.imm} {
		if m == nil {
			break
		}
		if v, found := m.get(key, s.seq); found {
			if v.del {
				return nil, false, nil
			}
			return v.val, true, nil
		}
	}
	h := hashKey(key)
	for _, r := range s.runs {
		val, found, del, err := r.get(key, h)
		if err != nil {
			if cerr := s.check(); cerr != nil {
				return nil, false, cerr
			}
			return nil, false, err
		}
		if found {
			if del {
				return nil, false, nil
			}
			return val, true, nil
		}
	}
	return nil, false, nil
}

// iterator is a sorted source of entries for a merge.
type iterator interface {
	next() bool
	entry() (key, val []byte, del bool)
	error() error
}

func (it *runIter) entry() ([]byte, []byte, bool) { return it.key, it.val, it.del }

func (it *runIter) error() error { return it.err }

// merge calls fn for every key of the sources in ascending order with the entry of the first
// (newest) source holding it. Keys and values are valid only during the call.
func merge(its []iterator, fn func(k, v []byte, del bool) error) error {
	live := make([]bool, len(its))
	advance := func(i int) error {
		live[i] = its[i].next()
		if !live[i] {
			return its[i].error()
		}
		return nil
	}
	for i := range its {
		if err := advance(i); err != nil {
			return err
		}
	}
	for {
		best := -1
		var bk []byte
		for i, it := range its {
			if !live[i] {
				continue
			}
			if k, _, _ := it.entry(); best < 0 || bytes.Compare(k, bk) < 0 {
				best, bk = i, k
			}
		}
		if best < 0 {
			return nil
		}
		k, v, del := its[best].entry()
		if err := fn(k, v, del); err != nil {
			return err
		}
		for i, it := range its {
			if i == best || !live[i] {
				continue
			}
			if ik, _, _ := it.entry(); bytes.Equal(ik, k) {
				if err := advance(i); err != nil {
					return err
				}
			}
		}
		if err := advance(best); err != nil {
			return err
		}
	}
}

var errScanDone = errors.New("statedb: scan done")

// Scan calls fn for every live key >= start with the given prefix (nil for all) in ascending
// byte order, with its value as of the snapshot's checkpoint. An error from fn stops the scan
// and is returned. k and v are valid only during the call.
func (s *Snap) Scan(prefix, start []byte, fn func(k, v []byte) error) error {
	if err := s.check(); err != nil {
		return err
	}
	from := start
	if bytes.Compare(from, prefix) < 0 {
		from = prefix
	}
	its := make([]iterator, 0, 2+len(s.runs))
	its = append(its, &memIter{items: s.mem.scanItems(from, prefix, s.seq)})
	if s.imm != nil {
		its = append(its, &memIter{items: s.imm.scanItems(from, prefix, s.seq)})
	}
	for _, r := range s.runs {
		it := r.iter(scanChunk)
		it.seek(from)
		its = append(its, it)
	}
	var fnErr error
	err := merge(its, func(k, v []byte, del bool) error {
		if !bytes.HasPrefix(k, prefix) {
			return errScanDone
		}
		if del {
			return nil
		}
		if err := fn(k, v); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err == nil || err == errScanDone:
		return nil
	}
	if cerr := s.check(); cerr != nil {
		return cerr
	}
	return err
}
