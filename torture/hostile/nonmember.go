package hostile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// RunNonMember runs a stranger with a fresh key (in no genesis) until ctx is done: it dials
// every peer again and again, opens a stream of every protocol a node speaks (sync, gossip,
// Raft, identify, ping) and tries to publish on both topics. A stranger cannot learn the
// network's name without a connection, so it tries the protocol IDs of each name in
// NonMember.Networks.
//
// Every attempt should be refused: Stats.Kinds counts "refused_<what>"; Stats.Errors counts
// what got through (a connection that stayed up, a stream that was answered, a topic peer).
func RunNonMember(ctx context.Context, peers []string, log *slog.Logger) (Stats, error) {
	return NonMember{Peers: peers}.Run(ctx, log)
}

// NonMember configures a stranger; see RunNonMember.
type NonMember struct {
	Peers []string
	// Networks are the network names whose protocol IDs it tries (nil: "jaminan-devnet",
	// "jaminan-torture" and "jaminan").
	Networks []string
	// Pause is the pause between rounds (0: 200 ms).
	Pause time.Duration
}

// Run runs the stranger until ctx is done.
func (nm NonMember) Run(ctx context.Context, log *slog.Logger) (Stats, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("party", "non-member")
	c := newCounter()
	peers, err := parsePeers(nm.Peers)
	if err != nil {
		return c.snapshot(), fmt.Errorf("non-member: %w", err)
	}
	if len(nm.Networks) == 0 {
		nm.Networks = []string{"jaminan-devnet", "jaminan-torture", "jaminan"}
	}
	if nm.Pause <= 0 {
		nm.Pause = 200 * time.Millisecond
	}
	s := ledger.SignerFromSeed(randBytes(32))
	h, err := newHost(s)
	if err != nil {
		return c.snapshot(), fmt.Errorf("non-member: %w", err)
	}
	defer h.Close()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The gossip router and topics of each network, to publish on.
	type topics struct {
		pubs []func(context.Context, []byte) error
	}
	var tps []topics
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, netName := range nm.Networks {
		ps, err := newGossip(gctx, h, netName, log)
		if err != nil {
			return c.snapshot(), fmt.Errorf("non-member: %w", err)
		}
		var tp topics
		for _, name := range []string{p2p.BlocksTopic(netName), p2p.FinalityTopic(netName)} {
			t, err := ps.Join(name)
			if err != nil {
				return c.snapshot(), fmt.Errorf("non-member: join %s: %w", name, err)
			}
			tp.pubs = append(tp.pubs, func(ctx context.Context, data []byte) error {
				if n := len(t.ListPeers()); n > 0 {
					c.err("topic_peer")
					log.Warn("a node took the non-member as a topic peer", "topic", name, "peers", n)
				} else {
					c.kind("refused_publish")
				}
				return t.Publish(ctx, data)
			})
		}
		tps = append(tps, tp)
	}
	var protos []protocol.ID
	for _, netName := range nm.Networks {
		protos = append(protos, p2p.SyncProtocol(netName), gossipProtocol(netName), protocol.ID("/jaminan/"+netName+"/raft/1"))
	}
	protos = append(protos, identify.ID, ping.ID)

	log.Info("non-member started", "peer", h.ID(), "peers", len(peers))
	// Every peer is attacked at once, each by a goroutine of its own, so that a slow refusal by
	// one does not spare the others.
	for _, ai := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				nm.attack(ctx, h, ai, protos, c, log)
				sleep(ctx, nm.Pause)
			}
		}()
	}
	for ctx.Err() == nil {
		for _, tp := range tps {
			for _, pub := range tp.pubs {
				c.sent("publish")
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				_ = pub(pctx, append([]byte{0x01}, randBytes(256)...))
				pcancel()
			}
		}
		sleep(ctx, nm.Pause)
	}
	return c.snapshot(), nil
}

// attack dials one peer and tries every protocol on it.
func (nm NonMember) attack(ctx context.Context, h host.Host, ai peer.AddrInfo, protos []protocol.ID, c *counter, log *slog.Logger) {
	c.sent("dial")
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := h.Connect(dctx, ai)
	cancel()
	if err != nil {
		// The dialer may see the refusal itself, or the listener drop it after the handshake.
		c.kind("refused_dial")
	} else {
		// A refused dialer's Connect returns nil (the listener's gate runs after the dialer's
		// handshake); the connection must be gone a moment later.
		deadline := time.Now().Add(2 * time.Second)
		for h.Network().Connectedness(ai.ID) == network.Connected && time.Now().Before(deadline) && ctx.Err() == nil {
			sleep(ctx, 20*time.Millisecond)
		}
		if h.Network().Connectedness(ai.ID) == network.Connected {
			c.err("connection_kept")
			log.Warn("a node kept the non-member's connection", "peer", ai.ID)
		} else {
			c.kind("refused_dial")
		}
	}
	for _, proto := range protos {
		c.sent("stream")
		answered, err := rawSyncExchange(ctx, h, ai.ID, proto, frame([]byte{syncStatus}))
		switch {
		case err != nil:
			c.kind("refused_stream")
		case answered:
			c.err("stream_answered")
			log.Warn("a node answered the non-member", "peer", ai.ID, "protocol", proto)
		default:
			c.kind("refused_stream")
		}
	}
}
