package ledger

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// Hand-written canonical CBOR for the hot path. Encoders produce exactly the bytes the
// reflection encoder (encMode) gives for the same value; decoders accept exactly the canonical
// encoding and report ok=false for anything else, so callers fall back to the reflection decoder,
// which then gives the error. Tests check both properties against encMode/decodeCanonical.

const (
	majUint   = 0 << 5
	majNeg    = 1 << 5
	majBytes  = 2 << 5
	majText   = 3 << 5
	majArray  = 4 << 5
	majMap    = 5 << 5
	cborFalse = 0xf4
	cborTrue  = 0xf5
)

// appendHead appends a shortest-form head of major type major with argument n.
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, major|27), n)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendHead(b, majNeg, uint64(-1-v))
	}
	return appendHead(b, majUint, uint64(v))
}

func appendBytes(b []byte, v []byte) []byte {
	return append(appendHead(b, majBytes, uint64(len(v))), v...)
}

func appendText(b []byte, v string) []byte {
	return append(appendHead(b, majText, uint64(len(v))), v...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, cborTrue)
	}
	return append(b, cborFalse)
}

// appendKey appends a small unsigned map key (all struct keys of this package are < 24).
func appendKey(b []byte, k byte) []byte { return append(b, k) }

// cborReader reads canonical CBOR. The first violation sets bad; later reads return zero values.
type cborReader struct {
	b    []byte
	off  int
	bad  bool
	strs *strCache // optional: reuses the strings of repeated values
}

// head reads a shortest-form definite head and returns its major type and argument.
func (r *cborReader) head() (byte, uint64) {
	if r.bad || r.off >= len(r.b) {
		r.bad = true
		return 0, 0
	}
	ib := r.b[r.off]
	major, ai := ib&0xe0, ib&0x1f
	r.off++
	var n uint64
	switch {
	case ai < 24:
		return major, uint64(ai)
	case ai == 24:
		if r.off+1 > len(r.b) {
			break
		}
		n = uint64(r.b[r.off])
		r.off++
		if n < 24 {
			break
		}
		return major, n
	case ai == 25:
		if r.off+2 > len(r.b) {
			break
		}
		n = uint64(binary.BigEndian.Uint16(r.b[r.off:]))
		r.off += 2
		if n <= math.MaxUint8 {
			break
		}
		return major, n
	case ai == 26:
		if r.off+4 > len(r.b) {
			break
		}
		n = uint64(binary.BigEndian.Uint32(r.b[r.off:]))
		r.off += 4
		if n <= math.MaxUint16 {
			break
		}
		return major, n
	case ai == 27:
		if r.off+8 > len(r.b) {
			break
		}
		n = binary.BigEndian.Uint64(r.b[r.off:])
		r.off += 8
		if n <= math.MaxUint32 {
			break
		}
		return major, n
	}
	r.bad = true
	return 0, 0
}

// mapLen reads a map head with at most max pairs.
func (r *cborReader) mapLen(max int) int {
	m, n := r.head()
	if m != majMap || n > uint64(max) {
		r.bad = true
		return 0
	}
	return int(n)
}

// arrayLen reads an array head with at most max elements.
func (r *cborReader) arrayLen(max int) int {
	m, n := r.head()
	if m != majArray || n > uint64(max) {
		r.bad = true
		return 0
	}
	return int(n)
}

// key reads a map key that must be a small unsigned integer greater than prev.
// Such a key is always one byte (a head with a longer argument is at least 24), which lets
// key, the reader's most frequent call, be inlined.
func (r *cborReader) key(prev int) int {
	if r.off < len(r.b) && !r.bad {
		if ib := r.b[r.off]; ib < 24 && int(ib) > prev { // major type 0, value ib
			r.off++
			return int(ib)
		}
	}
	r.bad = true
	return 0
}

func (r *cborReader) uint(max uint64) uint64 {
	m, n := r.head()
	if m != majUint || n > max {
		r.bad = true
		return 0
	}
	return n
}

func (r *cborReader) int() int64 {
	m, n := r.head()
	switch {
	case m == majUint && n <= math.MaxInt64:
		return int64(n)
	case m == majNeg && n <= math.MaxInt64:
		return -1 - int64(n)
	}
	r.bad = true
	return 0
}

// raw reads the content of a byte or text string of major type major; the slice aliases the input.
func (r *cborReader) raw(major byte) []byte {
	m, n := r.head()
	if m != major || n > uint64(len(r.b)-r.off) {
		r.bad = true
		return nil
	}
	v := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *cborReader) bytes() []byte { return r.raw(majBytes) }

func (r *cborReader) text() string {
	v := r.raw(majText)
	if s, ok := knownText(v); ok { // valid UTF-8: schemes, codes, record types, provinces
		return s
	}
	if !utf8.Valid(v) {
		r.bad = true
		return ""
	}
	if r.strs != nil {
		return r.strs.get(v)
	}
	return string(v)
}

// keyID reads a byte string as a KeyID.
func (r *cborReader) keyID() KeyID {
	v := r.bytes()
	if r.strs != nil {
		return KeyID(r.strs.get(v))
	}
	return KeyID(v)
}

// strCache gives the byte strings that repeat from record to record (the author, employers,
// regions) one string each instead of a copy per record. The strings equal the bytes whatever
// the cache holds: it decides only whether they are copied again. Direct-mapped on the length
// and the last bytes, which differ between distinct keys, codes and identifiers.
type strCache struct{ s [64]string }

func (c *strCache) get(v []byte) string {
	h := uint(len(v))
	for i := max(0, len(v)-8); i < len(v); i++ {
		h = h*31 + uint(v[i])
	}
	e := &c.s[h%uint(len(c.s))]
	if *e != string(v) {
		*e = string(v)
	}
	return *e
}

func (r *cborReader) hash() (h Hash) {
	v := r.bytes()
	if len(v) != len(h) {
		r.bad = true
		return h
	}
	copy(h[:], v)
	return h
}

func (r *cborReader) bool() bool {
	if r.bad || r.off >= len(r.b) {
		r.bad = true
		return false
	}
	v := r.b[r.off]
	r.off++
	switch v {
	case cborTrue:
		return true
	case cborFalse:
		return false
	}
	r.bad = true
	return false
}

// done reports whether the whole input was read without a violation.
func (r *cborReader) done() bool { return !r.bad && r.off == len(r.b) }

// knownText returns the common short strings (schemes, statuses, codes, province codes) as
// constants; ok is false for any other.
func knownText(v []byte) (string, bool) {
	switch string(v) {
	case SchemePension:
		return SchemePension, true
	case SchemeMedical:
		return SchemeMedical, true
	case SchemeUnemployment:
		return SchemeUnemployment, true
	case SchemeInjury:
		return SchemeInjury, true
	case StatusActive:
		return StatusActive, true
	case StatusTransferred:
		return StatusTransferred, true
	case StatusSealed:
		return StatusSealed, true
	case CodeOK:
		return CodeOK, true
	case string(TypeContribution):
		return string(TypeContribution), true
	}
	if len(v) == 2 && v[0] >= '0' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9' {
		return twoDigits[(v[0]-'0')*10+v[1]-'0'], true // province codes (hukou, account places)
	}
	return "", false
}

var twoDigits = func() (t [100]string) {
	for i := range t {
		t[i] = string([]byte{byte('0' + i/10), byte('0' + i%10)})
	}
	return t
}()
