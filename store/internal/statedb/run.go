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
	footerSize   = 80
	runVersion   = 1

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

	bloomK uint32
	nbits  uint64
	bloom  []byte

	// Block index: block i starts at blkOff[i] and ends at blkOff[i+1]; its first key is
	// keys[keyOff[i]:keyOff[i+1]].
	keys   []byte
	keyOff []uint32
	blkOff []int64
	pfx    []uint64 // prefix64 of each first key, searched before the keys

	refs    atomic.Int64
	onClose func(*run) // called once, when the file is closed
	closeMu sync.Mutex
	closed  bool
}

func (r *run) blocks() int { return len(r.blkOff) - 1 }

func (r *run) firstKey(i int) []byte { return r.keys[r.keyOff[i]:r.keyOff[i+1]] }

// findBlock returns the last block whose first key is <= key, or -1.
func (r *run) findBlock(key []byte) int {
	kp := prefix64(key)
	lo, hi := 0, r.blocks()
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		var le bool
		if p := r.pfx[m]; p != kp {
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

// setPrefixes fills pfx from the index keys.
func (r *run) setPrefixes() {
	r.pfx = make([]uint64, r.blocks())
	for i := range r.pfx {
		r.pfx[i] = prefix64(r.firstKey(i))
	}
}

func (r *run) unref() {
	if r.refs.Add(-1) == 0 {
		r.closeFile()
	}
}

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
	off, end := r.blkOff[i], r.blkOff[i+1]
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
		if j == 0 && prefix64(k) != r.pfx[i] {
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

// loadRun reads the footer, bloom filter and index of an open run file.
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
	if !bytes.Equal(ft[72:], runMagic[:]) {
		return nil, corruptf("bad footer magic")
	}
	if crc32.Checksum(ft[:68], castagnoli) != binary.BigEndian.Uint32(ft[68:]) {
		return nil, corruptf("footer checksum mismatch")
	}
	be := binary.BigEndian
	bloomOff, bloomLen := be.Uint64(ft[0:]), be.Uint64(ft[8:])
	indexOff, indexLen := be.Uint64(ft[16:]), be.Uint64(ft[24:])
	r := &run{
		num: num, name: name, f: f, size: size,
		count:  be.Uint64(ft[32:]),
		minSeq: be.Uint64(ft[40:]), maxSeq: be.Uint64(ft[48:]),
	}
	if v := be.Uint32(ft[64:]); v != runVersion {
		return nil, corruptf("format version %d, want %d", v, runVersion)
	}
	end := uint64(size - footerSize)
	if bloomOff == 0 || bloomOff > end || bloomLen > end-bloomOff || bloomOff+bloomLen != indexOff ||
		indexLen > end-indexOff || indexOff+indexLen != end {
		return nil, corruptf("footer sections do not fit the file")
	}
	// Every entry takes at least 2 bytes of a block: this bounds what the count sizes.
	if r.count == 0 || r.count > bloomOff/2 || r.minSeq > r.maxSeq {
		return nil, corruptf("footer: %d entries, seqs %d..%d", r.count, r.minSeq, r.maxSeq)
	}
	if bloomLen < 1+bloomBlock/8 || (bloomLen-1)%(bloomBlock/8) != 0 {
		return nil, corruptf("bloom filter of %d bytes", bloomLen)
	}
	r.dataEnd = int64(bloomOff)
	bloom, index := make([]byte, bloomLen), make([]byte, indexLen)
	if _, err := f.ReadAt(bloom, int64(bloomOff)); err != nil {
		return nil, readErr(err)
	}
	if _, err := f.ReadAt(index, int64(indexOff)); err != nil {
		return nil, readErr(err)
	}
	if crc32.Checksum(bloom, castagnoli) != be.Uint32(ft[56:]) {
		return nil, corruptf("bloom filter checksum mismatch")
	}
	if crc32.Checksum(index, castagnoli) != be.Uint32(ft[60:]) {
		return nil, corruptf("index checksum mismatch")
	}
	r.bloomK = uint32(bloom[0])
	if r.bloomK == 0 || r.bloomK > maxBloomHashes {
		return nil, corruptf("bloom filter with %d hashes", r.bloomK)
	}
	r.bloom = bloom[1:]
	r.nbits = uint64(len(r.bloom)) * 8
	if err := r.parseIndex(index); err != nil {
		return nil, err
	}
	if uint64(r.blocks()) > r.count {
		return nil, corruptf("%d blocks for %d entries", r.blocks(), r.count)
	}
	if verify {
		if err := r.verify(); err != nil {
			return nil, err
		}
	}
	r.refs.Store(1)
	return r, nil
}

// parseIndex parses the index: per block uvarint klen | first key | uvarint offset | uvarint
// length. Blocks must be contiguous from 0 to dataEnd and first keys strictly ascending.
func (r *run) parseIndex(b []byte) error {
	var next int64
	var prev []byte
	r.keys = make([]byte, 0, len(b))
	for i := 0; len(b) > 0; i++ {
		kl, m := binary.Uvarint(b)
		if m <= 0 || kl > maxKeyLen || kl > uint64(len(b)-m) {
			return corruptf("index entry %d: bad key", i)
		}
		k := b[m : m+int(kl)]
		b = b[m+int(kl):]
		off, m := binary.Uvarint(b)
		if m <= 0 {
			return corruptf("index entry %d: bad offset", i)
		}
		b = b[m:]
		ln, m := binary.Uvarint(b)
		if m <= 0 {
			return corruptf("index entry %d: bad length", i)
		}
		b = b[m:]
		if off != uint64(next) || ln <= blockTrailer || ln > maxBlockRaw+blockTrailer || ln > uint64(r.dataEnd-next) {
			return corruptf("index entry %d: block at %d+%d, want it at %d within %d", i, off, ln, next, r.dataEnd)
		}
		if i > 0 && bytes.Compare(k, prev) <= 0 {
			return corruptf("index entry %d: keys out of order", i)
		}
		if uint64(len(r.keys))+uint64(len(k)) > math.MaxUint32 {
			return corruptf("index too large")
		}
		prev = k
		r.keyOff = append(r.keyOff, uint32(len(r.keys)))
		r.keys = append(r.keys, k...)
		r.blkOff = append(r.blkOff, next)
		next += int64(ln)
	}
	if len(r.blkOff) == 0 || next != r.dataEnd {
		return corruptf("index covers %d of %d bytes of blocks", next, r.dataEnd)
	}
	r.keyOff = append(r.keyOff, uint32(len(r.keys)))
	r.blkOff = append(r.blkOff, next)
	r.setPrefixes()
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
