package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/jaminan/jaminan/ledger"
)

// The gate admits only active ministry and bureau members.
func TestMembersAdmitActiveNodeRoles(t *testing.T) {
	n := newTnet(t)
	emp, sup, rev, exp, fut := seedSigner(0x31), seedSigner(0x32), seedSigner(0x33), seedSigner(0x34), seedSigner(0x35)
	ms := append(slices.Clone(n.g.Members),
		ledger.Member{ID: emp.ID(), Role: ledger.RoleEmployer, Region: "44", Name: "employer"},
		ledger.Member{ID: sup.ID(), Role: ledger.RoleSupervisor, Name: "supervisor"},
		ledger.Member{ID: rev.ID(), Role: ledger.RoleBureau, Region: "44", Name: "revoked", Revoked: true},
		ledger.Member{ID: exp.ID(), Role: ledger.RoleBureau, Region: "44", Name: "expired", Until: tnetStart},
		ledger.Member{ID: fut.ID(), Role: ledger.RoleBureau, Region: "44", Name: "future", From: tnetStart + 1},
	)
	m := NewMembers(ms, tnetStart)
	for _, s := range n.signers() {
		if !m.Allowed(peerID(s)) {
			t.Errorf("active node member %s refused", s.ID().Short())
		}
	}
	for name, s := range map[string]*ledger.Signer{"employer": emp, "supervisor": sup, "revoked": rev, "expired": exp, "not yet valid": fut} {
		if m.Allowed(peerID(s)) {
			t.Errorf("%s admitted", name)
		}
	}
	m.Set(ms, tnetStart+1)
	if !m.Allowed(peerID(fut)) {
		t.Error("member whose window opened is still refused")
	}
}

// A non-member cannot connect to a member, open a stream to it or get a message to it.
func TestNonMemberCannotConnectOrPublish(t *testing.T) {
	n := newTnet(t)
	a, b := n.start(n.bureaus[0]), n.start(n.bureaus[1])
	n.mesh(a, b)

	// The outsider runs the same software and believes itself a member.
	outsider := seedSigner(0x66)
	ms := append(slices.Clone(n.g.Members), ledger.Member{ID: outsider.ID(), Role: ledger.RoleBureau, Region: "44", Name: "outsider"})
	x := n.start(outsider)
	x.SetMembers(ms, tnetStart)
	x.members.Set(ms, tnetStart)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The dialer's Connect may return nil (the listener gates after the handshake), so the
	// proof is on the listener's side and in the failed stream.
	_ = x.Host().Connect(ctx, a.AddrInfo())
	if s, err := x.Host().NewStream(ctx, a.ID(), SyncProtocol(n.g.Network)); err == nil {
		// A stream can open optimistically before the remote drops the connection; it must
		// then fail on use.
		_ = writeFrame(s, encodeRequest(&request{Type: reqStatus}))
		_ = s.CloseWrite()
		buf := make([]byte, 1)
		if _, err := s.Read(buf); err == nil {
			t.Fatal("a non-member got a sync response")
		}
		s.Reset()
	}
	waitFor(t, 5*time.Second, "no connection to the outsider", func() bool { return len(a.Host().Network().ConnsToPeer(x.ID())) == 0 })
	if got := counterValue(t, a.metrics.gated); got == 0 {
		t.Error("the gate counted no refusal")
	}

	// The outsider publishes a block of its own; b publishes one after it. a gets b's and
	// never the outsider's.
	xb := newChain(outsider, n.g.Network).next(t, 100)
	_ = x.PublishBlock(ctx, xb) // goes nowhere: no peer took its subscription
	if peers := x.TopicPeers(); len(peers) != 0 {
		t.Fatalf("outsider has topic peers %v", peers)
	}
	bb := newChain(b.signer, n.g.Network).next(t, 100)
	if err := b.PublishBlock(ctx, bb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b's block at a", func() bool { return a.src.HasBlock(bb.Hash()) })
	if a.src.HasBlock(xb.Hash()) || b.src.HasBlock(xb.Hash()) {
		t.Fatal("a non-member's block reached a member")
	}
}

// Revoking a member closes the live connections to it, and it cannot come back.
func TestRevokedMemberIsDisconnected(t *testing.T) {
	n := newTnet(t)
	a, b, c := n.start(n.bureaus[0]), n.start(n.bureaus[1]), n.start(n.bureaus[2])
	n.mesh(a, b, c)

	revoked := slices.Clone(n.g.Members)
	for i := range revoked {
		if revoked[i].ID == c.signer.ID() {
			revoked[i].Revoked = true
		}
	}
	a.SetMembers(revoked, tnetStart+1000)
	waitFor(t, 5*time.Second, "a drops c", func() bool {
		return len(a.Host().Network().ConnsToPeer(c.ID())) == 0 && !slices.Contains(a.TopicPeers(), c.ID())
	})
	// c keeps redialling a (a is its static peer); each attempt is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := counterValue(t, a.metrics.gated)
	_ = c.Host().Connect(ctx, a.AddrInfo())
	waitFor(t, 5*time.Second, "a refuses c again", func() bool { return counterValue(t, a.metrics.gated) > before })
	if c.Host().Network().Connectedness(a.ID()) == network.Connected {
		// The dialer side may briefly hold the connection the listener dropped.
		waitFor(t, 5*time.Second, "c's side closes", func() bool { return !c.Connected(a.ID()) })
	}

	// c's blocks no longer reach a, even relayed through b.
	cb := newChain(c.signer, n.g.Network).next(t, 100)
	if err := c.PublishBlock(ctx, cb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "c's block at b", func() bool { return b.src.HasBlock(cb.Hash()) })
	bb := newChain(b.signer, n.g.Network).next(t, 100)
	if err := b.PublishBlock(ctx, bb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b's later block at a", func() bool { return a.src.HasBlock(bb.Hash()) })
	if a.src.HasBlock(cb.Hash()) {
		t.Fatal("a revoked member's block reached a")
	}
}
