package statedb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
)

const (
	flagPut    = 0
	flagDelete = 1

	compNone = 0
	compS2   = 1

	// blockTrailer follows every stored block: compression byte | u32 CRC32C.
	blockTrailer = 5
	// footerSize: u64 bloom offset | u64 bloom length | u64 table offset | u64 blocks | u64
	// keys offset | u64 keys length | u64 entries | u64 min seq | u64 max seq | u32 CRC32C of
	// bloom | u32 of table | u32 of keys | u32 version | u32 CRC32C of the footer before it
	// (footerCRC bytes) | magic.
	footerSize = 100
	footerCRC  = 88
	runVersion = 2

	maxKeyLen   = 64 << 10
	maxValueLen = 64 << 20
	// maxBlockRaw bounds a decoded block: blocks hold up to BlockSize (at most maxBlockSize)
	// bytes of entries, or a single larger entry.
	maxBlockRaw = maxValueLen + maxKeyLen + 32

	bloomBitsPerKey = 10
	bloomHashes     = 7
	maxBloomHashes  = 30
	bloomBlock      = 512 // bits

	// writeBuffer is the buffer of a run being written; scanChunk and compactChunk the
	// read-ahead of a scan and of a compaction.
	writeBuffer  = 256 << 10
	scanChunk    = 64 << 10
	compactChunk = 256 << 10
	// pooledMax bounds the block buffers kept for reuse.
	pooledMax = 1 << 20
)

var runMagic = [8]byte{'J', 'M', 'N', 'S', 'D', 'R', 'U', 'N'}

// errStopped aborts a compaction when the DB closes.
var errStopped = errors.New("statedb: stopped")

// run is an open, immutable sorted run file.
type run struct {
	num            uint64
	name, path     string
	f              *os.File
	size           int64
	count          uint64 // entries
	minSeq, maxSeq uint64 // checkpoints covered
	dataEnd        int64  // end of the data blocks (start of the bloom filter)

	mapped []byte // the mapping of the file's bloom filter, index and footer

	// bloom, table and keys are in mapped (or, for a run being written, in other mappings).
	bloomK uint32
	nbits  uint64
	bloom  []byte

	// Block index: nblk+1 table entries (indexEntry bytes each: u64 prefix64 of the first
	// key | u64 block offset | u32 offset of the first key in keys), the last one closing
	// the final block (prefix 0, dataEnd, len(keys)).
	nblk  int
	table []byte
	keys  []byte

	refs     atomic.Int64
	onClose  func(*run) // called once, when the file is closed
	closeMu  sync.Mutex
	closed   bool
	unmapped bool
}

// indexEntry is the size of a block index table entry.
const indexEntry = 20

func (r *run) blocks() int { return r.nblk }

func (r *run) pfx(i int) uint64 { return binary.BigEndian.Uint64(r.table[i*indexEntry:]) }

// blockOff returns where block i starts (i == blocks(): dataEnd).
func (r *run) blockOff(i int) int64 {
	return int64(binary.BigEndian.Uint64(r.table[i*indexEntry+8:]))
}

func (r *run) keyOff(i int) uint64 {
	return uint64(binary.BigEndian.Uint32(r.table[i*indexEntry+16:]))
}

// firstKey returns the first key of block i (nil if the index is inconsistent: it was
// checked at Open, but the mapped file could change under it).
func (r *run) firstKey(i int) []byte {
	a, b := r.keyOff(i), r.keyOff(i+1)
	if a > b || b > uint64(len(r.keys)) {
		return nil
	}
	return r.keys[a:b:b]
}

// blockRange returns the stored extent of block i, checked against the data section.
func (r *run) blockRange(i int) (off, end int64, err error) {
	off, end = r.blockOff(i), r.blockOff(i+1)
	if off < 0 || end <= off+blockTrailer || end > r.dataEnd || end-off > maxBlockRaw+blockTrailer {
		return 0, 0, corruptf("block %d at %d..%d outside the data", i, off, end)
	}
	return off, end, nil
}

// findBlock returns the last block whose first key is <= key, or -1.
func (r *run) findBlock(key []byte) int {
	kp := prefix64(key)
	lo, hi := 0, r.blocks()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		var le bool
		if p := r.pfx(m); p != kp {
			le = p < kp
		} else {
			le = bytes.Compare(r.firstKey(m), key) <= 0
		}
		if le {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func (r *run) unref() {
	if r.refs.Add(-1) == 0 {
		r.closeFile()
		r.unmap()
	}
}

// closeFile closes the file: reads fail from then on, but the mapping stays until unmap
// (DB.Close closes the files of runs that unreleased snapshots still hold).
func (r *run) closeFile() {
	r.closeMu.Lock()
	if r.closed {
		r.closeMu.Unlock()
		return
	}
	r.closed = true
	r.closeMu.Unlock()
	_ = r.f.Close()
	if r.onClose != nil {
		r.onClose(r)
	}
}

// unmap releases the mapping; only once nothing reads the run.
func (r *run) unmap() {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.unmapped {
		return
	}
	r.unmapped = true
	unmap(r.mapped)
	r.mapped, r.bloom, r.table, r.keys = nil, nil, nil, nil
}

// release closes the file and unmaps it: for the only holder of a run.
func (r *run) release() {
	r.closeFile()
	r.unmap()
}

// blockBuf holds the buffers of one block read.
type blockBuf struct{ raw, dec []byte }

var blockPool = sync.Pool{New: func() any { return new(blockBuf) }}

func putBlockBuf(bb *blockBuf) {
	if cap(bb.raw) <= pooledMax && cap(bb.dec) <= pooledMax {
		blockPool.Put(bb)
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// readErr turns a read error inside the validated size of a run into corruption (the file
// shrank).
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corruptf("file shorter than its index says")
	}
	return err
}

// readBlock reads, checks and decodes block i.
func (r *run) readBlock(i int, bb *blockBuf) ([]byte, error) {
	off, end, err := r.blockRange(i)
	if err != nil {
		return nil, err
	}
	bb.raw = grow(bb.raw, int(end-off))
	if _, err := r.f.ReadAt(bb.raw, off); err != nil {
		return nil, readErr(err)
	}
	return decodeBlock(bb.raw, &bb.dec)
}

// decodeBlock checks a stored block (data | compression byte | CRC32C of both) and returns
// its entries, decompressed into *dec if needed.
func decodeBlock(stored []byte, dec *[]byte) ([]byte, error) {
	n := len(stored)
	if n < blockTrailer+1 {
		return nil, corruptf("block of %d bytes", n)
	}
	if crc32.Checksum(stored[:n-4], castagnoli) != binary.BigEndian.Uint32(stored[n-4:]) {
		return nil, corruptf("block checksum mismatch")
	}
	body := stored[:n-blockTrailer]
	switch stored[n-blockTrailer] {
	case compNone:
		return body, nil
	case compS2:
		dl, err := s2.DecodedLen(body)
		if err != nil || dl == 0 || dl > maxBlockRaw {
			return nil, corruptf("compressed block: bad length %d (%v)", dl, err)
		}
		*dec = grow(*dec, dl)
		out, err := s2.Decode(*dec, body)
		if err != nil || len(out) != dl {
			return nil, corruptf("compressed block: %v", err)
		}
		return out, nil
	default:
		return nil, corruptf("unknown block compression %d", stored[n-blockTrailer])
	}
}

var errEntry = errors.New("malformed entry")

// parseEntry parses one entry: uvarint klen | key | flag | [uvarint vlen | value].
func parseEntry(b []byte) (key, val []byte, del bool, n int, err error) {
	kl, m := binary.Uvarint(b)
	if m <= 0 || kl > maxKeyLen || kl >= uint64(len(b)-m) {
		return nil, nil, false, 0, errEntry
	}
	p := m + int(kl)
	key = b[m:p]
	flag := b[p]
	p++
	switch flag {
	case flagDelete:
		return key, nil, true, p, nil
	case flagPut:
	default:
		return nil, nil, false, 0, errEntry
	}
	vl, m := binary.Uvarint(b[p:])
	if m <= 0 || vl > maxValueLen || vl > uint64(len(b)-p-m) {
		return nil, nil, false, 0, errEntry
	}
	p += m
	return key, b[p : p+int(vl) : p+int(vl)], false, p + int(vl), nil
}

// findInBlock looks key up in the entries of block i.
func (r *run) findInBlock(i int, data, key []byte) (val []byte, found, del bool, err error) {
	for pos, j := 0, 0; pos < len(data); j++ {
		k, v, d, n, err := parseEntry(data[pos:])
		if err != nil {
			return nil, false, false, corruptf("entry %d: %v", j, err)
		}
		// Checking the prefix is cheaper than the whole key (a cache miss in the index).
		if j == 0 && prefix64(k) != r.pfx(i) {
			return nil, false, false, corruptf("first key does not match the index")
		}
		switch c := bytes.Compare(k, key); {
		case c == 0:
			return v, true, d, nil
		case c > 0:
			return nil, false, false, nil
		}
		pos += n
	}
	if len(data) == 0 {
		return nil, false, false, corruptf("empty block")
	}
	return nil, false, false, nil
}

// get looks key (with xxhash64 h) up: found reports an entry, del a tombstone. The value is
// a copy.
func (r *run) get(key []byte, h uint64) (val []byte, found, del bool, err error) {
	if !bloomMay(r.bloom, r.nbits, r.bloomK, h) {
		return nil, false, false, nil
	}
	i := r.findBlock(key)
	if i < 0 {
		return nil, false, false, nil
	}
	bb := blockPool.Get().(*blockBuf)
	data, err := r.readBlock(i, bb)
	if err == nil {
		var v []byte
		v, found, del, err = r.findInBlock(i, data, key)
		if found && !del {
			val = make([]byte, len(v))
			copy(val, v)
		}
	}
	putBlockBuf(bb)
	if err != nil {
		return nil, false, false, fmt.Errorf("statedb: read block %d of %s: %w", i, r.name, err)
	}
	return val, found, del, nil
}

// openRun opens run file num of dir and checks its footer, bloom filter and index (and with
// verify every block). size >= 0 is the size the manifest records. A missing, truncated or
// damaged file gives an error wrapping ErrCorrupt.
func openRun(dir string, num uint64, size int64, verify bool) (*run, error) {
	name := runName(num)
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("statedb: open run %s: %w", name, corruptf("file missing"))
	}
	if err != nil {
		return nil, fmt.Errorf("statedb: open run %s: %w", name, err)
	}
	r, err := loadRun(f, num, name, size, verify)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("statedb: open run %s: %w", name, err)
	}
	r.path = path
	return r, nil
}

// loadRun maps and checks the bloom filter and index of an open run file. want >= 0 is
// the size the manifest records.
func loadRun(f *os.File, num uint64, name string, want int64, verify bool) (*run, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if want >= 0 && size != want {
		return nil, corruptf("size %d, the manifest says %d", size, want)
	}
	if size < footerSize {
		return nil, corruptf("%d bytes, shorter than a footer", size)
	}
	var ft [footerSize]byte
	if _, err := f.ReadAt(ft[:], size-footerSize); err != nil {
		return nil, readErr(err)
	}
	if !bytes.Equal(ft[footerSize-8:], runMagic[:]) {
		return nil, corruptf("bad footer magic")
	}
	if crc32.Checksum(ft[:footerCRC], castagnoli) != binary.BigEndian.Uint32(ft[footerCRC:]) {
		return nil, corruptf("footer checksum mismatch")
	}
	be := binary.BigEndian
	if v := be.Uint32(ft[footerCRC-4:]); v != runVersion {
		return nil, corruptf("format version %d, want %d", v, runVersion)
	}
	bloomOff, bloomLen := be.Uint64(ft[0:]), be.Uint64(ft[8:])
	tableOff, nblk := be.Uint64(ft[16:]), be.Uint64(ft[24:])
	keysOff, keysLen := be.Uint64(ft[32:]), be.Uint64(ft[40:])
	r := &run{
		num: num, name: name, f: f, size: size,
		count:  be.Uint64(ft[48:]),
		minSeq: be.Uint64(ft[56:]), maxSeq: be.Uint64(ft[64:]),
	}
	end := uint64(size - footerSize)
	// Every entry takes at least 2 bytes of a block: this bounds what the counts size.
	if bloomOff == 0 || bloomOff > end || r.count == 0 || r.count > bloomOff/2 || r.minSeq > r.maxSeq {
		return nil, corruptf("footer: %d entries in %d bytes of blocks, seqs %d..%d", r.count, bloomOff, r.minSeq, r.maxSeq)
	}
	if nblk == 0 || nblk > r.count {
		return nil, corruptf("%d blocks for %d entries", nblk, r.count)
	}
	tableLen := (nblk + 1) * indexEntry
	if bloomLen > end-bloomOff || bloomOff+bloomLen != tableOff || tableLen > end-tableOff ||
		tableOff+tableLen != keysOff || keysLen > end-keysOff || keysOff+keysLen != end {
		return nil, corruptf("footer sections do not fit the file")
	}
	if keysLen > math.MaxUint32 {
		return nil, corruptf("index keys of %d bytes", keysLen)
	}
	if bloomLen < 1+bloomBlock/8 || (bloomLen-1)%(bloomBlock/8) != 0 {
		return nil, corruptf("bloom filter of %d bytes", bloomLen)
	}
	r.dataEnd = int64(bloomOff)
	m, at, err := mapFile(f, int64(bloomOff), size-int64(bloomOff))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unmap(m)
		}
	}()
	sec := m[uint64(int64(bloomOff)-at):]
	bloom := sec[:bloomLen:bloomLen]
	table := sec[bloomLen : bloomLen+tableLen : bloomLen+tableLen]
	keys := sec[bloomLen+tableLen : bloomLen+tableLen+keysLen : bloomLen+tableLen+keysLen]
	if crc32.Checksum(bloom, castagnoli) != be.Uint32(ft[72:]) {
		return nil, corruptf("bloom filter checksum mismatch")
	}
	if crc32.Checksum(table, castagnoli) != be.Uint32(ft[76:]) {
		return nil, corruptf("index table checksum mismatch")
	}
	if crc32.Checksum(keys, castagnoli) != be.Uint32(ft[80:]) {
		return nil, corruptf("index keys checksum mismatch")
	}
	r.bloomK = uint32(bloom[0])
	if r.bloomK == 0 || r.bloomK > maxBloomHashes {
		return nil, corruptf("bloom filter with %d hashes", r.bloomK)
	}
	r.mapped = m
	r.bloom = bloom[1:]
	r.nbits = uint64(len(r.bloom)) * 8
	r.nblk, r.table, r.keys = int(nblk), table, keys
	if err := r.checkIndex(); err != nil {
		return nil, err
	}
	if verify {
		if err := r.verify(); err != nil {
			return nil, err
		}
	}
	ok = true
	r.refs.Store(1)
	return r, nil
}

// checkIndex checks the block index: blocks contiguous from 0 to dataEnd, each of a
// plausible size; first keys strictly ascending, within the keys section, with the right
// prefixes.
func (r *run) checkIndex() error {
	var prev []byte
	for i := 0; i <= r.nblk; i++ {
		off, ko := r.blockOff(i), r.keyOff(i)
		if i == 0 && (off != 0 || ko != 0) {
			return corruptf("index entry 0: block at %d, key at %d", off, ko)
		}
		if i == r.nblk {
			if off != r.dataEnd || ko != uint64(len(r.keys)) || r.pfx(i) != 0 {
				return corruptf("index end: blocks to %d of %d, keys to %d of %d", off, r.dataEnd, ko, len(r.keys))
			}
			break
		}
		if _, _, err := r.blockRange(i); err != nil {
			return corruptf("index entry %d: %v", i, err)
		}
		if next := r.keyOff(i + 1); next < ko || next > uint64(len(r.keys)) || next-ko > maxKeyLen {
			return corruptf("index entry %d: key at %d..%d of %d", i, ko, next, len(r.keys))
		}
		k := r.firstKey(i)
		if i > 0 && bytes.Compare(k, prev) <= 0 {
			return corruptf("index entry %d: keys out of order", i)
		}
		if prefix64(k) != r.pfx(i) {
			return corruptf("index entry %d: key prefix mismatch", i)
		}
		prev = k
	}
	return nil
}

// verify reads every block: checksums, entries, key order, count, bloom filter.
func (r *run) verify() error {
	it := r.iter(compactChunk)
	var n uint64
	for it.next() {
		if !bloomMay(r.bloom, r.nbits, r.bloomK, hashKey(it.key)) {
			return corruptf("key %x missing from the bloom filter", it.key)
		}
		n++
	}
	if it.err != nil {
		return it.err
	}
	if n != r.count {
		return corruptf("%d entries, the footer says %d", n, r.count)
	}
	return nil
}
