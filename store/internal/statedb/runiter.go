package statedb

import (
	"bytes"
	"fmt"
)

// runIter iterates the entries of a run in key order, reading ahead chunk bytes at a time.
type runIter struct {
	r     *run
	blk   int // the loaded block, -1 before the first
	chunk int
	ra    []byte // file bytes [raOff, raOff+len(ra))
	raOff int64
	dec   []byte
	data  []byte // entries of the loaded block
	pos   int    // next entry in data
	nth   int    // index of the next entry in the block
	from  []byte // skip keys below this (seek)
	limit []byte // first key of the next block, nil for the last block

	key, val []byte
	del      bool
	err      error
}

func (r *run) iter(chunk int) *runIter {
	return &runIter{r: r, blk: -1, chunk: chunk}
}

// seek makes the next call of next return the first entry >= from.
func (it *runIter) seek(from []byte) {
	if len(from) == 0 {
		return
	}
	if i := it.r.findBlock(from); i > 0 {
		it.blk = i - 1
	}
	it.from = from
}

func (it *runIter) fail(err error) bool {
	it.err = fmt.Errorf("statedb: read block %d of %s: %w", it.blk, it.r.name, err)
	it.data = nil
	return false
}

func (it *runIter) next() bool {
	for {
		if it.err != nil {
			return false
		}
		if it.pos >= len(it.data) {
			if it.blk+1 >= it.r.blocks() {
				it.data = nil
				return false
			}
			it.blk++
			if err := it.load(); err != nil {
				return it.fail(err)
			}
			continue
		}
		k, v, d, n, err := parseEntry(it.data[it.pos:])
		if err != nil {
			return it.fail(corruptf("entry %d: %v", it.nth, err))
		}
		if it.nth == 0 {
			if !bytes.Equal(k, it.r.firstKey(it.blk)) {
				return it.fail(corruptf("first key does not match the index"))
			}
		} else if bytes.Compare(k, it.key) <= 0 {
			return it.fail(corruptf("entry %d: keys out of order", it.nth))
		}
		if it.limit != nil && bytes.Compare(k, it.limit) >= 0 {
			return it.fail(corruptf("entry %d: key beyond the next block's first key", it.nth))
		}
		it.pos += n
		it.nth++
		it.key, it.val, it.del = k, v, d
		if it.from != nil {
			if bytes.Compare(k, it.from) < 0 {
				continue
			}
			it.from = nil
		}
		return true
	}
}

// load reads and decodes block it.blk.
func (it *runIter) load() error {
	r := it.r
	off, end, err := r.blockRange(it.blk)
	if err != nil {
		return err
	}
	if off < it.raOff || end > it.raOff+int64(len(it.ra)) {
		n := end - off
		if c := int64(it.chunk); n < c {
			n = min(c, r.dataEnd-off)
		}
		it.ra = grow(it.ra, int(n))
		if _, err := r.f.ReadAt(it.ra, off); err != nil {
			it.ra = it.ra[:0]
			return readErr(err)
		}
		it.raOff = off
	}
	data, err := decodeBlock(it.ra[off-it.raOff:end-it.raOff], &it.dec)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return corruptf("empty block")
	}
	it.data, it.pos, it.nth = data, 0, 0
	it.limit = nil
	if it.blk+1 < r.blocks() {
		it.limit = r.firstKey(it.blk + 1)
	}
	return nil
}
