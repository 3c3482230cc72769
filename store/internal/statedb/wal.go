package statedb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/jaminan/jaminan/ledger"
)

const (
	// walHeader precedes every WAL record: u32 payload length | u32 CRC32C(payload).
	walHeader = 8
	// maxRecord bounds the payload of a WAL record.
	maxRecord = 256 << 20
)

// recordSize returns the size of the WAL record of writes, header included.
func recordSize(seq uint64, writes []ledger.Write) int {
	n := walHeader + uvarintLen(seq) + uvarintLen(uint64(len(writes)))
	for i := range writes {
		w := &writes[i]
		n += uvarintLen(uint64(len(w.Key))) + len(w.Key) + 1
		if !w.Delete {
			n += uvarintLen(uint64(len(w.Value))) + len(w.Value)
		}
		if n > maxRecord+walHeader {
			break
		}
	}
	return n
}

// appendRecord appends the WAL record of checkpoint seq to dst: header, then the payload
// uvarint seq | uvarint count | count × (uvarint klen | key | flag | [uvarint vlen | value]).
func appendRecord(dst []byte, seq uint64, writes []ledger.Write) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, walHeader)...)
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(writes)))
	for i := range writes {
		w := &writes[i]
		dst = binary.AppendUvarint(dst, uint64(len(w.Key)))
		dst = append(dst, w.Key...)
		if w.Delete {
			dst = append(dst, flagDelete)
			continue
		}
		dst = append(dst, flagPut)
		dst = binary.AppendUvarint(dst, uint64(len(w.Value)))
		dst = append(dst, w.Value...)
	}
	payload := dst[start+walHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

// decodePayload parses a WAL payload; the writes point into p.
func decodePayload(p []byte, ws []ledger.Write) (uint64, []ledger.Write, error) {
	seq, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, errors.New("bad seq")
	}
	p = p[n:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)-n)/2 {
		return 0, nil, errors.New("bad write count")
	}
	p = p[n:]
	for i := range count {
		k, v, del, n, err := parseEntry(p)
		if err != nil {
			return 0, nil, fmt.Errorf("write %d: %w", i, err)
		}
		ws = append(ws, ledger.Write{Key: k, Value: v, Delete: del})
		p = p[n:]
	}
	if len(p) != 0 {
		return 0, nil, fmt.Errorf("%d bytes after the writes", len(p))
	}
	return seq, ws, nil
}

// walFile is the WAL being appended to.
type walFile struct {
	num  uint64
	name string
	f    *os.File
	size int64
}

// replayResult is what replaying a WAL found; the replay of a later WAL starts from the
// result of the one before (the checkpoints go on ascending across the files).
type replayResult struct {
	end      int64  // keep the file up to here (drops uncommitted records and a torn tail)
	newest   uint64 // highest seq of a valid record, or the flushed seq
	have     bool   // newest is set
	torn     string // why a torn tail was dropped, if one was
	prev     uint64 // the seq of the last record replayed
	havePrev bool
	stopped  bool // a record after applied ended the replay
}

// replayWAL reads the WAL records in order and hands those with seq <= applied to apply
// (replace: the record repeats the previous record's seq and replaces it). It stops at the
// first record with seq > applied. A bad record that ends the file (short, or its bytes after
// it are all zero) is a torn tail, dropped if every seq up to applied was read; any other
// bad record is corruption.
//
// from is the result of replaying the WAL before this one (zero for the first: then the
// replay starts from the flushed seq).
func replayWAL(f *os.File, size int64, flushed uint64, flushedValid bool, applied uint64, from replayResult,
	apply func(seq uint64, ws []ledger.Write, replace bool)) (replayResult, error) {
	res := from
	res.end, res.torn, res.stopped = 0, "", false
	if !res.have {
		res.newest, res.have = flushed, flushedValid
	}
	rd := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10)
	var hdr [walHeader]byte
	var buf []byte
	var ws []ledger.Write
	for off := int64(0); off < size; {
		var bad string
		recEnd := size + 1
		if size-off < walHeader {
			bad = "short record header"
		} else {
			if _, err := io.ReadFull(rd, hdr[:]); err != nil {
				return res, fmt.Errorf("read record at offset %d: %w", off, err)
			}
			n := int64(binary.BigEndian.Uint32(hdr[:]))
			recEnd = off + walHeader + n
			switch {
			case n > maxRecord:
				bad = fmt.Sprintf("record length %d over the limit", n)
			case recEnd > size:
				bad = fmt.Sprintf("record of %d bytes overruns the file", n)
			default:
				buf = grow(buf, int(n))
				if _, err := io.ReadFull(rd, buf); err != nil {
					return res, fmt.Errorf("read record at offset %d: %w", off, err)
				}
				if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
					bad = "checksum mismatch"
					break
				}
				seq, w, err := decodePayload(buf, ws[:0])
				if err != nil {
					bad = err.Error()
					break
				}
				ws = w
				if res.havePrev && seq < res.prev {
					return res, corruptf("record at offset %d: checkpoint %d after %d", off, seq, res.prev)
				}
				if flushedValid && seq <= flushed {
					return res, corruptf("record at offset %d: checkpoint %d, already flushed up to %d", off, seq, flushed)
				}
				if !res.have || seq > res.newest {
					res.newest, res.have = seq, true
				}
				if seq > applied {
					res.end, res.stopped = off, true
					return res, nil
				}
				apply(seq, ws, res.havePrev && seq == res.prev)
				res.prev, res.havePrev = seq, true
				off = recEnd
				continue
			}
		}
		tail, err := zeroTail(f, recEnd, size)
		if err != nil {
			return res, err
		}
		if !tail {
			return res, corruptf("record at offset %d: %s, and more data follows", off, bad)
		}
		if applied != 0 && !(res.have && res.newest >= applied) {
			return res, corruptf("record at offset %d: %s, and checkpoints up to %d are missing", off, bad, applied)
		}
		res.end, res.torn = off, bad
		return res, nil
	}
	res.end = size
	return res, nil
}

// zeroTail reports whether the file holds only zero bytes from off to size (true if off is
// at or past the end).
func zeroTail(f *os.File, off, size int64) (bool, error) {
	var buf [32 << 10]byte
	for off < size {
		n := min(int64(len(buf)), size-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("read at offset %d: %w", off, err)
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}
