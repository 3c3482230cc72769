package hostile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// TestRogueIsGraylisted runs the rogue's gossip and sync misbehaviour against three bare p2p
// nodes (no consensus, in-memory stores), where gossipsub's peer scores can be read: every
// node scores the rogue below the graylist threshold and bans it for its sync abuse, none
// stores anything the rogue forged, and the honest nodes still exchange blocks. It is quick
// enough for -race, where the devnet tests are too slow.
func TestRogueIsGraylisted(t *testing.T) {
	dir := t.TempDir()
	seed := func(b byte) *ledger.Signer { return ledger.SignerFromSeed(bytes.Repeat([]byte{b}, 32)) }
	minister, rogue := seed(0x10), seed(0x31)
	honest := []*ledger.Signer{seed(0x20), seed(0x21), seed(0x22)}
	g := &ledger.Genesis{Network: "jaminan-hostile", Time: 1, Params: ledger.DefaultParams(), UTCOffset: 8 * 3600}
	g.Members = append(g.Members, ledger.Member{ID: minister.ID(), Role: ledger.RoleMinistry, Name: "ministry"},
		ledger.Member{ID: rogue.ID(), Role: ledger.RoleBureau, Region: rogueRegion, Name: "rogue"})
	for i, s := range honest {
		g.Members = append(g.Members, ledger.Member{ID: s.ID(), Role: ledger.RoleBureau, Region: []string{"44", "51", "33"}[i], Name: "bureau"})
	}
	g.Normalise()
	raw, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	genesisFile, keyFile := filepath.Join(dir, "genesis.json"), filepath.Join(dir, "rogue.key")
	if err := os.WriteFile(genesisFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := keyfile.Write(keyFile, rogue); err != nil {
		t.Fatal(err)
	}
	ministry := func(uint64) ([]ledger.KeyID, error) { return []ledger.KeyID{minister.ID()}, nil }
	var nodes []*p2p.Node
	var srcs []*p2p.MemorySource
	var peers []string
	for _, s := range honest {
		cfg := p2p.DefaultConfig()
		cfg.Network, cfg.GenesisHash, cfg.Signer, cfg.Ministry = g.Network, g.Hash(), s, ministry
		cfg.ListenAddrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
		cfg.ReconnectMin, cfg.ReconnectMax, cfg.AntiEntropy = 50*time.Millisecond, 500*time.Millisecond, 2*time.Second
		cfg.Logger = testLogger()
		src := p2p.NewMemorySource(g.Network, g.Hash(), ministry)
		nd, err := p2p.New(cfg, p2p.NewMembers(g.Members, 1), src, src)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := nd.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		nodes, srcs = append(nodes, nd), append(srcs, src)
		for _, a := range nd.AddrInfo().Addrs {
			peers = append(peers, fmt.Sprintf("%s/p2p/%s", a, nd.ID()))
		}
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.AddStaticPeer(b.AddrInfo())
			}
		}
	}

	var mu sync.Mutex
	var forged []ledger.Hash
	// The rogue runs until every node has graylisted and banned it, or 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			done := true
			for _, nd := range nodes {
				s, ok := nd.PeerScore(peerID(rogue))
				done = done && ok && s < p2p.GraylistThreshold && nd.Penalty(peerID(rogue)) >= 200
			}
			if done {
				cancel()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var kinds []string
	for _, k := range RogueKinds {
		// Equivocations and replays are valid blocks; everything else is forged or garbage.
		if k != KindEquivocation && k != KindSplitEquivocation && k != KindReplay {
			kinds = append(kinds, k)
		}
	}
	st, err := RunRogue(ctx, RogueConfig{KeyFile: keyFile, GenesisFile: genesisFile, Peers: peers, Kinds: kinds,
		OnBlock: func(_ string, h ledger.Hash) { mu.Lock(); forged = append(forged, h); mu.Unlock() }}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rogue: sent %d, %v", st.Sent, st.Kinds)
	for i, nd := range nodes {
		s, ok := nd.PeerScore(peerID(rogue))
		t.Logf("node %d: rogue's score %.0f (known %v), sync penalty %.0f", i, s, ok, nd.Penalty(peerID(rogue)))
		if !ok || s >= p2p.GraylistThreshold {
			t.Errorf("node %d: the rogue's score is %.0f (known %v), want below %.0f", i, s, ok, p2p.GraylistThreshold)
		}
		if p := nd.Penalty(peerID(rogue)); p < 190 { // 200 when banned, decaying (half-life 5 min)
			t.Errorf("node %d: the rogue's sync penalty is %.0f, want a ban (200)", i, p)
		}
		if nd.Connected(peerID(rogue)) {
			t.Errorf("node %d still holds a connection to the rogue", i)
		}
		for _, h := range forged {
			if srcs[i].HasBlock(h) {
				t.Errorf("node %d stored a forged block", i)
			}
		}
	}
	if len(forged) == 0 || st.Errors != 0 {
		t.Fatalf("rogue: %d forged blocks sent, %d sync abuses answered", len(forged), st.Errors)
	}
	// The honest nodes still gossip among themselves.
	blk, err := ledger.BuildBlock(honest[0], g.Network, nil, 1, [][]byte{[]byte("honest")})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	if err := nodes[0].PublishBlock(pctx, blk); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !srcs[1].HasBlock(blk.Hash()) || !srcs[2].HasBlock(blk.Hash()) {
		if time.Now().After(deadline) {
			t.Fatal("an honest block did not reach the other honest nodes within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
