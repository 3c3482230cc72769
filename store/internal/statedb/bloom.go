package statedb

import (
	"math"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// hashKey is the hash of the bloom filters.
func hashKey(k []byte) uint64 { return xxhash.Sum64(k) }

func hashKeyString(k string) uint64 { return xxhash.Sum64String(k) }

// bloomBits is the filter size for n keys: ~10 bits a key, a multiple of the 512-bit block.
func bloomBits(n uint64) uint64 {
	b := n * bloomBitsPerKey
	if n > math.MaxUint64/bloomBitsPerKey/2 {
		b = 0
	}
	return max(1, (b+bloomBlock-1)/bloomBlock) * bloomBlock
}

// The bloom filter is blocked: a key's probes all fall in one 512-bit (cache-line) block.
// With h the key's xxhash64, the block is the high half of h × blocks (multiply-shift on
// h's high bits), and probe i sets bit (h1 + i·δ) mod 512 of the block, h1 the low 32 bits
// of h and δ = h1 rotated right by 17 (double hashing).

// bloomAdd adds hash h to a filter of nbits bits.
func bloomAdd(filter []byte, nbits, h uint64) {
	blk, _ := bits.Mul64(h, nbits/bloomBlock)
	base := blk * (bloomBlock / 8)
	h1 := uint32(h)
	delta := h1>>17 | h1<<15
	for range bloomHashes {
		p := uint64(h1 % bloomBlock)
		filter[base+p>>3] |= 1 << (p & 7)
		h1 += delta
	}
}

// bloomMay reports whether hash h may be in a filter of nbits bits and k probes.
func bloomMay(filter []byte, nbits uint64, k uint32, h uint64) bool {
	blk, _ := bits.Mul64(h, nbits/bloomBlock)
	base := blk * (bloomBlock / 8)
	h1 := uint32(h)
	delta := h1>>17 | h1<<15
	for range k {
		p := uint64(h1 % bloomBlock)
		if filter[base+p>>3]&(1<<(p&7)) == 0 {
			return false
		}
		h1 += delta
	}
	return true
}
