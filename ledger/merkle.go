package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
)

// Merkle trees follow RFC 9162 §2.1 (Certificate Transparency v2): a leaf hashes as
// SHA-256(0x00 || data), an interior node as SHA-256(0x01 || left || right), and a level with an
// odd node count promotes its last node unchanged. The distinct prefixes keep a leaf from ever
// being presented as an interior node. The root of the empty tree is SHA-256 of nothing.

// ErrProof is returned (wrapped) when an inclusion proof does not lead to the expected root.
var ErrProof = errors.New("invalid proof")

// LeafHash returns the Merkle leaf hash of data.
func LeafHash(data []byte) Hash {
	if len(data) < stackHashMax {
		var buf [stackHashMax]byte
		buf[0] = 0
		n := copy(buf[1:], data)
		return sha256.Sum256(buf[:1+n])
	}
	var out Hash
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	h.Sum(out[:0])
	return out
}

// nodeHash returns the interior node hash of two children.
func nodeHash(l, r Hash) Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:33], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// MerkleRoot returns the root over leaf hashes. It does not modify leaves.
func MerkleRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	level := make([]Hash, len(leaves))
	copy(level, leaves)
	for len(level) > 1 {
		n := 0
		for i := 0; i+1 < len(level); i += 2 {
			level[n] = nodeHash(level[i], level[i+1])
			n++
		}
		if len(level)%2 == 1 {
			level[n] = level[len(level)-1]
			n++
		}
		level = level[:n]
	}
	return level[0]
}

// MerkleProof is an inclusion proof of the leaf at Index in a tree of Size leaves: the sibling
// hashes from the leaf upwards (the audit path of RFC 9162 §2.1.3).
type MerkleProof struct {
	Index uint64 `cbor:"1,keyasint" json:"index"`
	Size  uint64 `cbor:"2,keyasint" json:"size"`
	Path  []Hash `cbor:"3,keyasint" json:"path"`
}

// maxProofPath bounds a proof's length: 2^64 leaves need at most 64 siblings.
const maxProofPath = 64

// BuildMerkleProof returns the inclusion proof of leaves[index].
func BuildMerkleProof(leaves []Hash, index int) (MerkleProof, error) {
	if index < 0 || index >= len(leaves) {
		return MerkleProof{}, fmt.Errorf("build merkle proof: index %d out of %d leaves", index, len(leaves))
	}
	p := MerkleProof{Index: uint64(index), Size: uint64(len(leaves))}
	level := make([]Hash, len(leaves))
	copy(level, leaves)
	i := index
	for len(level) > 1 {
		if sib := i ^ 1; sib < len(level) {
			p.Path = append(p.Path, level[sib])
		}
		n := 0
		for j := 0; j+1 < len(level); j += 2 {
			level[n] = nodeHash(level[j], level[j+1])
			n++
		}
		if len(level)%2 == 1 {
			level[n] = level[len(level)-1]
			n++
		}
		level = level[:n]
		i /= 2
	}
	return p, nil
}

// RootFromProof computes the root implied by a leaf hash and its proof (RFC 9162 §2.1.3.2).
func (p MerkleProof) RootFromProof(leaf Hash) (Hash, error) {
	if p.Size == 0 || p.Index >= p.Size {
		return Hash{}, fmt.Errorf("%w: index %d not below size %d", ErrProof, p.Index, p.Size)
	}
	if len(p.Path) > maxProofPath {
		return Hash{}, fmt.Errorf("%w: path of %d hashes", ErrProof, len(p.Path))
	}
	fn, sn := p.Index, p.Size-1
	r := leaf
	for _, c := range p.Path {
		if sn == 0 {
			return Hash{}, fmt.Errorf("%w: path longer than the tree", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(c, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, fmt.Errorf("%w: path shorter than the tree", ErrProof)
	}
	return r, nil
}

// Verify checks that leaf is included under root.
func (p MerkleProof) Verify(leaf, root Hash) error {
	got, err := p.RootFromProof(leaf)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: computed root %s, want %s", ErrProof, got, root)
	}
	return nil
}
