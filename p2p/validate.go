package p2p

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// Envelope bytes: the first byte of every gossip message says what follows.
const (
	kindBlock byte = 0x01
	// KindVote (0x02) and KindWitness (0x03) follow on the finality topic.
)

// maxVoteMessage bounds a finality-topic message (ledger.DecodeVote takes at most 512 bytes).
const maxVoteMessage = 1 + 512

// Evidence is a producer's misbehaviour the network layer detected: two blocks it signed at one
// height (Kind "equivocation"), or a block that does not follow the one held below it ("fork").
// The node records it; From is the peer that delivered the second block.
type Evidence struct {
	Kind     string
	Producer ledger.KeyID
	Height   uint64
	Held     *ledger.Block
	New      *ledger.Block
	From     peer.ID
}

// Evidence kinds.
const (
	EvidenceEquivocation = "equivocation"
	EvidenceFork         = "fork"
)

// validator holds what gossip validation needs. Its methods are pure functions of the message
// and the node's current view (members, source); side effects go through the callbacks.
type validator struct {
	network  string
	self     peer.ID
	members  *Members
	src      Source
	maxAhead uint64

	// gapBlocks is called when a valid block shows the node lacks the producer's blocks up to
	// height (now: sync at once, else after gapDelay if still missing); gapFinal when a valid
	// vote shows checkpoints up to seq may exist.
	gapBlocks func(producer ledger.KeyID, height uint64, from peer.ID, now bool)
	gapFinal  func(seq uint64, from peer.ID)
	evidence  func(Evidence)

	mu    sync.Mutex
	ahead map[ledger.KeyID]*aheadChain // per producer, blocks accepted above the stored tip
}

// verdict is a validation result with the reason for logs and metrics.
type verdict struct {
	res    pubsub.ValidationResult
	reason error
}

var (
	accept = verdict{res: pubsub.ValidationAccept}

	errSize       = errors.New("size out of bounds")
	errEnvelope   = errors.New("unknown envelope")
	errNotMember  = errors.New("not a member in this role")
	errInactive   = errors.New("member not active (revoked, expired or not yet valid)")
	errDuplicate  = errors.New("already held")
	errFarAhead   = errors.New("far beyond the producer's tip")
	errStale      = errors.New("stale")
	errUnknownPos = errors.New("below the tip but not held")
)

func reject(err error) verdict { return verdict{res: pubsub.ValidationReject, reason: err} }
func ignore(err error) verdict { return verdict{res: pubsub.ValidationIgnore, reason: err} }

// encodeBlockMessage returns the gossip message of a block.
func encodeBlockMessage(b *ledger.Block) []byte {
	enc := b.Encode()
	out := make([]byte, 0, 1+len(enc))
	return append(append(out, kindBlock), enc...)
}

// encodeVoteMessage returns the gossip message of a vote or witness cosignature.
func encodeVoteMessage(kind VoteKind, v *ledger.Vote) []byte {
	enc := encodeVote(v)
	out := make([]byte, 0, 1+len(enc))
	return append(append(out, byte(kind)), enc...)
}

// validateBlock decides on a block-topic message from peer from. Rules, in order:
//   - size 2..MaxMessageSize and envelope kindBlock, else Reject;
//   - canonical block encoding, else Reject;
//   - producer a bureau or ministry member, else Reject; not active now, Ignore (see checkRole);
//   - Block.Verify (network, sizes, Merkle root, producer's signature), else Reject;
//   - a different block held at the same producer and height: evidence "equivocation", and
//     Reject if the producer delivered it itself, else Ignore (see conflict);
//   - the same block held: Ignore; a block published by this node is accepted from here on;
//   - the tip is the stored tip or, above it, the last block this validator accepted in
//     sequence and the store has not caught up with (a different block there: evidence
//     "equivocation", verdict as above; the same: Ignore);
//   - at tip+1 with a previous hash that is not the tip: evidence "fork", verdict as above;
//   - beyond tip+1+maxAhead: Ignore and sync the gap; beyond tip+1: Accept and sync the gap;
//   - at or below the tip but not held: Ignore.
func (v *validator) validateBlock(from peer.ID, data []byte) (verdict, *ledger.Block) {
	if len(data) < 2 || len(data) > MaxMessageSize {
		return reject(errSize), nil
	}
	if data[0] != kindBlock {
		return reject(errEnvelope), nil
	}
	b, err := ledger.DecodeBlock(data[1:])
	if err != nil {
		return reject(err), nil
	}
	h := &b.Header
	if bad := v.checkRole(h.Producer, ledger.RoleBureau, ledger.RoleMinistry); bad.reason != nil {
		return bad, nil
	}
	if err := b.Verify(v.network); err != nil {
		return reject(err), nil
	}
	hash := b.Hash()
	held, err := v.src.ProducerBlocks(h.Producer, h.Height, h.Height, 1)
	if err != nil {
		return ignore(fmt.Errorf("look up producer block: %w", err)), nil
	}
	if len(held) == 1 {
		if hb := held[0].Hash(); hb != hash {
			v.evidence(Evidence{Kind: EvidenceEquivocation, Producer: h.Producer, Height: h.Height, Held: held[0], New: b, From: from})
			return conflict(from, h.Producer, fmt.Errorf("%w: producer %s height %d", ErrEquivocation, h.Producer.Short(), h.Height)), nil
		}
		if from == v.self {
			return accept, b
		}
		return ignore(errDuplicate), nil
	}
	if from == v.self {
		// The node's own block: it may publish faster than its own subscription stores, so
		// its store's tip says nothing here.
		return accept, b
	}
	stored, err := v.src.Tip(h.Producer)
	if err != nil {
		return ignore(fmt.Errorf("look up producer tip: %w", err)), nil
	}
	tip, tipBlock := v.knownTip(stored)
	switch {
	case h.Height == tip.Height && tipBlock != nil:
		// The block accepted at this height is still on its way to the store.
		if tip.Hash == hash {
			return ignore(errDuplicate), nil
		}
		v.evidence(Evidence{Kind: EvidenceEquivocation, Producer: h.Producer, Height: h.Height, Held: tipBlock, New: b, From: from})
		return conflict(from, h.Producer, fmt.Errorf("%w: producer %s height %d", ErrEquivocation, h.Producer.Short(), h.Height)), nil
	case h.Height == tip.Height+1:
		if tip.Height > 0 && h.Prev != tip.Hash {
			held := tipBlock
			if held == nil {
				held, _ = v.src.Block(tip.Hash)
			}
			if held != nil {
				v.evidence(Evidence{Kind: EvidenceFork, Producer: h.Producer, Height: h.Height, Held: held, New: b, From: from})
			}
			return conflict(from, h.Producer, fmt.Errorf("%w: producer %s height %d does not follow the tip", ErrFork, h.Producer.Short(), h.Height)), nil
		}
		v.advance(b)
	case h.Height > tip.Height+1:
		// Sync up to the block itself: an ignored block is marked seen and gossip will not
		// bring it again. A block only a little ahead is most likely overtaking its parents
		// in validation, so that gap is synced only if it is still open a little later.
		far := h.Height-tip.Height > v.maxAhead
		v.gapBlocks(h.Producer, h.Height, from, far)
		if far {
			return ignore(errFarAhead), nil
		}
		if held := v.holdAhead(b, hash); held != nil {
			v.evidence(Evidence{Kind: EvidenceEquivocation, Producer: h.Producer, Height: h.Height, Held: held, New: b, From: from})
			return conflict(from, h.Producer, fmt.Errorf("%w: producer %s height %d", ErrEquivocation, h.Producer.Short(), h.Height)), nil
		}
	default:
		return ignore(errUnknownPos), nil
	}
	return accept, b
}

// conflict is the verdict on a validly signed block that conflicts with one the node holds (an
// equivocation or a fork). The producer that signed both is at fault: a block it delivered
// itself is rejected, which penalises it. A peer that relays such a block cannot know that
// the node saw the other one first (a producer that equivocates aims for exactly that split
// view), so the block is only ignored: rejecting it made honest nodes penalise, and after
// three such blocks graylist, each other.
func conflict(from peer.ID, producer ledger.KeyID, err error) verdict {
	if from == peer.ID(producer) {
		return reject(err)
	}
	return ignore(err)
}

// checkRole returns a verdict with a nil reason when id is an active member in one of roles.
// An unknown key or a member in another role is rejected: every node's registry says the same
// about them. A member that is revoked, expired or not yet valid is ignored instead: nodes
// apply the checkpoint that changed its standing at slightly different times, and an honest
// peer that forwarded its message a moment earlier must not be penalised for that.
func (v *validator) checkRole(id ledger.KeyID, roles ...string) verdict {
	e, ok := v.members.lookup(peer.ID(id))
	switch {
	case !ok:
		return reject(fmt.Errorf("%s: %w", id.Short(), errNotMember))
	case !slices.Contains(roles, e.role):
		return reject(fmt.Errorf("%s is %s: %w", id.Short(), e.role, errNotMember))
	case !e.active:
		return ignore(fmt.Errorf("%s: %w", id.Short(), errInactive))
	}
	return verdict{}
}

// aheadChain is what validation accepted of one producer above the stored tip: the highest
// block accepted in sequence (tip) and blocks accepted out of order above it.
type aheadChain struct {
	tip   *ledger.Block
	above map[uint64]*ledger.Block
}

// knownTip returns the producer's tip as far as this node knows it: the stored tip, or the
// last block validation accepted in sequence above it (validation runs ahead of the
// subscription that stores), with that block. Entries the store has caught up with are
// dropped.
func (v *validator) knownTip(stored Tip) (Tip, *ledger.Block) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a, ok := v.ahead[stored.Producer]
	if !ok {
		return stored, nil
	}
	for h := range a.above {
		if h <= stored.Height {
			delete(a.above, h)
		}
	}
	if a.tip != nil && a.tip.Header.Height <= stored.Height {
		a.tip = nil
	}
	if a.tip == nil {
		if len(a.above) == 0 {
			delete(v.ahead, stored.Producer)
		}
		return stored, nil
	}
	return Tip{Producer: stored.Producer, Height: a.tip.Header.Height, Hash: a.tip.Hash()}, a.tip
}

// chainAhead returns the producer's ahead chain, creating it.
func (v *validator) chainAhead(p ledger.KeyID) *aheadChain {
	if v.ahead == nil {
		v.ahead = map[ledger.KeyID]*aheadChain{}
	}
	a, ok := v.ahead[p]
	if !ok {
		a = &aheadChain{above: map[uint64]*ledger.Block{}}
		v.ahead[p] = a
	}
	return a
}

// advance records an accepted block that extends the known tip, and extends it further over
// blocks accepted out of order that now follow.
func (v *validator) advance(b *ledger.Block) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.chainAhead(b.Header.Producer)
	if a.tip != nil && a.tip.Header.Height >= b.Header.Height {
		return
	}
	a.tip = b
	for {
		next, ok := a.above[a.tip.Header.Height+1]
		if !ok || next.Header.Prev != a.tip.Hash() {
			return
		}
		delete(a.above, next.Header.Height)
		a.tip = next
	}
}

// holdAhead records a block accepted above the known tip + 1 and returns a different block
// accepted at the same height, if any (an equivocation).
func (v *validator) holdAhead(b *ledger.Block, hash ledger.Hash) *ledger.Block {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.chainAhead(b.Header.Producer)
	if held, ok := a.above[b.Header.Height]; ok {
		if held.Hash() != hash {
			return held
		}
		return nil
	}
	if uint64(len(a.above)) < v.maxAhead {
		a.above[b.Header.Height] = b
	}
	return nil
}

// validateVote decides on a finality-topic message. Rules, in order:
//   - size 2..maxVoteMessage, else Reject;
//   - envelope KindVote or KindWitness, else Reject;
//   - canonical vote encoding and seq ≥ 1, else Reject;
//   - a vote's signer a ministry member, a witness's a bureau, else Reject; not active, Ignore;
//   - the signature (VerifyVote or VerifyWitness), else Reject;
//   - seq far below the latest final checkpoint (more than staleVotes): Ignore;
//   - seq beyond the latest final checkpoint: Accept and sync checkpoints up to it.
func (v *validator) validateVote(from peer.ID, data []byte) (verdict, VoteKind, *ledger.Vote) {
	if len(data) < 2 || len(data) > maxVoteMessage {
		return reject(errSize), 0, nil
	}
	kind := VoteKind(data[0])
	if kind != KindVote && kind != KindWitness {
		return reject(errEnvelope), 0, nil
	}
	vote, err := ledger.DecodeVote(data[1:])
	if err != nil {
		return reject(err), 0, nil
	}
	if vote.Seq == 0 {
		return reject(fmt.Errorf("%w: seq 0", ledger.ErrCheckpoint)), 0, nil
	}
	want, verify := ledger.RoleMinistry, ledger.VerifyVote
	if kind == KindWitness {
		want, verify = ledger.RoleBureau, ledger.VerifyWitness
	}
	if bad := v.checkRole(vote.Sig.Signer, want); bad.reason != nil {
		return bad, 0, nil
	}
	if err := verify(v.network, vote); err != nil {
		return reject(err), 0, nil
	}
	final, err := v.src.FinalSeq()
	if err != nil {
		return ignore(fmt.Errorf("look up final seq: %w", err)), 0, nil
	}
	if vote.Seq+staleVotes < final {
		return ignore(errStale), 0, nil
	}
	if vote.Seq > final {
		v.gapFinal(vote.Seq, from)
	}
	return accept, kind, vote
}

// staleVotes is how far below the latest final checkpoint a vote is still forwarded (late
// witnesses are useful to nodes that lag a little).
const staleVotes = 64
