package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/jaminan/jaminan/ledger"
)

// messageID is the gossip message ID: SHA-256 of the whole message data. Seen-marking happens
// before our validators run, so an ID that covered less than the data would let a forged copy
// that arrives first shadow the real message for the whole seen TTL.
func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.Data)
	return string(sum[:])
}

// gossipOptions returns the gossipsub options of a node (see DESIGN.md "Gossip").
func (n *Node) gossipOptions() []pubsub.Option {
	proto := gossipProtocol(n.cfg.Network)
	topics := []string{BlocksTopic(n.cfg.Network), FinalityTopic(n.cfg.Network), SnapshotsTopic(n.cfg.Network)}
	params, thresholds := scoreParams(topics, n.cfg.SeenTTL, func(p peer.ID) float64 {
		return -n.pen.value(p, time.Now())
	})
	return []pubsub.Option{
		pubsub.WithGossipSubProtocols([]protocol.ID{proto}, func(f pubsub.GossipSubFeature, p protocol.ID) bool {
			switch f {
			case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeaturePX, pubsub.GossipSubFeatureIdontwant:
				return p == proto
			}
			return false
		}),
		// Our messages carry their authors' signatures; libp2p's would cost a second signature
		// and the key bytes per message for nothing.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(MaxMessageSize),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return n.members.Allowed(p) }),
		pubsub.WithPeerExchange(false),
		pubsub.WithFloodPublish(true),
		pubsub.WithSeenMessagesTTL(n.cfg.SeenTTL),
		pubsub.WithValidateQueueSize(n.cfg.QueueSize),
		pubsub.WithPeerOutboundQueueSize(n.cfg.QueueSize),
		pubsub.WithRawTracer(n.flow),
		pubsub.WithLogger(n.baseLog.With("component", "gossipsub")),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.scores.set), time.Second),
	}
}

// startGossip creates the router, joins both topics with their validators and starts the
// subscription readers.
func (n *Node) startGossip() error {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host, n.gossipOptions()...)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	n.ps = ps
	bt, ft := BlocksTopic(n.cfg.Network), FinalityTopic(n.cfg.Network)
	if err := ps.RegisterTopicValidator(bt, n.blockValidator, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("register block validator: %w", err)
	}
	if err := ps.RegisterTopicValidator(ft, n.voteValidator, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("register vote validator: %w", err)
	}
	if n.blocks, err = ps.Join(bt); err != nil {
		return fmt.Errorf("join %s: %w", bt, err)
	}
	if n.finality, err = ps.Join(ft); err != nil {
		return fmt.Errorf("join %s: %w", ft, err)
	}
	st := SnapshotsTopic(n.cfg.Network)
	if err := ps.RegisterTopicValidator(st, n.shareValidator, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("register snapshot share validator: %w", err)
	}
	if n.snapshots, err = ps.Join(st); err != nil {
		return fmt.Errorf("join %s: %w", st, err)
	}
	bs, err := n.blocks.Subscribe(pubsub.WithBufferSize(n.cfg.QueueSize))
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", bt, err)
	}
	fs, err := n.finality.Subscribe(pubsub.WithBufferSize(n.cfg.QueueSize))
	if err != nil {
		bs.Cancel()
		return fmt.Errorf("subscribe %s: %w", ft, err)
	}
	ss, err := n.snapshots.Subscribe(pubsub.WithBufferSize(64))
	if err != nil {
		bs.Cancel()
		fs.Cancel()
		return fmt.Errorf("subscribe %s: %w", st, err)
	}
	n.wg.Add(3)
	go n.readBlocks(bs)
	go n.readVotes(fs)
	go n.readShares(ss)
	return nil
}

// blockValidator is the block topic's pubsub validator.
func (n *Node) blockValidator(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if n.validateOff {
		return pubsub.ValidationAccept
	}
	v, b := n.val.validateBlock(from, m.Data)
	n.countVerdict("blocks", from, v)
	if v.res == pubsub.ValidationAccept {
		m.ValidatorData = b
	}
	return v.res
}

// voteValidator is the finality topic's pubsub validator.
func (n *Node) voteValidator(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if n.validateOff {
		return pubsub.ValidationAccept
	}
	v, kind, vote := n.val.validateVote(from, m.Data)
	n.countVerdict("finality", from, v)
	if v.res == pubsub.ValidationAccept {
		m.ValidatorData = votePayload{kind: kind, vote: vote}
	}
	return v.res
}

type votePayload struct {
	kind VoteKind
	vote *ledger.Vote
}

func (n *Node) countVerdict(topic string, from peer.ID, v verdict) {
	switch v.res {
	case pubsub.ValidationAccept:
		n.metrics.gossip.WithLabelValues(topic, "accept").Inc()
	case pubsub.ValidationReject:
		n.metrics.gossip.WithLabelValues(topic, "reject").Inc()
		n.log.Warn("gossip message rejected", "topic", topic, "peer", from, "err", v.reason)
	default:
		n.metrics.gossip.WithLabelValues(topic, "ignore").Inc()
		n.log.Debug("gossip message ignored", "topic", topic, "peer", from, "err", v.reason)
	}
}

// readBlocks hands accepted blocks to the sink.
func (n *Node) readBlocks(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		b, ok := m.ValidatorData.(*ledger.Block)
		if !ok {
			continue // only with validation off (tests)
		}
		n.deliverBlock(b, m.ReceivedFrom, viaGossip)
	}
}

// readVotes hands accepted votes and witness cosignatures to the sink.
func (n *Node) readVotes(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		p, ok := m.ValidatorData.(votePayload)
		if !ok {
			continue
		}
		if err := n.sink.PutVote(p.kind, p.vote); err != nil {
			n.log.Warn("store vote", "seq", p.vote.Seq, "kind", p.kind, "err", err)
			continue
		}
		n.metrics.delivered.WithLabelValues(p.kind.String(), viaGossip).Inc()
	}
}

// deliverBlock stores a verified block the node does not hold yet, counts it by the path it
// came (via), and reports conflicts as evidence.
func (n *Node) deliverBlock(b *ledger.Block, from peer.ID, via string) error {
	if _, err := n.src.Block(b.Hash()); err == nil {
		return nil // arrived by another path first
	}
	err := n.sink.PutBlock(b)
	var eq *EquivocationError
	switch {
	case err == nil:
		n.metrics.delivered.WithLabelValues("block", via).Inc()
		return nil
	case errors.As(err, &eq):
		n.report(Evidence{Kind: EvidenceEquivocation, Producer: b.Header.Producer, Height: b.Header.Height, Held: eq.Held, New: b, From: from})
	case errors.Is(err, ErrFork):
		n.report(Evidence{Kind: EvidenceFork, Producer: b.Header.Producer, Height: b.Header.Height, New: b, From: from})
	}
	n.log.Warn("store block", "producer", b.Header.Producer.Short(), "height", b.Header.Height, "via", via, "err", err)
	return fmt.Errorf("store block: %w", err)
}

// deliverOrderedBlock stores a block fetched by hash because a checkpoint names it: as any
// other block first (a conflict is still evidence against its producer), then, if the sink did
// not keep it, by hash only (OrderedSink), so that the checkpoint can be applied.
func (n *Node) deliverOrderedBlock(b *ledger.Block, from peer.ID) error {
	err := n.deliverBlock(b, from, viaSync)
	if _, herr := n.src.Block(b.Hash()); herr == nil {
		return nil
	}
	// Refused as a conflict, or taken without being kept (a height the producer's applied
	// chain has passed): keep it by hash.
	os, ok := n.sink.(OrderedSink)
	if !ok {
		if err == nil {
			err = fmt.Errorf("block %s was not kept", b.Hash())
		}
		return err
	}
	if err := os.PutOrderedBlock(b); err != nil {
		return fmt.Errorf("store ordered block %s: %w", b.Hash(), err)
	}
	return nil
}

// report passes evidence to the node.
func (n *Node) report(e Evidence) {
	n.metrics.equivocal.Inc()
	n.log.Warn("producer misbehaviour", "kind", e.Kind, "producer", e.Producer.Short(), "height", e.Height, "peer", e.From)
	if n.cfg.OnEvidence != nil {
		n.cfg.OnEvidence(e)
	}
}

// PublishBlock gossips a block. It waits (bounded by ctx and maxPaceWait) while any peer's
// outbound queue is above the high-water mark, so a burst is paced instead of dropped. Publishing runs the
// block validator locally and returns its error for an invalid block.
func (n *Node) PublishBlock(ctx context.Context, b *ledger.Block) error {
	if err := n.flow.wait(ctx, n.cfg.PublishHighWater); err != nil {
		return fmt.Errorf("publish block %d: %w", b.Header.Height, err)
	}
	if err := n.blocks.Publish(ctx, encodeBlockMessage(b)); err != nil {
		return fmt.Errorf("publish block %d: %w", b.Header.Height, err)
	}
	return nil
}

// PublishVote gossips a finality vote (KindVote) or witness cosignature (KindWitness).
func (n *Node) PublishVote(ctx context.Context, kind VoteKind, v *ledger.Vote) error {
	if kind != KindVote && kind != KindWitness {
		return fmt.Errorf("publish vote: unknown kind %v", kind)
	}
	if err := n.flow.wait(ctx, n.cfg.PublishHighWater); err != nil {
		return fmt.Errorf("publish %s %d: %w", kind, v.Seq, err)
	}
	if err := n.finality.Publish(ctx, encodeVoteMessage(kind, v)); err != nil {
		return fmt.Errorf("publish %s %d: %w", kind, v.Seq, err)
	}
	return nil
}

// scoreBoard keeps the latest gossipsub peer scores.
type scoreBoard struct {
	mu     sync.Mutex
	scores map[peer.ID]float64
	notify chan struct{}
}

func newScoreBoard() *scoreBoard { return &scoreBoard{notify: make(chan struct{}, 1)} }

func (s *scoreBoard) set(m map[peer.ID]float64) {
	s.mu.Lock()
	s.scores = m
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *scoreBoard) get(p peer.ID) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.scores[p]
	return v, ok
}

// flowTracer watches gossipsub's queues: it counts RPCs queued to each peer and not yet
// written, so publishers can wait for room, and it turns every silent drop into a metric and a
// sync round that repairs what was lost.
type flowTracer struct {
	mu          sync.Mutex
	outstanding map[peer.ID]int
	drained     chan struct{}
	onDrop      func(reason string)
}

func newFlowTracer(onDrop func(string)) *flowTracer {
	return &flowTracer{outstanding: map[peer.ID]int{}, drained: make(chan struct{}, 1), onDrop: onDrop}
}

// maxPaceWait bounds how long one publish waits for queues to drain. A single stalled peer
// (gossipsub allows a write 30 s) must not stop a producer: after this the message goes out
// anyway, the stalled peer's queue may drop it, and sync repairs that.
const maxPaceWait = 2 * time.Second

// wait blocks while any peer has more than high RPCs queued, at most maxPaceWait.
func (f *flowTracer) wait(ctx context.Context, high int) error {
	t := time.NewTimer(0)
	defer t.Stop()
	deadline := time.Now().Add(maxPaceWait)
	for {
		if f.max() <= high || time.Now().After(deadline) {
			return nil
		}
		// The drained signal may be missed between max and select; re-check every 10ms.
		t.Reset(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for outbound queues: %w", ctx.Err())
		case <-f.drained:
		case <-t.C:
		}
	}
}

func (f *flowTracer) max() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := 0
	for _, v := range f.outstanding {
		m = max(m, v)
	}
	return m
}

func (f *flowTracer) add(p peer.ID, d int) {
	f.mu.Lock()
	v := f.outstanding[p] + d
	if v <= 0 {
		delete(f.outstanding, p)
	} else {
		f.outstanding[p] = v
	}
	f.mu.Unlock()
	if d < 0 {
		select {
		case f.drained <- struct{}{}:
		default:
		}
	}
}

func (f *flowTracer) forget(p peer.ID) {
	f.mu.Lock()
	delete(f.outstanding, p)
	f.mu.Unlock()
	select {
	case f.drained <- struct{}{}:
	default:
	}
}

func (f *flowTracer) SendRPC(_ *pubsub.RPC, p peer.ID) { f.add(p, 1) }
func (f *flowTracer) SendRPCCompleted(_ *pubsub.RPC, p peer.ID, _ time.Duration) {
	f.add(p, -1)
}
func (f *flowTracer) DropRPC(rpc *pubsub.RPC, _ peer.ID) {
	if len(rpc.GetPublish()) > 0 {
		f.onDrop("outbound_queue")
	}
}
func (f *flowTracer) UndeliverableMessage(*pubsub.Message) { f.onDrop("slow_subscriber") }
func (f *flowTracer) RejectMessage(_ *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull:
		f.onDrop("validation_queue")
	case pubsub.RejectValidationThrottled:
		f.onDrop("validation_throttled")
	}
}
func (f *flowTracer) OnClosedOutboundStream(p peer.ID)         { f.forget(p) }
func (f *flowTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (f *flowTracer) Join(string)                              {}
func (f *flowTracer) Leave(string)                             {}
func (f *flowTracer) Graft(peer.ID, string)                    {}
func (f *flowTracer) Prune(peer.ID, string)                    {}
func (f *flowTracer) ValidateMessage(*pubsub.Message)          {}
func (f *flowTracer) DeliverMessage(*pubsub.Message)           {}
func (f *flowTracer) DuplicateMessage(*pubsub.Message)         {}
func (f *flowTracer) ThrottlePeer(peer.ID)                     {}
func (f *flowTracer) RecvRPC(*pubsub.RPC)                      {}
