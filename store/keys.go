package store

import (
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/s2"

	"github.com/jaminan/jaminan/ledger"
)

// Key layout: one prefix byte, then fixed-width big-endian fields, so that related keys sort
// together and sequential things get sequential keys. Variable-length strings (employer codes,
// producer IDs) carry a one-byte length so that no key is a prefix of another of a different
// owner. DESIGN.md lists the values and the keys written per record.
const (
	pfxMeta     = 'm' // m | name                              → store metadata
	pfxBlock    = 'B' // B | block hash                        → block value (blockValue; content-addressed)
	pfxPlace    = 'b' // b | block hash                        → seq(8) | index in checkpoint(4)
	pfxChain    = 'H' // H | len | producer | height(8)        → block hash (accepted blocks)
	pfxCkpt     = 'K' // K | seq(8)                            → checkpoint body bytes
	pfxSummary  = 'R' // R | seq(8)                            → roots of the checkpoint's result
	pfxReceipts = 'r' // r | seq(8) | block index(4)           → receipts of the block's records
	pfxCert     = 'Z' // Z | seq(8)                            → certificate bytes
	pfxLocation = 'L' // L | record id                         → location and receipt code
	pfxWorker   = 'W' // W | worker | seq(8) | ord(4)          → record id | type
	pfxMonths   = 'M' // M | len | employer | worker | period(4) → through(4) | record id
	pfxEmploy   = 'P' // P | len | employer | worker            → start(4) | end(4) | record id
	pfxCase     = 'T' // T | case | seq(8) | ord(4)            → record id | type
	pfxAccount  = 'A' // A | province(2) | scheme(1) | worker  → (empty)
	pfxAccess   = 'X' // X | worker | seq(8) | ord(4)          → record id | reader | what
	pfxMinistry = 'G' // G | zero(32) | seq(8) | ord(4)        → record id | type: changes of the ministry set
	// 'J' and 'j' held the redo journal in format 1; it is a file beside badger since format 2.
	// 's' held the ledger state (s | generation | ledger key) up to format 2; it is in
	// store/internal/statedb since format 3.
)

// isIndexKey reports whether a key belongs to the secondary indexes (W M P T A X G), which are
// kept in the index engine (statedb, DESIGN.md §2a), not in badger.
func isIndexKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	switch k[0] {
	case pfxWorker, pfxMonths, pfxEmploy, pfxCase, pfxAccount, pfxAccess, pfxMinistry:
		return true
	}
	return false
}

// maxKeyString bounds the strings embedded in keys (employer codes, producer IDs). Accepted
// records never come near it; a longer string is not indexed.
const maxKeyString = 64

// Metadata keys.
var (
	keyFormat  = []byte("mformat")  // format version, u32
	keyGenesis = []byte("mgenesis") // canonical genesis bytes
	keyGen     = []byte("mgen")     // active state generation, 1 byte
	keyBase    = []byte("mbase")    // seq(8): the checkpoint the state's history starts after
)

// formatVersion is the on-disk layout version written at creation and checked at Open.
// Format 2 stores record locations without the block hash and worker (DESIGN.md §2); format 3
// keeps the ledger state outside badger, in statedb (DESIGN.md §2a); format 4 stores blocks
// S2-compressed (blockValue). A format-3 store is upgraded in place at Open (its blocks stay
// as written, which format 4 reads); a store of another format is refused with ErrFormat.
const (
	formatVersion = 4
	formatUpgrade = 3
)

func u32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// newKey starts a key with its prefix, with room for size bytes.
func newKey(prefix byte, size int) []byte { return append(make([]byte, 0, size), prefix) }

// appendStr appends a length-prefixed string; ok is false if it is longer than maxKeyString.
func appendStr(b []byte, s string) ([]byte, bool) {
	if len(s) > maxKeyString {
		return b, false
	}
	return append(append(b, byte(len(s))), s...), true
}

func blockKey(h ledger.Hash) []byte { return append(newKey(pfxBlock, 33), h[:]...) }
func placeKey(h ledger.Hash) []byte { return append(newKey(pfxPlace, 33), h[:]...) }
func seqKey(prefix byte, seq uint64) []byte {
	return appendU64(newKey(prefix, 9), seq)
}
func receiptsKey(seq uint64, blk uint32) []byte {
	return appendU32(appendU64(newKey(pfxReceipts, 13), seq), blk)
}
func receiptsPrefix(seq uint64) []byte  { return appendU64(newKey(pfxReceipts, 9), seq) }
func locationKey(id ledger.Hash) []byte { return append(newKey(pfxLocation, 33), id[:]...) }

// chainPrefix is the prefix of a producer's accepted blocks; ok is false for an ID that is too
// long to index (no member has one).
func chainPrefix(p ledger.KeyID) ([]byte, bool) {
	return appendStr(newKey(pfxChain, 2+len(p)+8), string(p))
}

// posKey is prefix | id(32) | seq(8) | ord(4): the worker, case and access indexes.
func posKey(prefix byte, id [32]byte, seq uint64, ord uint32) []byte {
	return appendU32(appendU64(append(newKey(prefix, 45), id[:]...), seq), ord)
}
func idPrefix(prefix byte, id [32]byte) []byte { return append(newKey(prefix, 33), id[:]...) }

func employerPrefix(prefix byte, employer string) ([]byte, bool) {
	return appendStr(newKey(prefix, 2+len(employer)+36), employer)
}

func accountPrefix(prov string, scheme byte) []byte {
	b := append(newKey(pfxAccount, 4+32), prov...)
	if scheme != 0 {
		b = append(b, scheme)
	}
	return b
}

// schemeByte is the one-byte form of a scheme in index keys; 0 for an unknown scheme.
func schemeByte(s string) byte {
	switch s {
	case ledger.SchemePension:
		return 'p'
	case ledger.SchemeMedical:
		return 'm'
	case ledger.SchemeUnemployment:
		return 'u'
	case ledger.SchemeInjury:
		return 'i'
	}
	return 0
}

func schemeName(b byte) string {
	switch b {
	case 'p':
		return ledger.SchemePension
	case 'm':
		return ledger.SchemeMedical
	case 'u':
		return ledger.SchemeUnemployment
	case 'i':
		return ledger.SchemeInjury
	}
	return ""
}

// prefixEnd returns the smallest key greater than every key with prefix p (nil if none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// blockS2 starts a block value holding the block's encoding S2-compressed. A block's encoding
// is a CBOR map, whose first byte is never blockS2, so a value without it is the encoding
// itself (format 3, or a block that S2 does not shrink).
const blockS2 = 0x01

// blockValue returns the value stored for a block's encoding: S2-compressed, which takes a
// block of new workers' contributions from 182 to 65 bytes a record (the bureau's key and the
// records' repeated fields compress; workers' pseudonyms and hashes do not), unless that
// saves nothing.
func blockValue(enc []byte) []byte {
	dst := make([]byte, 1+s2.MaxEncodedLen(len(enc)))
	out := s2.Encode(dst[1:], enc)
	if 1+len(out) >= len(enc) {
		return enc
	}
	dst[0] = blockS2
	return dst[:1+len(out)]
}

// blockBytes returns the block encoding a stored value holds; damage is ErrCorrupt.
func blockBytes(val []byte) ([]byte, error) {
	if len(val) == 0 || val[0] != blockS2 {
		return val, nil
	}
	n, err := s2.DecodedLen(val[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: compressed block: %v", ErrCorrupt, err)
	}
	if n > ledger.MaxBlockSize {
		return nil, fmt.Errorf("%w: compressed block of %d bytes, over the limit of %d", ErrCorrupt, n, ledger.MaxBlockSize)
	}
	raw, err := s2.Decode(make([]byte, n), val[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: compressed block: %v", ErrCorrupt, err)
	}
	return raw, nil
}
