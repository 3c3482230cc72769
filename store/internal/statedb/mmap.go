package statedb

import (
	"fmt"
	"os"
	"syscall"
)

// The bloom filter and block index of an open run are read in place through a read-only
// shared mapping of the run file: their pages are the kernel's page cache (file-backed,
// reclaimable), not the Go heap. A run being written keeps its bloom filter in a mapped,
// unlinked temporary file for the same reason.

// pageSize is the alignment of mapping offsets.
var pageSize = int64(os.Getpagesize())

// mapFile maps bytes [off, off+n) of f read-only. The caller has checked that the file holds
// them (a mapping beyond the end of the file faults on access).
func mapFile(f *os.File, off, n int64) (mapped []byte, at int64, err error) {
	at = off &^ (pageSize - 1)
	length := n + off - at
	if length <= 0 || int64(int(length)) != length {
		return nil, 0, fmt.Errorf("map %d bytes at %d: bad length", n, off)
	}
	m, err := syscall.Mmap(int(f.Fd()), at, int(length), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, 0, fmt.Errorf("map %d bytes at %d: %w", n, off, err)
	}
	return m, at, nil
}

func unmap(m []byte) {
	if m != nil {
		_ = syscall.Munmap(m)
	}
}

// scratch is a zeroed writable byte array of a run being written: on the heap if small, else
// a shared mapping of an unlinked temporary file in dir.
type scratch struct {
	b []byte
	f *os.File
}

// scratchHeapMax is the largest scratch array kept on the heap (a variable for tests).
var scratchHeapMax = 1 << 20

func newScratch(dir, name string, n int) (*scratch, error) {
	if n <= scratchHeapMax {
		return &scratch{b: make([]byte, n)}, nil
	}
	f, err := createTemp(dir, name)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(n)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("size a temporary file for %s: %w", name, err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("map a temporary file for %s: %w", name, err)
	}
	return &scratch{b: m, f: f}, nil
}

func (s *scratch) release() {
	if s == nil || s.f == nil {
		return
	}
	unmap(s.b)
	_ = s.f.Close()
	s.b, s.f = nil, nil
}

// createTemp creates a temporary file in dir for run name and unlinks it at once (a crash
// in between leaves a *.tmp file, which Open removes).
func createTemp(dir, name string) (*os.File, error) {
	f, err := os.CreateTemp(dir, name+".*"+tmpExt)
	if err != nil {
		return nil, fmt.Errorf("create a temporary file for %s: %w", name, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("unlink a temporary file for %s: %w", name, err)
	}
	return f, nil
}
