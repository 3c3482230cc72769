package p2p

import (
	"errors"
	"fmt"

	"github.com/jaminan/jaminan/ledger"
)

// ErrNotFound is returned (wrapped) by a Source that does not hold what was asked for.
var ErrNotFound = errors.New("not found")

// ErrEquivocation is returned (wrapped) by a Sink's PutBlock when it holds a different block of
// the same producer and height; the error is an *EquivocationError carrying both blocks.
var ErrEquivocation = errors.New("equivocation")

// ErrFork is returned (wrapped) by a Sink's PutBlock when the block's previous hash does not
// match the producer's block below it.
var ErrFork = errors.New("fork")

// ErrGap is returned (wrapped) by a Sink when an item cannot be stored before what precedes it
// (a checkpoint after a missing one, a checkpoint whose blocks are missing).
var ErrGap = errors.New("gap")

// EquivocationError is the evidence of a producer signing two blocks at one height.
type EquivocationError struct {
	Held, New *ledger.Block
}

func (e *EquivocationError) Error() string {
	return fmt.Sprintf("%v: producer %s height %d: holds %s, got %s", ErrEquivocation, e.New.Header.Producer.Short(),
		e.New.Header.Height, e.Held.Hash(), e.New.Hash())
}

// Unwrap makes errors.Is(err, ErrEquivocation) hold.
func (e *EquivocationError) Unwrap() error { return ErrEquivocation }

// Source is what the network layer reads from a node's store: to serve the sync protocol and to
// check gossip against what the node already holds. Implementations must be safe for concurrent
// use; p2p never modifies what they return.
type Source interface {
	// FinalSeq returns the sequence of the latest final checkpoint, 0 if none.
	FinalSeq() (uint64, error)
	// Checkpoint returns final checkpoint seq with its certificate, or ErrNotFound.
	Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error)
	// Block returns the block with this hash, or ErrNotFound.
	Block(h ledger.Hash) (*ledger.Block, error)
	// ProducerBlocks returns the producer's blocks at consecutive heights from, from+1, … up
	// to to, at most limit of them, stopping at the first height it does not hold (so an empty
	// result means it holds none at from).
	ProducerBlocks(p ledger.KeyID, from, to uint64, limit int) ([]*ledger.Block, error)
	// Tip returns the producer's highest block held contiguously from height 1 (Height 0 if none).
	Tip(p ledger.KeyID) (Tip, error)
	// Tips returns the tips of every producer the node holds blocks of.
	Tips() ([]Tip, error)
}

// VoteKind says whether a vote is a ministry finality vote or a bureau witness cosignature.
type VoteKind byte

// Vote kinds; the values are the envelope bytes on the finality topic.
const (
	KindVote    VoteKind = 0x02
	KindWitness VoteKind = 0x03
)

// String names the kind.
func (k VoteKind) String() string {
	switch k {
	case KindVote:
		return "vote"
	case KindWitness:
		return "witness"
	}
	return fmt.Sprintf("kind(0x%02x)", byte(k))
}

// Sink is where the network layer delivers what it received and verified, from gossip or sync.
// Every method must be idempotent (the same item may arrive by several paths) and safe for
// concurrent use. Items arrive verified: blocks by Block.Verify, membership and role (gossip) or
// requested hash and chain (sync); checkpoints by body, chain and certificate, in sequence order,
// after every block they reference; votes by signature and the signer's role.
type Sink interface {
	// PutBlock stores a block; ErrEquivocation (as *EquivocationError) or ErrFork when it
	// conflicts with what the sink holds.
	PutBlock(b *ledger.Block) error
	// PutCheckpoint stores final checkpoint cb.Checkpoint.Seq; ErrGap if it does not follow the
	// latest final one or references a block the sink does not hold.
	PutCheckpoint(cb *ledger.CheckpointBody, cert *ledger.Certificate) error
	// PutVote hands a finality vote or witness cosignature to the node.
	PutVote(kind VoteKind, v *ledger.Vote) error
}

// OrderedSink is implemented by a Sink that can keep a block a checkpoint names, whatever the
// producer's chain looks like locally. The checkpoint's order is the authority: a producer that
// signed two chains (an equivocation, then a block on its other branch) may have had the one the
// sink refused ordered, and the sink must apply it (the state machine rejects what does not
// follow the producer's applied tip, with a receipt). Sync calls PutOrderedBlock only for blocks
// it fetched by hash because a checkpoint names them, after PutBlock refused them as a conflict.
type OrderedSink interface {
	PutOrderedBlock(b *ledger.Block) error
}

// MinistryFunc returns the ministry set in force at checkpoint seq, against which that
// checkpoint's certificate is verified.
type MinistryFunc func(seq uint64) ([]ledger.KeyID, error)
