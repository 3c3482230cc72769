package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/jaminan/jaminan/ledger"
)

// Publisher sends what a node signs to the network. The p2p package gossips it.
type Publisher interface {
	// PublishVote sends a ministry node's finality vote.
	PublishVote(ctx context.Context, v ledger.Vote) error
	// PublishWitness sends a bureau's witness cosignature.
	PublishWitness(ctx context.Context, v ledger.Vote) error
	// PublishFinal sends a checkpoint body with the certificate that makes it final.
	PublishFinal(ctx context.Context, cb *ledger.CheckpointBody, cert *ledger.Certificate) error
}

// ErrHalted is returned by the executor and Finality once the node stopped applying.
var ErrHalted = errors.New("consensus halted")

// ErrVote is returned (wrapped) by HandleVote for a vote that is invalid or from a non-member.
var ErrVote = errors.New("invalid vote")

const (
	// voteWindow bounds how far ahead of the local state votes are kept.
	voteWindow = 1024
	// keepRounds is how many certified rounds are kept below the newest.
	keepRounds = 256
	// maxBuffered bounds the votes kept for a round whose ministry set is not yet known.
	maxBuffered = 64
)

// round is what a node knows about one checkpoint sequence.
type round struct {
	set      []ledger.KeyID // the ministry set in force at the checkpoint (nil: not known yet)
	local    bool
	cp, root ledger.Hash // the local result, when local
	votes    map[ledger.KeyID]ledger.Vote
	buffered []ledger.Vote
	cert     *ledger.Certificate
	disputed bool // a member voted for a result that differs from the local one
	reported map[ledger.KeyID]bool
}

// Finality collects finality votes, assembles certificates, and compares what ministry members
// signed with the local result: it raises the alarms and records the evidence.
type Finality struct {
	network string
	mon     *Monitor
	ev      *EvidenceLog
	log     *slog.Logger
	onFinal func(seq uint64, cert *ledger.Certificate)

	mu       sync.Mutex
	rounds   map[uint64]*round
	applied  uint64 // highest sequence with a local result
	final    uint64 // highest certified sequence
	halted   bool
	haltedAt uint64
	wake     chan struct{}
}

// NewFinality returns a collector for network. onFinal (may be nil) is called, outside locks,
// for every certificate the collector assembles or accepts.
func NewFinality(network string, mon *Monitor, ev *EvidenceLog, log *slog.Logger, onFinal func(uint64, *ledger.Certificate)) *Finality {
	if mon == nil {
		mon = newMonitor(log)
	}
	if ev == nil {
		ev = NewEvidenceLog(mon)
	}
	return &Finality{network: network, mon: mon, ev: ev, log: orDiscard(log), onFinal: onFinal,
		rounds: map[uint64]*round{}, wake: make(chan struct{})}
}

func (f *Finality) round(seq uint64) *round {
	r := f.rounds[seq]
	if r == nil {
		r = &round{votes: map[ledger.KeyID]ledger.Vote{}, reported: map[ledger.KeyID]bool{}}
		f.rounds[seq] = r
	}
	return r
}

// broadcast wakes waiters; f.mu is held.
func (f *Finality) broadcast() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// resume starts the collector after checkpoints applied before a restart: they count as applied
// and final here. Their certificates, if any are still missing, reach the node by sync, or from
// votes the node signs again (SetLocal opens a round for them; the node's recertify does that).
func (f *Finality) resume(applied uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = max(f.applied, applied)
	f.final = max(f.final, applied)
}

// SetLocal records the local result of checkpoint seq and the ministry set in force at it, and
// checks the votes that arrived before.
func (f *Finality) SetLocal(seq uint64, set []ledger.KeyID, cp, root ledger.Hash) {
	var finals []*ledger.Certificate
	f.mu.Lock()
	r := f.round(seq)
	r.set, r.local, r.cp, r.root = slices.Clone(set), true, cp, root
	f.applied = max(f.applied, seq)
	buffered := r.buffered
	r.buffered = nil
	for _, v := range buffered {
		if c := f.addVote(seq, r, v); c != nil {
			finals = append(finals, c)
		}
	}
	for _, signer := range sortedSigners(r.votes) {
		f.compare(seq, r, r.votes[signer])
	}
	if r.cert != nil {
		f.checkCert(seq, r)
	}
	f.prune()
	f.broadcast()
	f.mu.Unlock()
	f.final_(finals)
}

// SetSet records the ministry set in force at seq without a local result (a witness that
// verifies a certificate before applying).
func (f *Finality) setSet(seq uint64, set []ledger.KeyID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.round(seq); r.set == nil {
		r.set = slices.Clone(set)
	}
}

func sortedSigners(m map[ledger.KeyID]ledger.Vote) []ledger.KeyID {
	out := make([]ledger.KeyID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (f *Finality) final_(certs []*ledger.Certificate) {
	if f.onFinal == nil {
		return
	}
	for _, c := range certs {
		f.onFinal(c.Seq, c)
	}
}

// HandleVote takes a finality vote from the network (or the node's own). It returns an error
// wrapping ErrVote for a vote to reject (bad signature, signer outside the ministry set, too far
// ahead); the p2p validator penalises its sender.
func (f *Finality) HandleVote(v ledger.Vote) error {
	if err := ledger.VerifyVote(f.network, &v); err != nil {
		return fmt.Errorf("handle vote %d: %w: %w", v.Seq, ErrVote, err)
	}
	f.mu.Lock()
	if v.Seq == 0 || v.Seq > f.applied+voteWindow || (f.final > keepRounds && v.Seq <= f.final-keepRounds) {
		f.mu.Unlock()
		return fmt.Errorf("handle vote %d: %w: outside the window (applied %d)", v.Seq, ErrVote, f.applied)
	}
	r := f.round(v.Seq)
	if r.set == nil {
		if len(r.buffered) < maxBuffered {
			r.buffered = append(r.buffered, v)
		}
		f.mu.Unlock()
		return nil
	}
	if !slices.Contains(r.set, v.Sig.Signer) {
		f.mu.Unlock()
		return fmt.Errorf("handle vote %d: %w: signer %s is not in the ministry set", v.Seq, ErrVote, v.Sig.Signer.Short())
	}
	c := f.addVote(v.Seq, r, v)
	f.broadcast()
	f.mu.Unlock()
	if c != nil {
		f.final_([]*ledger.Certificate{c})
	}
	return nil
}

// addVote adds a vote whose signature was checked to a round whose set is known; it returns a
// certificate this vote completed. f.mu is held.
func (f *Finality) addVote(seq uint64, r *round, v ledger.Vote) *ledger.Certificate {
	if !slices.Contains(r.set, v.Sig.Signer) {
		return nil
	}
	if prev, ok := r.votes[v.Sig.Signer]; ok {
		if prev.Checkpoint != v.Checkpoint || prev.StateRoot != v.StateRoot {
			e := newEquivocation(prev, v)
			if f.ev.Add(e) {
				f.mon.raise(AlarmEquivocation, seq, HealthDegraded, "a ministry key signed two results at one sequence",
					"signer", v.Sig.Signer.Short())
			}
		}
		return nil
	}
	r.votes[v.Sig.Signer] = v
	f.compare(seq, r, v)
	if r.cert != nil {
		f.checkAgainstCert(seq, r, v)
		return nil
	}
	var agree []ledger.Vote
	for _, signer := range sortedSigners(r.votes) {
		if w := r.votes[signer]; w.Checkpoint == v.Checkpoint && w.StateRoot == v.StateRoot {
			agree = append(agree, w)
		}
	}
	if len(agree) < ledger.Quorum(len(r.set)) {
		return nil
	}
	c := ledger.Certify(seq, v.Checkpoint, v.StateRoot, agree)
	if err := c.Verify(f.network, r.set); err != nil {
		f.log.Error("consensus: assembled certificate does not verify", "seq", seq, "err", err)
		return nil
	}
	f.setCert(seq, r, &c)
	return &c
}

// setCert records a certificate and checks it against the local result and the votes. f.mu held.
func (f *Finality) setCert(seq uint64, r *round, c *ledger.Certificate) {
	r.cert = c
	if seq > f.final {
		f.final = seq
		f.mon.setFinal(seq)
	}
	f.checkCert(seq, r)
	for _, signer := range sortedSigners(r.votes) {
		f.checkAgainstCert(seq, r, r.votes[signer])
	}
}

// compare raises the vote-mismatch alarm for a member's vote that differs from the local result.
func (f *Finality) compare(seq uint64, r *round, v ledger.Vote) {
	if !r.local || (v.Checkpoint == r.cp && v.StateRoot == r.root) || r.reported[v.Sig.Signer] {
		return
	}
	r.reported[v.Sig.Signer] = true
	if r.cert == nil || r.cert.StateRoot != r.root || r.cert.Checkpoint != r.cp {
		r.disputed = true
	}
	f.mon.raise(AlarmVoteMismatch, seq, HealthDegraded, "a ministry vote differs from the local result",
		"signer", v.Sig.Signer.Short(), "vote_root", v.StateRoot.String()[:12], "local_root", r.root.String()[:12],
		"same_checkpoint", v.Checkpoint == r.cp)
}

// checkAgainstCert records the evidence of a vote that contradicts the certificate.
func (f *Finality) checkAgainstCert(seq uint64, r *round, v ledger.Vote) {
	c := r.cert
	if v.Checkpoint != c.Checkpoint || v.StateRoot == c.StateRoot {
		return
	}
	e := &Evidence{Kind: EvidenceRootMismatch, Votes: []ledger.Vote{v}, Cert: c}
	if f.ev.Add(e) {
		f.log.Error("consensus: evidence: a ministry member signed a root that contradicts the certificate",
			"seq", seq, "signer", v.Sig.Signer.Short())
	}
}

// checkCert halts the node when the certified result differs from the local one.
func (f *Finality) checkCert(seq uint64, r *round) {
	if !r.local || r.cert == nil {
		return
	}
	if r.cert.Checkpoint == r.cp && r.cert.StateRoot == r.root {
		r.disputed = false
		return
	}
	if !f.halted {
		f.halted, f.haltedAt = true, seq
		f.mon.raise(AlarmRootMismatch, seq, HealthHalted, "the local state root differs from the certified one; applying stops",
			"local_root", r.root.String()[:12], "certified_root", r.cert.StateRoot.String()[:12])
	}
}

// AddCertificate records a certificate received with a final checkpoint, after the caller
// verified it against set.
func (f *Finality) AddCertificate(set []ledger.KeyID, c *ledger.Certificate) {
	f.mu.Lock()
	r := f.round(c.Seq)
	if r.set == nil {
		r.set = slices.Clone(set)
	}
	isNew := r.cert == nil
	if isNew {
		f.setCert(c.Seq, r, c)
	}
	f.broadcast()
	f.mu.Unlock()
}

// Certificate returns the certificate of seq, if known.
func (f *Finality) Certificate(seq uint64) (*ledger.Certificate, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.rounds[seq]; r != nil && r.cert != nil {
		return r.cert, true
	}
	return nil, false
}

// Final returns the highest certified sequence.
func (f *Finality) Final() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.final
}

// Halted reports whether the node stopped applying, and at which sequence.
func (f *Finality) Halted() (bool, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.halted, f.haltedAt
}

// halt stops applying at seq for a reason found outside the collector.
func (f *Finality) halt(seq uint64) {
	f.mu.Lock()
	if !f.halted {
		f.halted, f.haltedAt = true, seq
	}
	f.broadcast()
	f.mu.Unlock()
}

// Gate blocks until the executor may apply checkpoint seq: no earlier checkpoint is disputed
// without a certificate for the local result, and at most maxAhead applied checkpoints are not
// yet certified (0: no limit). It returns ErrHalted once the node halted.
func (f *Finality) Gate(ctx context.Context, seq uint64, maxAhead uint64) error {
	for {
		f.mu.Lock()
		ok, wake := f.open(seq, maxAhead), f.wake
		halted := f.halted
		f.mu.Unlock()
		if halted {
			return ErrHalted
		}
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Finality) open(seq, maxAhead uint64) bool {
	for s, r := range f.rounds { // any disputed round blocks; the order does not matter
		if s < seq && r.disputed {
			return false
		}
	}
	return maxAhead == 0 || seq <= f.final+maxAhead
}

// prune drops rounds far below the newest certificate. f.mu is held.
func (f *Finality) prune() {
	if f.final <= keepRounds {
		return
	}
	low := f.final - keepRounds
	for s, r := range f.rounds {
		if s < low && !r.disputed {
			delete(f.rounds, s)
		}
	}
}
