package node

import (
	"context"
	"slices"
	"time"

	"github.com/jaminan/jaminan/consensus"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// recertifyTries bounds how long a restarted ministry node votes again on the checkpoints it
// applied but holds no certificate of (one round per second).
const recertifyTries = 60

// startRecertify runs recertify in the background if the ministry node applied checkpoints
// it holds no certificate of.
func (n *Node) startRecertify(m *consensus.Ministry) {
	fs, _ := n.chain.FinalSeq()
	meta, err := n.st.Meta()
	if err != nil || fs >= meta.Seq {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.recertify(m, fs, meta.Seq)
	}()
}

// recertify votes again on checkpoints (from, to] that this ministry node applied before it
// stopped but holds no certificate of. A ministry node votes once, when it applies; when every
// ministry node stops between applying a checkpoint and its certificate (a crash of all of
// them), the votes are gone, nobody would vote on it again, and the chain of certificates —
// and with it every bureau — would stop there for good. The same vote signed again is the same
// vote (ed25519 is deterministic), not an equivocation. A certificate assembled here, or
// received by sync, is stored like any other and the node's read view moves on. The loop ends
// when every one is certified, bounded by recertifyTries rounds of a second.
func (n *Node) recertify(m *consensus.Ministry, from, to uint64) {
	n.log.Info("voting again on applied checkpoints without a certificate", "from", from+1, "to", to)
	set, err := n.ministrySet(0)
	if err != nil {
		n.log.Warn("recertify: ministry set", "err", err)
		return
	}
	// A vote is one gossip message whose ID is its hash: published again, it is dropped as seen.
	// So publish only once enough of the other ministry nodes are on the topic to hear it
	// (bounded; the peers that start later publish theirs to this node, which then assembles).
	need := ledger.Quorum(len(set)) - 1
	for range 150 {
		if n.closing.Load() {
			return
		}
		have := 0
		for _, p := range n.p2p.TopicPeers() {
			if id := ledger.KeyID(p); id != n.signer.ID() && slices.Contains(set, id) {
				have++
			}
		}
		if have >= need {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the finality topic's subscriptions follow the blocks topic's
	votes := map[uint64]ledger.Vote{}
	for s := from + 1; s <= to; s++ {
		cp, root, ok, err := n.chain.CheckpointAt(s)
		if err != nil || !ok {
			continue
		}
		m.Finality.SetLocal(s, set, cp, root)
		votes[s] = ledger.SignVote(n.signer, n.genesis.Network, s, cp, root)
	}
	published := map[uint64]bool{}
	for range recertifyTries {
		if n.closing.Load() {
			return
		}
		for s, v := range votes {
			if fs, _ := n.chain.FinalSeq(); s <= fs {
				delete(votes, s)
				continue
			}
			if cert, ok := m.Finality.Certificate(s); ok {
				n.chain.Certified(cert)
				continue
			}
			if !published[s] {
				if err := m.HandleVote(v); err != nil {
					n.log.Debug("recertify: own vote", "seq", s, "err", err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := n.p2p.PublishVote(ctx, p2p.KindVote, &v); err != nil {
					n.log.Debug("recertify: publish vote", "seq", s, "err", err)
				} else {
					published[s] = true
				}
				cancel()
			}
		}
		n.views.refresh()
		if len(votes) == 0 {
			n.log.Info("applied checkpoints certified again", "to", to)
			return
		}
		time.Sleep(time.Second)
	}
	n.log.Warn("recertify: applied checkpoints still without a certificate", "left", len(votes))
}
