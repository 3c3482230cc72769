package consensus

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jaminan/jaminan/ledger"
)

// ErrShare is returned (wrapped) by Attestations.Add for a snapshot share that does not count:
// not exactly one signature, a signer outside the ministry set at its checkpoint, or a
// signature that does not verify.
var ErrShare = errors.New("invalid snapshot share")

// attestRounds bounds the checkpoints whose shares are kept at once; older ones are dropped.
const attestRounds = 4

// Attestations aggregates the ministry members' signatures of snapshot attestations (shares,
// one signature each) into complete attestations: a majority of the ministry set in force at
// the checkpoint signing the same (seq, checkpoint, state root, digest, keys). Shares of
// different content at one checkpoint are kept apart, so a minority that signs another digest
// (a member whose state diverged) never completes, nor spoils the majority's.
type Attestations struct {
	network  string
	ministry func(seq uint64) ([]ledger.KeyID, error)

	mu     sync.Mutex
	rounds map[uint64][]*ledger.SnapshotAttestation // per seq, one partial attestation per content
	done   uint64                                   // highest seq completed
}

// NewAttestations returns an aggregator; ministry gives the ministry set in force at a
// checkpoint.
func NewAttestations(network string, ministry func(seq uint64) ([]ledger.KeyID, error)) *Attestations {
	return &Attestations{network: network, ministry: ministry, rounds: map[uint64][]*ledger.SnapshotAttestation{}}
}

func sameContent(a, b *ledger.SnapshotAttestation) bool {
	return a.Seq == b.Seq && a.Checkpoint == b.Checkpoint && a.StateRoot == b.StateRoot && a.Digest == b.Digest && a.Keys == b.Keys
}

// Add takes one share. It returns the complete attestation when this share completes a
// majority, nil while there is none (or the checkpoint completed before), and ErrShare for a
// share that does not count.
func (at *Attestations) Add(share *ledger.SnapshotAttestation) (*ledger.SnapshotAttestation, error) {
	if share == nil || len(share.Sigs) != 1 || share.Seq == 0 {
		return nil, fmt.Errorf("%w: want one signature at a checkpoint ≥ 1", ErrShare)
	}
	ministry, err := at.ministry(share.Seq)
	if err != nil {
		return nil, fmt.Errorf("snapshot share %d: ministry set: %w", share.Seq, err)
	}
	signer := share.Sigs[0].Signer
	if !slices.Contains(ministry, signer) {
		return nil, fmt.Errorf("%w: %s is not in the ministry set at %d", ErrShare, signer.Short(), share.Seq)
	}
	if err := share.Verify(at.network, []ledger.KeyID{signer}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShare, err)
	}
	at.mu.Lock()
	defer at.mu.Unlock()
	if share.Seq <= at.done {
		return nil, nil
	}
	var agg *ledger.SnapshotAttestation
	for _, a := range at.rounds[share.Seq] {
		if sameContent(a, share) {
			agg = a
		} else if slices.ContainsFunc(a.Sigs, func(s ledger.Sig) bool { return s.Signer == signer }) {
			// One content per member and checkpoint: a member signing several could
			// otherwise take every slot below and keep the majority's content out.
			return nil, fmt.Errorf("%w: %s already signed another snapshot of checkpoint %d", ErrShare, signer.Short(), share.Seq)
		}
	}
	if agg == nil {
		if len(at.rounds[share.Seq]) >= len(ministry) {
			return nil, nil // no more contents than members (guards memory)
		}
		agg = &ledger.SnapshotAttestation{Seq: share.Seq, Checkpoint: share.Checkpoint, StateRoot: share.StateRoot,
			Digest: share.Digest, Keys: share.Keys}
		at.rounds[share.Seq] = append(at.rounds[share.Seq], agg)
		at.prune()
	}
	if i := slices.IndexFunc(agg.Sigs, func(s ledger.Sig) bool { return s.Signer == signer }); i >= 0 {
		agg.Sigs[i] = share.Sigs[0]
	} else {
		agg.Sigs = append(agg.Sigs, share.Sigs[0])
		slices.SortFunc(agg.Sigs, func(x, y ledger.Sig) int { return strings.Compare(string(x.Signer), string(y.Signer)) })
	}
	if len(agg.Sigs) < ledger.Quorum(len(ministry)) || agg.Verify(at.network, ministry) != nil {
		return nil, nil
	}
	at.done = share.Seq
	for s := range at.rounds {
		if s <= at.done {
			delete(at.rounds, s)
		}
	}
	out := *agg
	out.Sigs = slices.Clone(agg.Sigs)
	return &out, nil
}

// prune keeps the attestRounds highest checkpoints. at.mu is held.
func (at *Attestations) prune() {
	for len(at.rounds) > attestRounds {
		low := uint64(0)
		for s := range at.rounds {
			if low == 0 || s < low {
				low = s
			}
		}
		delete(at.rounds, low)
	}
}
