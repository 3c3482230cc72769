package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/jaminan/jaminan/ledger"
)

// Members is the member registry as the network layer sees it: which peers may connect and what
// each may publish. It is evaluated at one time (the time of the checkpoint that last changed the
// registry, or the node's clock for expiry), never reading a clock itself. It is safe for
// concurrent use.
//
// Only members running nodes connect: ministry and bureau members that are active at that time
// (Member.ActiveAt). Employers and supervisors sign HTTP requests and never join the network.
type Members struct {
	mu  sync.RWMutex
	all map[peer.ID]memberEntry
	at  uint64
}

// memberEntry is what the network layer keeps of a member.
type memberEntry struct {
	role   string
	active bool // ActiveAt the registry's time
}

// NewMembers returns a registry holding the members active at t (unix ms).
func NewMembers(ms []ledger.Member, t uint64) *Members {
	m := &Members{}
	m.Set(ms, t)
	return m
}

// Set replaces the registry with the members active at t. It does not close connections; the
// node's SetMembers does that.
func (m *Members) Set(ms []ledger.Member, t uint64) {
	all := make(map[peer.ID]memberEntry, len(ms))
	for i := range ms {
		mb := &ms[i]
		all[peer.ID(mb.ID)] = memberEntry{role: mb.Role, active: mb.ActiveAt(t)}
	}
	m.mu.Lock()
	m.all, m.at = all, t
	m.mu.Unlock()
}

// isNodeRole reports whether members of the role run nodes.
func isNodeRole(role string) bool { return role == ledger.RoleMinistry || role == ledger.RoleBureau }

// Role returns the role of an active member, or false.
func (m *Members) Role(p peer.ID) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.all[p]
	if !ok || !e.active {
		return "", false
	}
	return e.role, true
}

// lookup returns what the registry holds of p, active or not.
func (m *Members) lookup(p peer.ID) (memberEntry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.all[p]
	return e, ok
}

// Allowed reports whether p is an active node member and may connect.
func (m *Members) Allowed(p peer.ID) bool {
	r, ok := m.Role(p)
	return ok && isNodeRole(r)
}

// Time returns the time the registry was evaluated at.
func (m *Members) Time() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.at
}

// Peers returns the active node members.
func (m *Members) Peers() []peer.ID {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []peer.ID
	for p, e := range m.all {
		if e.active && isNodeRole(e.role) {
			out = append(out, p)
		}
	}
	return out
}

// gater is the connection gater: it admits only active node members that are not banned for
// misbehaviour. Peer IDs are authenticated by the security handshake before InterceptSecured,
// so that is where inbound connections are decided.
type gater struct {
	self    peer.ID
	members *Members
	pen     *penalties
	metrics *metrics
}

func (g *gater) allow(p peer.ID) bool {
	if p == g.self {
		return false
	}
	if !g.members.Allowed(p) || g.pen.banned(p, time.Now()) {
		g.metrics.gated.Inc()
		return false
	}
	return true
}

// InterceptPeerDial refuses to dial a peer that may not connect.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.allow(p) }

// InterceptAddrDial refuses to dial a peer that may not connect.
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allow(p) }

// InterceptAccept admits every inbound connection to the handshake: the peer is not known yet.
// The resource manager bounds how many there are.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured decides on the authenticated peer ID, inbound and outbound.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allow(p)
}

// InterceptUpgraded admits every connection that passed InterceptSecured.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
