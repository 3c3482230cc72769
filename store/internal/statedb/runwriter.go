package statedb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"
)

// runWriter writes a run file: data blocks, then bloom filter, index and footer.
type runWriter struct {
	num        uint64
	name, path string
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

	keys   []byte
	keyOff []uint32
	blkOff []int64

	// With an expected key count the filter is filled while writing (or by the caller, if
	// extBloom); else it is built from a second pass over the written blocks (Build).
	bloom    []byte
	nbits    uint64
	extBloom bool

	comp    []byte
	trailer [blockTrailer]byte

	// A background fsync every syncEvery bytes overlaps the disk writes with the encoding.
	synced  int64
	syncReq chan struct{}
	syncErr chan error
}

// syncEvery is the distance between the background syncs of a run being written.
const syncEvery = 4 << 20

// createRun creates run file num in dir. expect > 0 is an upper bound of the entry count.
// stop, if set, is checked after every block; true aborts with errStopped.
func createRun(dir string, num uint64, opts Options, expect int, stop func() bool) (*runWriter, error) {
	name := runName(num)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("statedb: create run %s: %w", name, err)
	}
	w := &runWriter{
		num: num, name: name, path: path, f: f,
		bw:        bufio.NewWriterSize(f, writeBuffer),
		blockSize: opts.BlockSize,
		compress:  opts.Compress,
		stop:      stop,
	}
	if expect > 0 {
		w.nbits = bloomBits(uint64(expect))
		w.bloom = make([]byte, w.nbits/8)
	}
	return w, nil
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
		if uint64(len(w.keys))+uint64(len(key)) > math.MaxUint32 {
			return fmt.Errorf("statedb: write run %s: index too large", w.name)
		}
		w.keyOff = append(w.keyOff, uint32(len(w.keys)))
		w.keys = append(w.keys, key...)
		w.blkOff = append(w.blkOff, w.off)
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

// abort closes and removes the file.
func (w *runWriter) abort() {
	_ = w.stopSync()
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
	r := &run{
		num: w.num, name: w.name, path: w.path, f: w.f,
		count: w.count, minSeq: minSeq, maxSeq: maxSeq, dataEnd: w.off,
		keys:   w.keys,
		keyOff: append(w.keyOff, uint32(len(w.keys))),
		blkOff: append(w.blkOff, w.off),
		bloomK: bloomHashes,
	}
	r.setPrefixes()
	if w.bloom == nil {
		// Second pass: the filter is sized by the final count.
		if err := w.bw.Flush(); err != nil {
			return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
		}
		w.nbits = bloomBits(w.count)
		w.bloom = make([]byte, w.nbits/8)
		it := r.iter(compactChunk)
		for it.next() {
			bloomAdd(w.bloom, w.nbits, hashKey(it.key))
		}
		if it.err != nil {
			return nil, fmt.Errorf("statedb: read back run %s: %w", w.name, it.err)
		}
	}
	r.nbits, r.bloom = w.nbits, w.bloom

	bloom := make([]byte, 0, 1+len(w.bloom))
	bloom = append(bloom, bloomHashes)
	bloom = append(bloom, w.bloom...)
	var index []byte
	for i := range r.blocks() {
		k := r.firstKey(i)
		index = binary.AppendUvarint(index, uint64(len(k)))
		index = append(index, k...)
		index = binary.AppendUvarint(index, uint64(r.blkOff[i]))
		index = binary.AppendUvarint(index, uint64(r.blkOff[i+1]-r.blkOff[i]))
	}
	bloomOff := w.off
	indexOff := bloomOff + int64(len(bloom))
	footer := make([]byte, 0, footerSize)
	footer = binary.BigEndian.AppendUint64(footer, uint64(bloomOff))
	footer = binary.BigEndian.AppendUint64(footer, uint64(len(bloom)))
	footer = binary.BigEndian.AppendUint64(footer, uint64(indexOff))
	footer = binary.BigEndian.AppendUint64(footer, uint64(len(index)))
	footer = binary.BigEndian.AppendUint64(footer, w.count)
	footer = binary.BigEndian.AppendUint64(footer, minSeq)
	footer = binary.BigEndian.AppendUint64(footer, maxSeq)
	footer = binary.BigEndian.AppendUint32(footer, crc32.Checksum(bloom, castagnoli))
	footer = binary.BigEndian.AppendUint32(footer, crc32.Checksum(index, castagnoli))
	footer = binary.BigEndian.AppendUint32(footer, runVersion)
	footer = binary.BigEndian.AppendUint32(footer, crc32.Checksum(footer, castagnoli))
	footer = append(footer, runMagic[:]...)
	for _, b := range [][]byte{bloom, index, footer} {
		if _, err := w.bw.Write(b); err != nil {
			return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return nil, fmt.Errorf("statedb: write run %s: %w", w.name, err)
	}
	if err := w.stopSync(); err != nil {
		return nil, fmt.Errorf("statedb: sync run %s: %w", w.name, err)
	}
	if err := w.f.Sync(); err != nil {
		return nil, fmt.Errorf("statedb: sync run %s: %w", w.name, err)
	}
	r.size = indexOff + int64(len(index)) + footerSize
	r.refs.Store(1)
	return r, nil
}
