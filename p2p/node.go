package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// Node is a member's network endpoint: a libp2p host gated by the member registry, gossip of
// blocks and finality votes, and the sync protocol (server and client). It delivers what it
// receives, verified, to a Sink and serves what a Source holds.
type Node struct {
	cfg     Config
	log     *slog.Logger // with component=p2p
	baseLog *slog.Logger
	members *Members
	src     Source
	sink    Sink

	host     host.Host
	ps       *pubsub.PubSub
	blocks   *pubsub.Topic
	finality *pubsub.Topic
	// snapshots carries snapshot attestation shares (snapshot.go).
	snapshots *pubsub.Topic

	val     *validator
	pen     *penalties
	scores  *scoreBoard
	flow    *flowTracer
	metrics *metrics
	syncer  *syncer
	dialer  *dialer
	serving chan struct{}
	// snapServing bounds the snapshot streams served at once.
	snapServing chan struct{}

	// validateOff makes the validators accept everything (tests build forging peers with it).
	validateOff bool

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a node: the host listens, gossip joins its topics, the sync server, the syncer and
// the static-peer dialer run until Close. members is shared with the caller, who updates it
// through SetMembers.
func New(cfg Config, members *Members, src Source, sink Sink) (*Node, error) {
	return newNode(cfg, members, src, sink, false)
}

func newNode(cfg Config, members *Members, src Source, sink Sink, validateOff bool) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if members == nil || src == nil || sink == nil {
		return nil, errors.New("new p2p node: members, source and sink are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: log.With("component", "p2p"), baseLog: log, members: members, src: src, sink: sink,
		pen: newPenalties(), scores: newScoreBoard(), serving: make(chan struct{}, cfg.MaxServing),
		snapServing: make(chan struct{}, maxSnapshotServing),
		validateOff: validateOff, ctx: ctx, cancel: cancel,
	}
	n.syncer = newSyncer(n)
	if _, ok := sink.(SnapshotSink); ok && cfg.FastJoinLag > 0 {
		if seq, err := src.FinalSeq(); err == nil && seq == 0 {
			n.syncer.joining.Store(true)
		}
	}
	n.dialer = newDialer(n)
	n.flow = newFlowTracer(func(reason string) {
		n.metrics.dropped.WithLabelValues(reason).Inc()
		n.syncer.trigger(true)
	})
	n.metrics = newMetrics(
		func() float64 { return float64(n.Lag()) },
		func() float64 {
			if n.Health() == HealthSyncing {
				return 1
			}
			return 0
		},
		func() float64 { return float64(len(n.host.Network().Peers())) },
	)
	g := &gater{members: members, pen: n.pen, metrics: n.metrics}
	h, err := newHost(&cfg, g)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("new p2p node: %w", err)
	}
	n.host, g.self = h, h.ID()
	n.val = &validator{
		network: cfg.Network, self: h.ID(), members: members, src: src, maxAhead: cfg.MaxAhead,
		gapBlocks: n.syncer.gapBlocks, gapFinal: n.syncer.gapFinal, evidence: n.report,
	}
	fail := func(err error) (*Node, error) {
		cancel()
		n.wg.Wait()
		return nil, errors.Join(fmt.Errorf("new p2p node: %w", err), h.Close())
	}
	if err := n.metrics.register(cfg.Registerer); err != nil {
		return fail(err)
	}
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		n.metrics.unregister(cfg.Registerer)
		return fail(fmt.Errorf("subscribe to connection events: %w", err))
	}
	if err := n.startGossip(); err != nil {
		sub.Close()
		n.metrics.unregister(cfg.Registerer)
		return fail(err)
	}
	h.SetStreamHandler(syncProtocol(cfg.Network), n.handleSync)
	n.wg.Add(2)
	go n.syncer.run(ctx)
	go n.dialer.run(ctx, sub)
	for _, ai := range cfg.StaticPeers {
		n.dialer.add(ai)
	}
	n.log.Info("p2p node started", "peer", h.ID(), "addrs", h.Addrs(), "network", cfg.Network)
	return n, nil
}

// Close stops the node: first its goroutines (the context ends gossip reads, sync rounds and
// dials; the wait makes sure none touches the host after), then the host, which closes every
// connection and stream. It is idempotent; ctx bounds the wait.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.cancel()
		done := make(chan struct{})
		go func() { n.wg.Wait(); close(done) }()
		var errs []error
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("close p2p node: goroutines still running: %w", ctx.Err()))
		}
		n.host.RemoveStreamHandler(syncProtocol(n.cfg.Network))
		if err := n.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close p2p host: %w", err))
		}
		n.metrics.unregister(n.cfg.Registerer)
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// ID returns the node's peer ID (its member key ID).
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the libp2p host (for other protocols of the node, such as Raft among ministry
// nodes).
func (n *Node) Host() host.Host { return n.host }

// AddrInfo returns the node's peer ID and listen addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// AddStaticPeer adds a peer to keep connected (protected, redialled with backoff).
func (n *Node) AddStaticPeer(ai peer.AddrInfo) { n.dialer.add(ai) }

// SetMembers updates the member registry (evaluated at t, unix ms) and closes connections to
// peers it no longer admits. Revocation and expiry take effect here, at the gate, in gossip
// validation and in sync peer selection alike.
func (n *Node) SetMembers(ms []ledger.Member, t uint64) {
	n.members.Set(ms, t)
	for _, p := range n.host.Network().Peers() {
		if !n.members.Allowed(p) {
			n.log.Info("closing connection to a peer no longer admitted", "peer", p)
			if err := n.host.Network().ClosePeer(p); err != nil {
				n.log.Debug("close peer", "peer", p, "err", err)
			}
		}
	}
	n.dialer.readmit()
}

// PeerScore returns the gossipsub score of a peer as last inspected (every second).
func (n *Node) PeerScore(p peer.ID) (float64, bool) { return n.scores.get(p) }

// Penalty returns a peer's current sync-misbehaviour penalty.
func (n *Node) Penalty(p peer.ID) float64 { return n.pen.value(p, time.Now()) }

// Connected reports whether the node has a live connection to p.
func (n *Node) Connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}

// TopicPeers returns the peers known to be subscribed to the block topic.
func (n *Node) TopicPeers() []peer.ID { return n.blocks.ListPeers() }
