package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// Value format of one raft.Log (all integers little-endian or varint):
//
//	version   byte    = logFormatV1
//	flags     byte    bit 0: AppendedAt is present
//	index     uvarint
//	term      uvarint
//	type      byte    raft.LogType
//	dataLen   uvarint
//	data      dataLen bytes
//	extLen    uvarint
//	ext       extLen bytes
//	appended  varint  unix nanoseconds, only when flags bit 0 is set
//	crc       uint32  CRC-32C (Castagnoli) of every preceding byte
//
// The index is stored although it is also the key, so that a value read back
// under the wrong key is detected. The checksum catches bit flips that would
// otherwise decode into a plausible but wrong entry; badger does not verify
// its own block checksums by default.
const (
	logFormatV1 = 1

	flagAppendedAt = 1 << 0
	knownFlags     = flagAppendedAt

	// headerMax bounds the fixed and varint part of an encoded entry:
	// version, flags, five varints, type and checksum.
	headerMax = 2 + 5*binary.MaxVarintLen64 + 1 + 4
)

// ErrCorrupt is wrapped by every error that reports an undecodable log value.
// GetLog and decodeLog return it; callers check it with errors.Is.
var ErrCorrupt = errors.New("corrupt raft log entry")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// minYear and maxYear bound the times whose unix nanoseconds fit an int64;
// outside them time.UnixNano is undefined, so such times are stored as absent.
const (
	minYear = 1678
	maxYear = 2261
)

// encodeLog appends the encoding of l to dst and returns the extended slice.
func encodeLog(dst []byte, l *raft.Log) []byte {
	start := len(dst)
	var flags byte
	at := l.AppendedAt
	if !at.IsZero() && at.Year() >= minYear && at.Year() <= maxYear {
		flags |= flagAppendedAt
	}
	dst = append(dst, logFormatV1, flags)
	dst = binary.AppendUvarint(dst, l.Index)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	if flags&flagAppendedAt != 0 {
		dst = binary.AppendVarint(dst, at.UnixNano())
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// encodedLen returns an upper bound of the encoded size of l.
func encodedLen(l *raft.Log) int {
	return headerMax + len(l.Data) + len(l.Extensions)
}

// decodeLog decodes b into l. It never retains b: Data and Extensions are
// copied, so b may be a buffer that badger reuses. Every malformed input
// yields an error wrapping ErrCorrupt; decodeLog does not panic.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 2+4 {
		return fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	if body[0] != logFormatV1 {
		return fmt.Errorf("%w: unknown format version %d", ErrCorrupt, body[0])
	}
	flags := body[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	d := decoder{b: body[2:]}
	index := d.uvarint("index")
	term := d.uvarint("term")
	typ := d.byte("type")
	data := d.bytes("data")
	ext := d.bytes("extensions")
	var at time.Time
	if flags&flagAppendedAt != 0 {
		at = time.Unix(0, d.varint("appended at"))
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	*l = raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogType(typ),
		Data:       data,
		Extensions: ext,
		AppendedAt: at,
	}
	return nil
}

// decoder reads fields in order and remembers the first error, so the caller
// checks once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(field, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, field, why)
	}
	d.b = nil
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(field, "bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(field, "bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(field, "missing")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes reads a length-prefixed byte string and returns a copy of it, or nil
// when it is empty, as raft itself produces nil for absent data.
func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(field, fmt.Sprintf("length %d exceeds the %d remaining bytes", n, len(d.b)))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}
