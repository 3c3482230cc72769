package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/jaminan/jaminan/ledger"
)

// hostKey converts a member key into a libp2p key and checks that the resulting peer ID is the
// member's key ID, so the peer a connection authenticates is the member that signs.
func hostKey(s *ledger.Signer) (crypto.PrivKey, peer.ID, error) {
	priv, err := crypto.UnmarshalEd25519PrivateKey(s.PrivateKey())
	if err != nil {
		return nil, "", fmt.Errorf("convert member key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, "", fmt.Errorf("peer id of member key: %w", err)
	}
	if id != peer.ID(s.ID()) {
		return nil, "", fmt.Errorf("peer id %s differs from member key id %s", id, s.ID())
	}
	return priv, id, nil
}

// resourceLimits sizes the resource manager for a permissioned network: libp2p's defaults
// scaled to the machine, with system connections bounded by the connection manager's high
// watermark and the sync protocol bounded per peer.
func resourceLimits(cfg *Config) rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	conns := rcmgr.LimitVal(2 * cfg.ConnHigh)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{Conns: conns, ConnsInbound: conns, ConnsOutbound: conns},
		// Members dial over TCP and QUIC at once at times; 8 connections a peer is ample.
		PeerDefault: rcmgr.ResourceLimits{Conns: 8, ConnsInbound: 8, ConnsOutbound: 8},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{
			syncProtocol(cfg.Network): {Streams: 16, StreamsInbound: 8, StreamsOutbound: 8},
		},
	}
	return partial.Build(limits.AutoScale())
}

// newHost builds the libp2p host: the member key, TCP and QUIC only, Noise and TLS, no relay,
// the member gate, a sized resource manager and connection manager.
func newHost(cfg *Config, g *gater) (host.Host, error) {
	priv, _, err := hostKey(cfg.Signer)
	if err != nil {
		return nil, err
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(cfg)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(cfg.DialTimeout*3))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrs(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.DisableRelay(),
		libp2p.ConnectionGater(g),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("jaminan"),
	)
	if err != nil {
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	return h, nil
}
