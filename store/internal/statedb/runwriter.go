package statedb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"
)

// runWriter writes a run file: data blocks, then bloom filter, index and footer. The index
// is spilled to unlinked temporary files while the blocks are written and the bloom filter
// is kept in a scratch array (a temporary file's mapping if large), so that writing a run
// of any size takes a bounded amount of anonymous memory.
type runWriter struct {
	num        uint64
	name, path string
	dir        string
	f          *os.File
	bw         *bufio.Writer
	blockSize  int
	compress   bool
	stop       func() bool

	off     int64
	block   []byte
	inBlock int
	last    []byte
	count   uint64

	// The index: table entries and first keys, in temporary files until finish.
	nblk    int
	table   *spill
	keys    *spill
	entry   [indexEntry]byte
	keysLen uint64

	// With an expected key count the filter is filled while writing (or by the caller, if
	// extBloom); else it is built from a second pass over the written blocks (Build).
	bloom    []byte
	bloomBuf *scratch
	nbits    uint64
	extBloom bool

	comp    []byte
	trailer [blockTrailer]byte

	// A background fsync every syncEvery bytes overlaps the disk writes with the encoding.
	synced  int64
	syncReq chan struct{}
	syncErr chan error
}

// spill is a buffered, unlinked temporary file with the CRC32C of what was written.
type spill struct {
	f   *os.File
	bw  *bufio.Writer
	n   int64
	crc uint32
}

// spillBuffer is the write buffer of a spill file.
const spillBuffer = 64 << 10

func newSpill(dir, name string) (*spill, error) {
	f, err := createTemp(dir, name)
	if err != nil {
		return nil, err
	}
	return &spill{f: f, bw: bufio.NewWriterSize(f, spillBuffer)}, nil
}

func (s *spill) write(b []byte) error {
	s.crc = crc32.Update(s.crc, castagnoli, b)
	s.n += int64(len(b))
	_, err := s.bw.Write(b)
	return err
}

func (s *spill) close() {
	if s != nil && s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

// copyTo flushes s and appends its content to f at f's offset.
func (s *spill) copyTo(f *os.File) error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(f, s.f)
	if err == nil && n != s.n {
		err = fmt.Errorf("copied %d of %d bytes", n, s.n)
	}
	return err
}

// mapSpill flushes s and maps its content read-only.
func (s *spill) mapAll() ([]byte, error) {
	if err := s.bw.Flush(); err != nil {
		return nil, err
	}
	m, _, err := mapFile(s.f, 0, s.n)
	return m, err
}

// syncEvery is the distance between the background syncs of a run being written.
const syncEvery = 4 << 20

// createRun creates run file num in dir. expect > 0 is an upper bound of the entry count.
// stop, if set, is checked after every block; true aborts with errStopped.
func createRun(dir string, num uint64, opts Options, expect int, stop func() bool) (w *runWriter, err error) {
	name := runName(num)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("statedb: create run %s: %w", name, err)
	}
	w = &runWriter{
		num: num, name: name, path: path, dir: dir, f: f,
		bw:        bufio.NewWriterSize(f, writeBuffer),
		blockSize: opts.BlockSize,
		compress:  opts.Compress,
		stop:      stop,
	}
	defer func() {
		if err != nil {
			w.abort()
			err = fmt.Errorf("statedb: create run %s: %w", name, err)
		}
	}()
	if w.table, err = newSpill(dir, name); err != nil {
		return nil, err
	}
	if w.keys, err = newSpill(dir, name); err != nil {
		return nil, err
	}
	if expect > 0 {
		if err := w.newBloom(uint64(expect)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// newBloom allocates the filter for n keys.
func (w *runWriter) newBloom(n uint64) error {
	w.nbits = bloomBits(n)
	if w.nbits/8 > math.MaxInt32 {
		return fmt.Errorf("bloom filter for %d keys", n)
	}
	buf, err := newScratch(w.dir, w.name, int(w.nbits/8))
	if err != nil {
		return err
	}
	w.bloomBuf, w.bloom = buf, buf.b
	return nil
}

// putEntry writes index table entry pfx | block offset | key offset.
func (w *runWriter) putEntry(pfx uint64, off int64, keyOff uint64) error {
	be := binary.BigEndian
	be.PutUint64(w.entry[0:], pfx)
	be.PutUint64(w.entry[8:], uint64(off))
	be.PutUint32(w.entry[16:], uint32(keyOff))
	return w.table.write(w.entry[:])
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// add appends an entry; keys must be strictly ascending (else ErrOrder).
func (w *runWriter) add(key, val []byte, del bool) error {
	if w.count > 0 && bytes.Compare(key, w.last) <= 0 {
		return fmt.Errorf("%w: key %x does not follow %x", ErrOrder, key, w.last)
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("statedb: key of %d bytes, over the limit of %d", len(key), maxKeyLen)
	}
	if del {
		val = nil
	} else if len(val) > maxValueLen {
		return fmt.Errorf("statedb: value of %d bytes, over the limit of %d", len(val), maxValueLen)
	}
	size := uvarintLen(uint64(len(key))) + len(key) + 1
	if !del {
		size += uvarintLen(uint64(len(val))) + len(val)
	}
	if w.inBlock > 0 && len(w.block)+size > w.blockSize {
		if err := w.finishBlock(); err != nil {
			return err
		}
	}
	if w.inBlock == 0 {
		if w.keysLen+uint64(len(key)) > math.MaxUint32 {
			return fmt.Errorf("statedb: write run %s: index too large", w.name)
		}
		if err := w.putEntry(prefix64(key), w.off, w.keysLen); err != nil {
			return fmt.Errorf("statedb: write the index of run %s: %w", w.name, err)
		}
		if err := w.keys.write(key); err != nil {
			return fmt.Errorf("statedb: write the index of run %s: %w", w.name, err)
		}
		w.keysLen += uint64(len(key))
		w.nblk++
	}
	w.block = binary.AppendUvarint(w.block, uint64(len(key)))
	w.block = append(w.block, key...)
	if del {
		w.block = append(w.block, flagDelete)
	} else {
		w.block = append(w.block, flagPut)
		w.block = binary.AppendUvarint(w.block, uint64(len(val)))
		w.block = append(w.block, val...)
	}
	w.inBlock++
	w.count++
	w.last = append(w.last[:0], key...)
	if w.bloom != nil && !w.extBloom {
		bloomAdd(w.bloom, w.nbits, hashKey(key))
	}
	return nil
}

func (w *runWriter) finishBlock() error {
	stored, comp := w.block, byte(compNone)
	if w.compress {
		if need := s2.MaxEncodedLen(len(w.block)); cap(w.comp) < need {
			w.comp = make([]byte, need)
		}
		if enc := s2.Encode(w.comp[:cap(w.comp)], w.block); len(enc) < len(w.block)-len(w.block)/8 {
			stored, comp = enc, compS2
		}
	}
	w.trailer[0] = comp
	crc := crc32.Update(crc32.Checksum(stored, castagnoli), castagnoli, w.trailer[:1])
	binary.BigEndian.PutUint32(w.trailer[1:], crc)
	if _, err := w.bw.Write(stored); err != nil {
		return fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	if _, err := w.bw.Write(w.trailer[:]); err != nil {
		return fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	w.off += int64(len(stored)) + blockTrailer
	if w.off-w.synced >= syncEvery && w.bw.Buffered() < int(w.off-w.synced) {
		w.backgroundSync()
	}
	w.block = w.block[:0]
	w.inBlock = 0
	if w.stop != nil && w.stop() {
		return errStopped
	}
	return nil
}

// backgroundSync asks the syncing goroutine (started on first use) for an fsync; if one is
// running the request waits for the next round.
func (w *runWriter) backgroundSync() {
	if w.syncReq == nil {
		w.syncReq, w.syncErr = make(chan struct{}, 1), make(chan error, 1)
		go func(f *os.File, req <-chan struct{}, res chan<- error) {
			var err error
			for range req {
				if err == nil {
					err = f.Sync()
				}
			}
			res <- err
		}(w.f, w.syncReq, w.syncErr)
	}
	select {
	case w.syncReq <- struct{}{}:
		w.synced = w.off
	default:
	}
}

// stopSync stops the syncing goroutine and returns its error.
func (w *runWriter) stopSync() error {
	if w.syncReq == nil {
		return nil
	}
	close(w.syncReq)
	err := <-w.syncErr
	w.syncReq = nil
	return err
}

// releaseTemp closes the temporary files.
func (w *runWriter) releaseTemp() {
	w.table.close()
	w.keys.close()
	w.bloomBuf.release()
	w.bloom, w.bloomBuf = nil, nil
}

// abort closes and removes the file.
func (w *runWriter) abort() {
	_ = w.stopSync()
	w.releaseTemp()
	_ = w.f.Close()
	_ = os.Remove(w.path)
}

// finish writes the rest of the file, syncs it and returns it as an open run with one
// reference. An empty run is not kept: finish removes the file and returns nil. On error the
// file is removed.
func (w *runWriter) finish(minSeq, maxSeq uint64) (*run, error) {
	r, err := w.finishFile(minSeq, maxSeq)
	if err != nil || r == nil {
		w.abort()
		return nil, err
	}
	w.releaseTemp()
	return r, nil
}

func (w *runWriter) finishFile(minSeq, maxSeq uint64) (*run, error) {
	if w.inBlock > 0 {
		if err := w.finishBlock(); err != nil {
			return nil, err
		}
	}
	if w.count == 0 {
		return nil, nil
	}
	if err := w.putEntry(0, w.off, w.keysLen); err != nil {
		return nil, fmt.Errorf("statedb: write the index of run %s: %w", w.name, err)
	}
	if w.bloom == nil {
		// Second pass: the filter is sized by the final count.
		if err := w.fillBloom(); err != nil {
			return nil, err
		}
	}
	bloomK := [1]byte{bloomHashes}
	bloomCRC := crc32.Update(crc32.Checksum(bloomK[:], castagnoli), castagnoli, w.bloom)
	for _, b := range [][]byte{bloomK[:], w.bloom} {
		if _, err := w.bw.Write(b); err != nil {
			return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	bloomOff := w.off
	bloomLen := int64(1 + len(w.bloom))
	tableOff := bloomOff + bloomLen
	keysOff := tableOff + w.table.n
	for _, s := range []*spill{w.table, w.keys} {
		if err := s.copyTo(w.f); err != nil {
			return nil, fmt.Errorf("statedb: write the index of run %s: %w", w.name, err)
		}
	}
	be := binary.BigEndian
	footer := make([]byte, 0, footerSize)
	for _, x := range []uint64{uint64(bloomOff), uint64(bloomLen), uint64(tableOff), uint64(w.nblk),
		uint64(keysOff), w.keysLen, w.count, minSeq, maxSeq} {
		footer = be.AppendUint64(footer, x)
	}
	for _, x := range []uint32{bloomCRC, w.table.crc, w.keys.crc, runVersion} {
		footer = be.AppendUint32(footer, x)
	}
	footer = be.AppendUint32(footer, crc32.Checksum(footer, castagnoli))
	footer = append(footer, runMagic[:]...)
	if _, err := w.f.Write(footer); err != nil {
		return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	if err := w.stopSync(); err != nil {
		return nil, fmt.Errorf("statedb: sync run %s: %w", w.name, err)
	}
	if err := w.f.Sync(); err != nil {
		return nil, fmt.Errorf("statedb: sync run %s: %w", w.name, err)
	}
	size := keysOff + int64(w.keysLen) + footerSize
	r, err := loadRun(w.f, w.num, w.name, size, false)
	if err != nil {
		return nil, fmt.Errorf("statedb: reopen the written run %s: %w", w.name, err)
	}
	r.path = w.path
	return r, nil
}

// fillBloom sizes the bloom filter by the entry count and fills it from a pass over the
// written blocks, read through the index spilled so far.
func (w *runWriter) fillBloom() error {
	what := fmt.Sprintf("statedb: read back run %s", w.name)
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	table, err := w.table.mapAll()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unmap(table)
	var keys []byte
	if w.keysLen > 0 {
		if keys, err = w.keys.mapAll(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer unmap(keys)
	}
	if err := w.newBloom(w.count); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r := &run{name: w.name, f: w.f, dataEnd: w.off, nblk: w.nblk, table: table, keys: keys}
	it := r.iter(compactChunk)
	for it.next() {
		bloomAdd(w.bloom, w.nbits, hashKey(it.key))
	}
	if it.err != nil {
		return fmt.Errorf("%s: %w", what, it.err)
	}
	return nil
}
