package ledger

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrBlock is returned (wrapped) when a block fails verification.
var ErrBlock = errors.New("invalid block")

// BlockHeader is what a producer signs. Each producer's blocks form a hash chain by Height and Prev.
type BlockHeader struct {
	Network  string `cbor:"1,keyasint" json:"network"`
	Producer KeyID  `cbor:"2,keyasint" json:"producer"`
	Height   uint64 `cbor:"3,keyasint" json:"height"` // 1 for a producer's first block
	Prev     Hash   `cbor:"4,keyasint" json:"prev"`   // hash of the producer's previous block; zero at height 1
	Time     uint64 `cbor:"5,keyasint" json:"time"`   // producer's time, unix ms
	Root     Hash   `cbor:"6,keyasint" json:"root"`   // Merkle root over the records' leaf hashes
	Count    uint32 `cbor:"7,keyasint" json:"count"`
}

// Hash returns the block hash: the tagged hash of the canonical header.
func (h *BlockHeader) Hash() Hash {
	var buf [192]byte
	return taggedHash(tagBlock, h.appendCBOR(buf[:0]))
}

// appendCBOR appends the canonical encoding of h, the bytes the reflection encoder gives
// (TestBlockHeaderEncodingMatchesReflection): a header is hashed wherever a block is named, and
// encoding it by reflection cost a microsecond each time.
func (h *BlockHeader) appendCBOR(b []byte) []byte {
	b = appendHead(b, majMap, 7)
	b = appendText(appendKey(b, 1), h.Network)
	b = appendBytes(appendKey(b, 2), []byte(h.Producer))
	b = appendHead(appendKey(b, 3), majUint, h.Height)
	b = appendBytes(appendKey(b, 4), h.Prev[:])
	b = appendHead(appendKey(b, 5), majUint, h.Time)
	b = appendBytes(appendKey(b, 6), h.Root[:])
	return appendHead(appendKey(b, 7), majUint, uint64(h.Count))
}

// Block is a signed header and the exact bytes of its records. A Block is never changed once it
// is built, decoded or verified: Verify remembers its success, and Apply does not repeat it.
type Block struct {
	Header  BlockHeader `cbor:"1,keyasint"`
	Records [][]byte    `cbor:"2,keyasint"`
	Sig     []byte      `cbor:"3,keyasint"`

	// verified is the network the block was built for or last verified against ("": neither).
	// A node verifies a block when it arrives (gossip, sync) and applies the same value later;
	// checking the records' Merkle root and the signature again would cost Apply a sixth of its
	// time.
	// Atomic: gossip and sync may verify one value from two goroutines.
	verified atomic.Pointer[string]
}

// Hash returns the block hash.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// Encode returns the canonical bytes.
func (b *Block) Encode() []byte { return encode(b) }

func blockSigMessage(h Hash) []byte { return taggedMessage(tagBlockSig, h[:]) }

// BuildBlock packs encoded records into a block after prev (nil for the producer's first block)
// and signs it.
func BuildBlock(s *Signer, network string, prev *BlockHeader, time uint64, records [][]byte) (*Block, error) {
	if len(records) == 0 || len(records) > MaxBlockRecords {
		return nil, fmt.Errorf("build block: %d records, want 1–%d", len(records), MaxBlockRecords)
	}
	h := BlockHeader{Network: network, Producer: s.ID(), Height: 1, Time: time, Count: uint32(len(records))}
	if prev != nil {
		h.Height = prev.Height + 1
		h.Prev = prev.Hash()
	}
	h.Root = RecordsRoot(records)
	b := &Block{Header: h, Records: records}
	b.verified.Store(&network)
	hash := h.Hash()
	b.Sig = s.sign(blockSigMessage(hash))
	if n := len(b.Encode()); n > MaxBlockSize {
		return nil, fmt.Errorf("build block: %d bytes exceeds %d", n, MaxBlockSize)
	}
	return b, nil
}

// RecordsRoot returns the Merkle root over the leaf hashes of encoded records.
func RecordsRoot(records [][]byte) Hash { return MerkleRoot(recordLeaves(records)) }

// recordLeaves returns the Merkle leaves of a block's records.
func recordLeaves(records [][]byte) []Hash {
	leaves := make([]Hash, len(records))
	for i, r := range records {
		leaves[i] = LeafHash(r)
	}
	return leaves
}

// DecodeBlock decodes a block from untrusted bytes (canonical form, size limits) without checking
// its signature; call Verify for that.
func DecodeBlock(b []byte) (*Block, error) {
	if len(b) > MaxBlockSize {
		return nil, fmt.Errorf("decode block: %w: %d bytes exceeds %d", ErrEncoding, len(b), MaxBlockSize)
	}
	var blk Block
	if err := decodeCanonical(b, &blk); err != nil {
		return nil, fmt.Errorf("decode block: %w", err)
	}
	return &blk, nil
}

// Verify checks what can be checked of a block alone: network, sizes, record count, Merkle root
// and the producer's signature. Membership, role and chain continuity need the registry and the
// producer's previous block (see Registry.CheckProducer and the state machine).
func (b *Block) Verify(network string) error {
	b.verified.Store(nil) // until this check passes
	h := &b.Header
	switch {
	case h.Network != network:
		return fmt.Errorf("%w: network %q, want %q", ErrBlock, truncate(h.Network), network)
	case h.Height == 0:
		return fmt.Errorf("%w: height 0", ErrBlock)
	case h.Height == 1 && !h.Prev.IsZero():
		return fmt.Errorf("%w: first block has a previous hash", ErrBlock)
	case h.Height > 1 && h.Prev.IsZero():
		return fmt.Errorf("%w: block %d has no previous hash", ErrBlock, h.Height)
	case len(b.Records) == 0 || len(b.Records) > MaxBlockRecords:
		return fmt.Errorf("%w: %d records, want 1–%d", ErrBlock, len(b.Records), MaxBlockRecords)
	case int(h.Count) != len(b.Records):
		return fmt.Errorf("%w: header counts %d records, body has %d", ErrBlock, h.Count, len(b.Records))
	}
	for i, r := range b.Records {
		if len(r) == 0 || len(r) > MaxRecordSize {
			return fmt.Errorf("%w: record %d has %d bytes, want 1–%d", ErrBlock, i, len(r), MaxRecordSize)
		}
	}
	if root := RecordsRoot(b.Records); root != h.Root {
		return fmt.Errorf("%w: records root %s does not match header %s", ErrBlock, root, h.Root)
	}
	if err := verifySig(h.Producer, blockSigMessage(h.Hash()), b.Sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBlock, err)
	}
	b.verified.Store(&network)
	return nil
}

// verifyOnce is Verify unless b was built for or already verified against network.
func (b *Block) verifyOnce(network string) error {
	if v := b.verified.Load(); v != nil && *v == network {
		return nil
	}
	return b.Verify(network)
}
