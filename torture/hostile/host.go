package hostile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// gossipProtocol is the private gossipsub router protocol of a network (p2p/DESIGN.md
// "Gossip"). p2p does not export it; a hostile party uses the same string any outsider could
// read from the design document.
func gossipProtocol(network string) protocol.ID {
	return protocol.ID("/jaminan/" + network + "/meshsub/1.2.0")
}

// newHost builds a libp2p host with the given key that only dials (TCP and QUIC, Noise and
// TLS, no relay), like a node's host but without a gate: a hostile party talks to anyone.
func newHost(s *ledger.Signer) (host.Host, error) {
	priv, err := crypto.UnmarshalEd25519PrivateKey(s.PrivateKey())
	if err != nil {
		return nil, fmt.Errorf("convert key: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.WithDialTimeout(5*time.Second),
		libp2p.UserAgent("jaminan-hostile"),
	)
	if err != nil {
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	return h, nil
}

// maxHostileMessage is the rogue router's message limit: large enough to send messages beyond
// the network's limit (p2p.MaxMessageSize), which honest receivers must refuse.
const maxHostileMessage = 2*p2p.MaxMessageSize + 64<<10

// newGossip starts a gossipsub router on h that speaks the network's private protocol with
// its message format (no libp2p signature, no author, ID = SHA-256 of the data) but validates
// nothing and accepts messages up to maxHostileMessage. Its seen cache is short, so that it
// can publish a captured message again (a replay).
func newGossip(ctx context.Context, h host.Host, network string, log *slog.Logger) (*pubsub.PubSub, error) {
	proto := gossipProtocol(network)
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithGossipSubProtocols([]protocol.ID{proto}, func(f pubsub.GossipSubFeature, p protocol.ID) bool {
			switch f {
			case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeatureIdontwant:
				return p == proto
			}
			return false
		}),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithMaxMessageSize(maxHostileMessage),
		pubsub.WithPeerExchange(false),
		pubsub.WithFloodPublish(true),
		pubsub.WithSeenMessagesTTL(time.Second),
		pubsub.WithValidateQueueSize(1024),
		pubsub.WithPeerOutboundQueueSize(1024),
		pubsub.WithLogger(log.With("component", "gossipsub")),
	)
	if err != nil {
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	return ps, nil
}

// parsePeers parses full multiaddrs with /p2p/ IDs.
func parsePeers(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w", a, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// keeper keeps dialling peers that refuse or drop the party: each peer not connected is
// dialled when its backoff has passed; the backoff doubles (with jitter) from minBackoff to
// maxBackoff and resets only after a connection has lasted stableAfter, because a peer that
// gates us lets the dial succeed and drops the connection a moment later.
type keeper struct {
	h     host.Host
	peers []peer.AddrInfo
	c     *counter
	log   *slog.Logger

	// offTopic, if set, reports whether a connected peer is missing from the gossip topic; such
	// a peer is disconnected after offTopicGrace so that a fresh connection brings a fresh
	// gossip stream (after an oversized message the receiver resets ours).
	offTopic func(peer.ID) bool

	mu    sync.Mutex
	state map[peer.ID]*dialState
}

type dialState struct {
	backoff     time.Duration
	next        time.Time
	connectedAt time.Time
	offSince    time.Time
}

const (
	minBackoff    = 250 * time.Millisecond
	maxBackoff    = 10 * time.Second
	stableAfter   = 5 * time.Second
	offTopicGrace = 3 * time.Second
)

func newKeeper(h host.Host, peers []peer.AddrInfo, c *counter, log *slog.Logger) *keeper {
	k := &keeper{h: h, peers: peers, c: c, log: log, state: map[peer.ID]*dialState{}}
	for _, ai := range peers {
		k.state[ai.ID] = &dialState{backoff: minBackoff}
	}
	return k
}

// run dials until ctx ends, checking every 100 ms.
func (k *keeper) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		now := time.Now()
		for _, ai := range k.peers {
			if k.due(ai.ID, now) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k.dial(ctx, ai)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// due reports whether p should be dialled now, and books the next attempt.
func (k *keeper) due(p peer.ID, now time.Time) bool {
	connected := k.h.Network().Connectedness(p) == network.Connected
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.state[p]
	if connected {
		if st.connectedAt.IsZero() {
			st.connectedAt = now
		}
		if now.Sub(st.connectedAt) >= stableAfter {
			st.backoff = minBackoff
		}
		if k.offTopic != nil && k.offTopic(p) {
			if st.offSince.IsZero() {
				st.offSince = now
			} else if now.Sub(st.offSince) > offTopicGrace {
				st.offSince = time.Time{}
				k.c.kind("reconnect_off_topic")
				_ = k.h.Network().ClosePeer(p)
			}
		} else {
			st.offSince = time.Time{}
		}
		return false
	}
	if !st.connectedAt.IsZero() {
		st.connectedAt = time.Time{}
		k.c.kind("disconnected")
	}
	st.offSince = time.Time{}
	if now.Before(st.next) {
		return false
	}
	st.next = now.Add(st.backoff/2 + rand.N(st.backoff/2+1))
	st.backoff = min(2*st.backoff, maxBackoff)
	return true
}

func (k *keeper) dial(ctx context.Context, ai peer.AddrInfo) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	k.c.kind("dial")
	if err := k.h.Connect(dctx, ai); err != nil {
		if ctx.Err() == nil {
			k.c.kind("dial_failed")
			k.log.Debug("dial", "peer", ai.ID, "err", err)
		}
	}
}

// redialAll closes every connection and makes every peer due at once. A gossip stream of our
// own to a peer replaces (and resets) the router's, after which the router counts the peer as
// gone; fresh connections bring fresh router streams.
func (k *keeper) redialAll() {
	k.mu.Lock()
	for _, st := range k.state {
		st.backoff, st.next, st.offSince = minBackoff, time.Time{}, time.Time{}
	}
	k.mu.Unlock()
	for _, ai := range k.peers {
		_ = k.h.Network().ClosePeer(ai.ID)
	}
}

// connected returns the peers with a live connection.
func (k *keeper) connected() []peer.ID {
	var out []peer.ID
	for _, ai := range k.peers {
		if k.h.Network().Connectedness(ai.ID) == network.Connected {
			out = append(out, ai.ID)
		}
	}
	return out
}
