package consensus

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

func newHost(t *testing.T) host.Host {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestStreamLayerAcceptsOnlyMembers: a raft stream from a peer outside the ministry set is reset;
// one from a member becomes a connection; the protocol ID names the network.
func TestStreamLayerAcceptsOnlyMembers(t *testing.T) {
	a, member, stranger := newHost(t), newHost(t), newHost(t)
	for _, h := range []host.Host{member, stranger} {
		h.Peerstore().AddAddrs(a.ID(), a.Addrs(), peerstore.PermanentAddrTTL)
	}
	layer := NewStreamLayer(a, "net-a", func(p peer.ID) bool { return p == member.ID() }, nil)
	defer layer.Close()
	if got := ProtocolID("net-a"); got != "/jaminan/net-a/raft/1" {
		t.Fatalf("protocol %s", got)
	}
	ml := NewStreamLayer(member, "net-a", nil, nil)
	defer ml.Close()
	conn, err := ml.Dial(raft.ServerAddress(a.ID().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	in, err := layer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := in.Read(buf); err != nil || string(buf) != "hello" || in.RemoteAddr().String() != member.ID().String() {
		t.Fatalf("read %q from %s: %v", buf, in.RemoteAddr(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := stranger.NewStream(ctx, a.ID(), ProtocolID("net-a"))
	if err == nil {
		_, _ = s.Write([]byte("x"))
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err = s.Read(buf); err == nil {
			t.Fatal("a non-member's raft stream was accepted")
		}
	}
	// A node of another network does not speak this protocol at all.
	if _, err := member.NewStream(ctx, a.ID(), ProtocolID("net-b")); err == nil {
		t.Fatal("another network's raft protocol was accepted")
	}
	// The local layer refuses to dial a non-member too.
	if _, err := layer.Dial(raft.ServerAddress(stranger.ID().String()), time.Second); err == nil {
		t.Fatal("dialled a non-member")
	}
}
