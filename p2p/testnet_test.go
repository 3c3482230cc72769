package p2p

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	dto "github.com/prometheus/client_model/go"

	"github.com/jaminan/jaminan/ledger"
)

// tnetStart is the genesis time of test networks (2025-01-01 UTC, unix ms).
const tnetStart = uint64(1735689600000)

// tnet is a test network: 3 ministry and 4 bureau keys in a genesis, and nodes on loopback.
type tnet struct {
	t        testing.TB
	g        *ledger.Genesis
	ministry []*ledger.Signer
	bureaus  []*ledger.Signer
	nodes    []*tnode
}

// tnode is one node with its in-memory store.
type tnode struct {
	*Node
	signer   *ledger.Signer
	src      *MemorySource
	evidence chan Evidence
}

func seedSigner(b byte) *ledger.Signer { return ledger.SignerFromSeed(bytes.Repeat([]byte{b}, 32)) }

func newTnet(t testing.TB) *tnet {
	n := &tnet{t: t}
	g := &ledger.Genesis{Network: "jaminan-p2ptest", Time: tnetStart, Params: ledger.DefaultParams(), UTCOffset: 8 * 3600}
	for i := 0; i < 3; i++ {
		s := seedSigner(byte(0x10 + i))
		n.ministry = append(n.ministry, s)
		g.Members = append(g.Members, ledger.Member{ID: s.ID(), Role: ledger.RoleMinistry, Name: fmt.Sprintf("ministry %d", i)})
	}
	for i, prov := range []string{"44", "51", "33", "11"} {
		s := seedSigner(byte(0x20 + i))
		n.bureaus = append(n.bureaus, s)
		g.Members = append(g.Members, ledger.Member{ID: s.ID(), Role: ledger.RoleBureau, Region: prov, Name: "bureau " + prov})
	}
	g.Normalise()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	n.g = g
	return n
}

// signers returns the 7 node keys: bureaus first, then ministry.
func (n *tnet) signers() []*ledger.Signer {
	return append(append([]*ledger.Signer{}, n.bureaus...), n.ministry...)
}

func (n *tnet) ministryIDs() []ledger.KeyID {
	ids := make([]ledger.KeyID, len(n.ministry))
	for i, s := range n.ministry {
		ids[i] = s.ID()
	}
	return ids
}

func (n *tnet) ministryFunc() MinistryFunc {
	ids := n.ministryIDs()
	return func(uint64) ([]ledger.KeyID, error) { return ids, nil }
}

func (n *tnet) newSource() *MemorySource {
	return NewMemorySource(n.g.Network, n.g.Hash(), n.ministryFunc())
}

func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("JAMINAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// config returns a node configuration for loopback tests: short timeouts and backoffs.
func (n *tnet) config(s *ledger.Signer) Config {
	cfg := DefaultConfig()
	cfg.Network = n.g.Network
	cfg.GenesisHash = n.g.Hash()
	cfg.Signer = s
	cfg.Ministry = n.ministryFunc()
	cfg.Genesis = n.g
	cfg.ListenAddrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}
	cfg.ReconnectMin = 50 * time.Millisecond
	cfg.ReconnectMax = 500 * time.Millisecond
	cfg.DialTimeout = 5 * time.Second
	cfg.AntiEntropy = 2 * time.Second
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.StreamTimeout = 30 * time.Second
	cfg.Logger = testLogger()
	return cfg
}

type nodeOpt func(*Config)

// start starts a node for s with the network's genesis members, not yet connected.
func (n *tnet) start(s *ledger.Signer, opts ...nodeOpt) *tnode {
	return n.startWith(s, false, opts...)
}

func (n *tnet) startWith(s *ledger.Signer, validateOff bool, opts ...nodeOpt) *tnode {
	n.t.Helper()
	cfg := n.config(s)
	tn := &tnode{signer: s, src: n.newSource(), evidence: make(chan Evidence, 64)}
	cfg.OnEvidence = func(e Evidence) {
		select {
		case tn.evidence <- e:
		default:
		}
	}
	for _, o := range opts {
		o(&cfg)
	}
	members := NewMembers(n.g.Members, tnetStart)
	node, err := newNode(cfg, members, tn.src, tn.src, validateOff)
	if err != nil {
		n.t.Fatalf("start node: %v", err)
	}
	tn.Node = node
	n.nodes = append(n.nodes, tn)
	n.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Close(ctx); err != nil {
			n.t.Errorf("close node: %v", err)
		}
	})
	return tn
}

// mesh makes every pair of nodes static peers of each other and waits until every node sees
// every other on the block and finality topics.
func (n *tnet) mesh(nodes ...*tnode) {
	n.t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.AddStaticPeer(b.AddrInfo())
			}
		}
	}
	ok := poll(30*time.Second, func() bool {
		for _, a := range nodes {
			if len(a.TopicPeers()) < len(nodes)-1 || len(a.finality.ListPeers()) < len(nodes)-1 {
				return false
			}
		}
		return true
	})
	if !ok {
		for i, a := range nodes {
			n.t.Logf("node %d %s: %d conns, %d peers, block topic %d, finality topic %d", i, a.ID(),
				len(a.Host().Network().Conns()), len(a.Host().Network().Peers()), len(a.TopicPeers()), len(a.finality.ListPeers()))
			for _, c := range a.Host().Network().Conns() {
				n.t.Logf("   conn to %s %s %v", c.RemotePeer(), c.RemoteMultiaddr(), c.Stat().Direction)
			}
		}
		n.t.Fatal("timed out waiting for the topic mesh")
	}
}

// poll polls cond every 10ms until it holds (true) or timeout passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chain builds a producer's blocks.
type chain struct {
	s    *ledger.Signer
	net  string
	prev *ledger.BlockHeader
	time uint64
}

func newChain(s *ledger.Signer, network string) *chain {
	return &chain{s: s, net: network, time: tnetStart}
}

// next builds the producer's next block with one record of size bytes.
func (c *chain) next(t testing.TB, size int) *ledger.Block {
	t.Helper()
	c.time++
	rec := bytes.Repeat([]byte{byte(c.time)}, size)
	copy(rec, fmt.Sprintf("rec %s %d", c.s.ID().Short(), c.time))
	b, err := ledger.BuildBlock(c.s, c.net, c.prev, c.time, [][]byte{rec})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Header
	c.prev = &h
	return b
}

// checkpoints builds count final checkpoints after genesis, certified by every ministry key;
// every tenth references one new block of producer p. It returns them with those blocks.
func (n *tnet) checkpoints(count int, p *ledger.Signer) ([]*ledger.CheckpointBody, []*ledger.Certificate, []*ledger.Block) {
	n.t.Helper()
	c := newChain(p, n.g.Network)
	prev := n.g.Hash()
	var (
		cbs   []*ledger.CheckpointBody
		certs []*ledger.Certificate
		bs    []*ledger.Block
	)
	for seq := uint64(1); seq <= uint64(count); seq++ {
		var hs []ledger.Hash
		if seq%10 == 0 {
			b := c.next(n.t, 100)
			bs = append(bs, b)
			hs = append(hs, b.Hash())
		}
		cb, cert := n.certified(seq, prev, hs)
		cbs, certs = append(cbs, cb), append(certs, cert)
		prev = cb.Checkpoint.Hash()
	}
	return cbs, certs, bs
}

// certified builds checkpoint seq after prev ordering hashes, certified by every ministry key.
func (n *tnet) certified(seq uint64, prev ledger.Hash, hashes []ledger.Hash) (*ledger.CheckpointBody, *ledger.Certificate) {
	cb := ledger.NewCheckpoint(n.g.Network, seq, prev, tnetStart+seq*1000, hashes)
	h := cb.Checkpoint.Hash()
	root := ledger.LeafHash(h[:]) // any state root: p2p does not apply state
	votes := make([]ledger.Vote, len(n.ministry))
	for i, m := range n.ministry {
		votes[i] = ledger.SignVote(m, n.g.Network, seq, h, root)
	}
	cert := ledger.Certify(seq, h, root, votes)
	return &cb, &cert
}

// has reports whether a node holds every block.
func (tn *tnode) has(bs []*ledger.Block) bool {
	for _, b := range bs {
		if !tn.src.HasBlock(b.Hash()) {
			return false
		}
	}
	return true
}

// counter reads a counter of the node's metrics.
func counterValue(t testing.TB, c interface {
	Write(*dto.Metric) error
}) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (tn *tnode) delivered(t testing.TB, kind, via string) float64 {
	return counterValue(t, tn.metrics.delivered.WithLabelValues(kind, via))
}

func peerID(s *ledger.Signer) peer.ID { return peer.ID(s.ID()) }
