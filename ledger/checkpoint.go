package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrCheckpoint is returned (wrapped) when a checkpoint, vote or certificate fails verification.
var ErrCheckpoint = errors.New("invalid checkpoint")

// Checkpoint is one committed batch of the ministry's Raft log: the canonical order of a set of
// blocks. Checkpoints are hash-chained from the genesis hash.
type Checkpoint struct {
	Network string `cbor:"1,keyasint" json:"network"`
	Seq     uint64 `cbor:"2,keyasint" json:"seq"`  // 1 for the first checkpoint
	Prev    Hash   `cbor:"3,keyasint" json:"prev"` // previous checkpoint's hash; the genesis hash at seq 1
	Time    uint64 `cbor:"4,keyasint" json:"time"` // leader's time, unix ms; never decreases
	Root    Hash   `cbor:"5,keyasint" json:"root"` // Merkle root over the block hashes, in order
	Count   uint32 `cbor:"6,keyasint" json:"count"`
}

// Hash returns the checkpoint hash.
func (c *Checkpoint) Hash() Hash { return taggedHash(tagCheckpoint, encode(c)) }

// Encode returns the canonical bytes.
func (c *Checkpoint) Encode() []byte { return encode(c) }

// BlocksRoot returns the Merkle root over block hashes; each is a leaf (0x00 || hash), like records.
func BlocksRoot(blocks []Hash) Hash { return MerkleRoot(blockLeaves(blocks)) }

// blockLeaves returns the Merkle leaves of a checkpoint's block hashes.
func blockLeaves(blocks []Hash) []Hash {
	leaves := make([]Hash, len(blocks))
	for i, h := range blocks {
		leaves[i] = LeafHash(h[:])
	}
	return leaves
}

// CheckpointBody is a checkpoint with the ordered block hashes it commits to, as ordered and stored.
type CheckpointBody struct {
	Checkpoint Checkpoint `cbor:"1,keyasint" json:"checkpoint"`
	Blocks     []Hash     `cbor:"2,keyasint" json:"blocks"`
}

// NewCheckpoint builds the checkpoint after prev (the genesis hash and seq 0 for the first).
func NewCheckpoint(network string, seq uint64, prev Hash, time uint64, blocks []Hash) CheckpointBody {
	return CheckpointBody{
		Checkpoint: Checkpoint{Network: network, Seq: seq, Prev: prev, Time: time, Root: BlocksRoot(blocks), Count: uint32(len(blocks))},
		Blocks:     slices.Clone(blocks),
	}
}

// Verify checks that the block list matches the header and holds no duplicate.
func (b *CheckpointBody) Verify(network string) error {
	c := &b.Checkpoint
	if c.Network != network {
		return fmt.Errorf("%w: network %q, want %q", ErrCheckpoint, truncate(c.Network), network)
	}
	if c.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrCheckpoint)
	}
	if int(c.Count) != len(b.Blocks) || len(b.Blocks) > MaxCheckpointSize {
		return fmt.Errorf("%w: %d blocks, header counts %d (max %d)", ErrCheckpoint, len(b.Blocks), c.Count, MaxCheckpointSize)
	}
	if BlocksRoot(b.Blocks) != c.Root {
		return fmt.Errorf("%w: blocks root mismatch at seq %d", ErrCheckpoint, c.Seq)
	}
	seen := make(map[Hash]struct{}, len(b.Blocks))
	for _, h := range b.Blocks {
		if _, dup := seen[h]; dup {
			return fmt.Errorf("%w: block %s twice at seq %d", ErrCheckpoint, h, c.Seq)
		}
		seen[h] = struct{}{}
	}
	return nil
}

// DecodeCheckpointBody decodes untrusted bytes and verifies internal consistency.
func DecodeCheckpointBody(b []byte, network string) (*CheckpointBody, error) {
	if len(b) > 64+MaxCheckpointSize*40 {
		return nil, fmt.Errorf("decode checkpoint: %w: %d bytes", ErrEncoding, len(b))
	}
	var cb CheckpointBody
	if err := decodeCanonical(b, &cb); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	if err := cb.Verify(network); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	return &cb, nil
}

// Encode returns the canonical bytes.
func (b *CheckpointBody) Encode() []byte { return encode(b) }

// Vote is one ministry node's statement that applying checkpoint Seq with hash Checkpoint gave
// StateRoot. A witness cosignature has the same shape with a different signing domain.
type Vote struct {
	Seq        uint64 `cbor:"1,keyasint" json:"seq"`
	Checkpoint Hash   `cbor:"2,keyasint" json:"checkpoint"`
	StateRoot  Hash   `cbor:"3,keyasint" json:"state_root"`
	Sig        Sig    `cbor:"4,keyasint" json:"sig"`
}

func voteMessage(tag, network string, seq uint64, cp, root Hash) []byte {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	return taggedMessage(tag, []byte(network), []byte{0}, s[:], cp[:], root[:])
}

// SignVote makes the finality vote of a ministry node.
func SignVote(s *Signer, network string, seq uint64, cp, root Hash) Vote {
	return Vote{Seq: seq, Checkpoint: cp, StateRoot: root, Sig: Sig{Signer: s.ID(), Sig: s.sign(voteMessage(tagFinal, network, seq, cp, root))}}
}

// SignWitness makes a bureau's witness cosignature.
func SignWitness(s *Signer, network string, seq uint64, cp, root Hash) Vote {
	return Vote{Seq: seq, Checkpoint: cp, StateRoot: root, Sig: Sig{Signer: s.ID(), Sig: s.sign(voteMessage(tagWitness, network, seq, cp, root))}}
}

// VerifyVote checks a finality vote's signature (not whether the signer is in the ministry set).
func VerifyVote(network string, v *Vote) error {
	return verifySig(v.Sig.Signer, voteMessage(tagFinal, network, v.Seq, v.Checkpoint, v.StateRoot), v.Sig.Sig)
}

// VerifyWitness checks a witness cosignature's signature.
func VerifyWitness(network string, v *Vote) error {
	return verifySig(v.Sig.Signer, voteMessage(tagWitness, network, v.Seq, v.Checkpoint, v.StateRoot), v.Sig.Sig)
}

// Encode returns the canonical bytes of a vote, the form DecodeVote accepts.
func (v *Vote) Encode() []byte { return encode(v) }

// DecodeVote decodes an untrusted vote or witness cosignature.
func DecodeVote(b []byte) (*Vote, error) {
	if len(b) > 512 {
		return nil, fmt.Errorf("decode vote: %w: %d bytes", ErrEncoding, len(b))
	}
	var v Vote
	if err := decodeCanonical(b, &v); err != nil {
		return nil, fmt.Errorf("decode vote: %w", err)
	}
	return &v, nil
}

// Certificate makes a checkpoint final: signatures of a majority of the ministry set in force at
// that checkpoint over (network, seq, checkpoint hash, state root), sorted by signer.
type Certificate struct {
	Seq        uint64 `cbor:"1,keyasint" json:"seq"`
	Checkpoint Hash   `cbor:"2,keyasint" json:"checkpoint"`
	StateRoot  Hash   `cbor:"3,keyasint" json:"state_root"`
	Sigs       []Sig  `cbor:"4,keyasint" json:"sigs"`
}

// Encode returns the canonical bytes.
func (c *Certificate) Encode() []byte { return encode(c) }

// Certify assembles a certificate from votes that agree on (seq, checkpoint, root). Votes that
// disagree or repeat a signer are skipped; signatures are not checked here.
func Certify(seq uint64, cp, root Hash, votes []Vote) Certificate {
	c := Certificate{Seq: seq, Checkpoint: cp, StateRoot: root}
	seen := map[KeyID]bool{}
	for _, v := range votes {
		if v.Seq != seq || v.Checkpoint != cp || v.StateRoot != root || seen[v.Sig.Signer] {
			continue
		}
		seen[v.Sig.Signer] = true
		c.Sigs = append(c.Sigs, v.Sig)
	}
	sortSigs(c.Sigs)
	return c
}

// Quorum returns the majority of a set of n voters.
func Quorum(n int) int { return n/2 + 1 }

// CountSigners returns how many members of set are among signers: a governance record needs
// Quorum(len(set)) of the ministry set.
func CountSigners(set []KeyID, signers map[KeyID]bool) int {
	n := 0
	for _, id := range set {
		if signers[id] {
			n++
		}
	}
	return n
}

// Verify checks that a majority of ministry (the ministry set in force at the checkpoint) signed.
func (c *Certificate) Verify(network string, ministry []KeyID) error {
	if len(c.Sigs) > len(ministry) || len(c.Sigs) > 64 {
		return fmt.Errorf("%w: %d signatures for %d ministry members", ErrCheckpoint, len(c.Sigs), len(ministry))
	}
	if !sigsSorted(c.Sigs) {
		return fmt.Errorf("%w: certificate signatures not sorted by signer", ErrCheckpoint)
	}
	msg := voteMessage(tagFinal, network, c.Seq, c.Checkpoint, c.StateRoot)
	valid := 0
	for _, s := range c.Sigs {
		if !slices.Contains(ministry, s.Signer) {
			return fmt.Errorf("%w: signer %s is not in the ministry set", ErrCheckpoint, s.Signer.Short())
		}
		if err := verifySig(s.Signer, msg, s.Sig); err != nil {
			return fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
		valid++
	}
	if q := Quorum(len(ministry)); valid < q {
		return fmt.Errorf("%w: %d valid signatures, need %d of %d", ErrCheckpoint, valid, q, len(ministry))
	}
	return nil
}

// DecodeCertificate decodes an untrusted certificate.
func DecodeCertificate(b []byte) (*Certificate, error) {
	if len(b) > 16<<10 {
		return nil, fmt.Errorf("decode certificate: %w: %d bytes", ErrEncoding, len(b))
	}
	var c Certificate
	if err := decodeCanonical(b, &c); err != nil {
		return nil, fmt.Errorf("decode certificate: %w", err)
	}
	return &c, nil
}

// sortSigs orders signatures by signer bytes, the canonical order.
func sortSigs(s []Sig) {
	slices.SortFunc(s, func(a, b Sig) int { return bytes.Compare([]byte(a.Signer), []byte(b.Signer)) })
}

// sigsSorted reports whether signers are strictly increasing (sorted and distinct).
func sigsSorted(s []Sig) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1].Signer >= s[i].Signer {
			return false
		}
	}
	return true
}
