package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID returns the libp2p protocol of the ministry Raft group of network. The network name
// is part of it so that nodes of two networks never exchange Raft RPCs.
func ProtocolID(network string) protocol.ID {
	return protocol.ID("/jaminan/" + network + "/raft/1")
}

// ErrTransportClosed is returned by Accept after Close.
var ErrTransportClosed = errors.New("raft stream layer closed")

// StreamLayer is a raft.StreamLayer over libp2p streams: raft server addresses are peer IDs,
// connections are authenticated by libp2p's security handshake, and only peers that allow
// accepts (the current ministry members) may open streams.
type StreamLayer struct {
	host  host.Host
	proto protocol.ID
	allow func(peer.ID) bool
	log   *slog.Logger

	conns     chan net.Conn
	closeOnce sync.Once
	done      chan struct{}
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers the Raft protocol of network on h. allow decides, for every inbound
// stream and every dial, whether the peer is a current ministry member.
func NewStreamLayer(h host.Host, network string, allow func(peer.ID) bool, log *slog.Logger) *StreamLayer {
	s := &StreamLayer{host: h, proto: ProtocolID(network), allow: allow, log: orDiscard(log),
		conns: make(chan net.Conn), done: make(chan struct{})}
	h.SetStreamHandler(s.proto, s.handle)
	return s
}

func (s *StreamLayer) handle(st network.Stream) {
	remote := st.Conn().RemotePeer()
	if s.allow != nil && !s.allow(remote) {
		s.log.Warn("consensus: refused raft stream from a peer outside the ministry set", "peer", remote)
		_ = st.Reset()
		return
	}
	select {
	case s.conns <- &streamConn{Stream: st}:
	case <-s.done:
		_ = st.Reset()
	}
}

// Accept implements net.Listener.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, ErrTransportClosed
	}
}

// Close implements net.Listener: it unregisters the protocol; established streams are closed by
// raft's transport.
func (s *StreamLayer) Close() error {
	s.closeOnce.Do(func() {
		s.host.RemoveStreamHandler(s.proto)
		close(s.done)
	})
	return nil
}

// Addr implements net.Listener.
func (s *StreamLayer) Addr() net.Addr { return peerAddr(s.host.ID()) }

// Dial implements raft.StreamLayer: address is a peer ID in text form.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	pid, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %q: %w", address, err)
	}
	if s.allow != nil && !s.allow(pid) {
		return nil, fmt.Errorf("dial raft peer %s: not a ministry member", pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := s.host.NewStream(ctx, pid, s.proto)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", pid, err)
	}
	return &streamConn{Stream: st}, nil
}

// streamConn makes a libp2p stream a net.Conn.
type streamConn struct{ network.Stream }

func (c *streamConn) LocalAddr() net.Addr  { return peerAddr(c.Conn().LocalPeer()) }
func (c *streamConn) RemoteAddr() net.Addr { return peerAddr(c.Conn().RemotePeer()) }

// peerAddr is a net.Addr naming a peer.
type peerAddr peer.ID

func (a peerAddr) Network() string { return "libp2p" }
func (a peerAddr) String() string  { return peer.ID(a).String() }
