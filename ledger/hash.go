package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Hash is a SHA-256 digest.
type Hash [32]byte

// ZeroHash is the all-zero hash: "none" (the previous block of a producer's first block).
var ZeroHash Hash

// String returns the lower-case hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero.
func (h Hash) IsZero() bool { return h == ZeroHash }

// MarshalText encodes h as hex for JSON.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex characters.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash decodes 64 hex characters.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("parse hash: want 64 hex characters, got %d", len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("parse hash: %w", err)
	}
	return h, nil
}

// Domain tags separate the hashes and signatures of different object kinds, so that bytes valid
// as one kind can never be presented as another. Each is hashed or signed as the tag's bytes
// followed by one zero byte and then the object. They are part of the wire format (docs/wire.md).
const (
	tagRecord     = "jaminan/v1/record"
	tagRecordSig  = "jaminan/v1/record-sig"
	tagRawRecord  = "jaminan/v1/raw-record"
	tagBlock      = "jaminan/v1/block"
	tagBlockSig   = "jaminan/v1/block-sig"
	tagCheckpoint = "jaminan/v1/checkpoint"
	tagFinal      = "jaminan/v1/final"
	tagWitness    = "jaminan/v1/witness"
	tagGenesis    = "jaminan/v1/genesis"
	tagState      = "jaminan/v1/state"
	tagWrites     = "jaminan/v1/writes"
	tagRequest    = "jaminan/v1/request"
	tagSnapshot   = "jaminan/v1/snapshot"
)

// taggedHash returns SHA-256(tag || 0x00 || parts...). Inputs up to a small record's size are
// gathered on the stack and hashed in one call, which allocates nothing.
func taggedHash(tag string, parts ...[]byte) Hash {
	n := len(tag) + 1
	for _, p := range parts {
		n += len(p)
	}
	if n <= stackHashMax {
		var buf [stackHashMax]byte
		b := append(buf[:0], tag...)
		b = append(b, 0)
		for _, p := range parts {
			b = append(b, p...)
		}
		return sha256.Sum256(b)
	}
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write([]byte{0})
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// stackHashMax is the largest input hashed from a stack buffer.
const stackHashMax = 1024

// taggedMessage returns tag || 0x00 || parts..., the exact bytes a signature covers.
func taggedMessage(tag string, parts ...[]byte) []byte {
	n := len(tag) + 1
	for _, p := range parts {
		n += len(p)
	}
	m := make([]byte, 0, n)
	m = append(m, tag...)
	m = append(m, 0)
	for _, p := range parts {
		m = append(m, p...)
	}
	return m
}
