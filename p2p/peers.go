package p2p

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// protectTag marks static peers in the connection manager so trimming never drops them.
const protectTag = "jaminan-static"

// dialer keeps the static peers connected: it dials each one that is not connected when its
// backoff has passed, doubling the backoff (with jitter) from ReconnectMin up to ReconnectMax
// after each failure and resetting it on success. A disconnect wakes it at once.
type dialer struct {
	n    *Node
	kick chan struct{}

	mu    sync.Mutex
	peers map[peer.ID]*staticPeer
}

type staticPeer struct {
	backoff     time.Duration
	next        time.Time
	dialing     bool
	connectedAt time.Time
	offTopic    time.Time // since when the peer is connected but not on the blocks topic
}

// offTopicGrace is how long a connected static peer may stay off the blocks topic before its
// connections are closed and redialled. Two nodes that dial each other at once end up with two
// connections; when the one carrying gossipsub's stream is closed as a duplicate, gossipsub
// drops the peer and does not reopen a stream on the connection that remains, so the two would
// exchange blocks only through sync. A fresh connection gets a fresh stream.
const offTopicGrace = 5 * time.Second

// stableAfter is how long a connection must have lasted for its loss to reset the backoff; a
// connection the other side drops at once (it gates us) keeps backing off.
func (d *dialer) stableAfter() time.Duration { return 10 * d.n.cfg.ReconnectMin }

// event updates a static peer's state from a connectedness change.
func (d *dialer) event(id peer.ID, c network.Connectedness) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp, ok := d.peers[id]
	if !ok {
		return
	}
	now := time.Now()
	switch c {
	case network.Connected:
		sp.connectedAt = now
	case network.NotConnected:
		if !sp.connectedAt.IsZero() && now.Sub(sp.connectedAt) >= d.stableAfter() {
			sp.backoff, sp.next = d.n.cfg.ReconnectMin, time.Time{}
		}
		sp.connectedAt = time.Time{}
	}
}

// readmit makes every static peer due now (the member registry changed).
func (d *dialer) readmit() {
	d.mu.Lock()
	for _, sp := range d.peers {
		sp.backoff, sp.next = d.n.cfg.ReconnectMin, time.Time{}
	}
	d.mu.Unlock()
	d.wake()
}

func newDialer(n *Node) *dialer {
	return &dialer{n: n, kick: make(chan struct{}, 1), peers: map[peer.ID]*staticPeer{}}
}

// add makes p a static peer: its addresses are kept permanently and it is protected.
func (d *dialer) add(ai peer.AddrInfo) {
	if ai.ID == d.n.host.ID() {
		return
	}
	d.n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	d.n.host.ConnManager().Protect(ai.ID, protectTag)
	d.mu.Lock()
	if _, ok := d.peers[ai.ID]; !ok {
		d.peers[ai.ID] = &staticPeer{backoff: d.n.cfg.ReconnectMin}
	}
	d.mu.Unlock()
	d.wake()
}

func (d *dialer) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// run is the dialer's goroutine. It also turns connection events into sync rounds.
func (d *dialer) run(ctx context.Context, sub event.Subscription) {
	defer d.n.wg.Done()
	defer sub.Close()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.Out():
			e, ok := ev.(event.EvtPeerConnectednessChanged)
			if !ok {
				continue
			}
			d.event(e.Peer, e.Connectedness)
			switch e.Connectedness {
			case network.Connected:
				// A (re)connected peer may hold what we missed: ask everyone's status.
				d.n.syncer.trigger(true)
			case network.NotConnected:
				d.n.flow.forget(e.Peer)
				d.wake()
			}
			continue
		case <-d.kick:
		case <-t.C:
		}
		t.Reset(d.dialDue(ctx))
	}
}

// dialDue starts dials of the static peers that are due and returns when to look again.
func (d *dialer) dialDue(ctx context.Context) time.Duration {
	now := time.Now()
	wait := d.n.cfg.ReconnectMax
	onTopic := map[peer.ID]bool{}
	for _, p := range d.n.TopicPeers() {
		onTopic[p] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, sp := range d.peers {
		if d.n.host.Network().Connectedness(id) == network.Connected {
			switch {
			case onTopic[id]:
				sp.offTopic = time.Time{}
			case sp.offTopic.IsZero():
				sp.offTopic = now
				wait = min(wait, offTopicGrace)
			case now.Sub(sp.offTopic) >= offTopicGrace:
				sp.offTopic = time.Time{}
				d.n.log.Info("static peer connected but off the gossip topic; reconnecting", "peer", id)
				d.n.wg.Add(1)
				go func() {
					defer d.n.wg.Done()
					_ = d.n.host.Network().ClosePeer(id) // the disconnect event redials it
				}()
			default:
				wait = min(wait, offTopicGrace-now.Sub(sp.offTopic))
			}
			continue
		}
		sp.offTopic = time.Time{}
		if sp.dialing {
			continue
		}
		if now.Before(sp.next) {
			wait = min(wait, sp.next.Sub(now))
			continue
		}
		if !d.n.members.Allowed(id) {
			// Not a member now; look again later in case the registry readmits it.
			sp.next = now.Add(d.n.cfg.ReconnectMax)
			continue
		}
		sp.dialing = true
		d.n.wg.Add(1)
		go d.dial(ctx, id)
	}
	return max(wait, 10*time.Millisecond)
}

// dial dials one static peer and updates its backoff.
func (d *dialer) dial(ctx context.Context, id peer.ID) {
	defer d.n.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, d.n.cfg.DialTimeout)
	defer cancel()
	err := d.n.host.Connect(ctx, peer.AddrInfo{ID: id})
	d.mu.Lock()
	sp := d.peers[id]
	sp.dialing = false
	// Back off even after a dial that succeeded: a peer that gates us completes the handshake
	// and then drops the connection, so success is known only when a connection lasts
	// (stableAfter), which resets the backoff. Jitter in [backoff/2, backoff] keeps peers that
	// lost each other together from redialling in lockstep.
	jittered := sp.backoff/2 + rand.N(sp.backoff/2+1)
	sp.next = time.Now().Add(jittered)
	sp.backoff = min(2*sp.backoff, d.n.cfg.ReconnectMax)
	if err != nil {
		d.n.log.Debug("dial static peer", "peer", id, "retry_in", jittered, "err", err)
	}
	d.mu.Unlock()
	d.wake()
}
