package p2p

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// gossipBlocks is how many blocks flow while a host is cut off (JAMINAN_P2P_BLOCKS overrides).
func gossipBlocks(t *testing.T) int {
	if s := os.Getenv("JAMINAN_P2P_BLOCKS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 2 {
			t.Fatalf("JAMINAN_P2P_BLOCKS=%q: want an integer ≥ 2", s)
		}
		return v
	}
	if raceEnabled {
		return 200
	}
	return 1000
}

// gossipWindow is how long after a publish gossipsub may still advertise the message to a
// newly connected peer (3 heartbeats of 1 s, and a margin).
const gossipWindow = 4 * time.Second

// Seven hosts (4 bureaus, 3 ministry): every block reaches all; a host cut off (disconnected
// and gated) while 1,000 blocks flow (200 under the race detector; JAMINAN_P2P_BLOCKS
// overrides) catches up after it is readmitted, with identical data, through the sync
// protocol alone.
func TestSevenHostsGossipAndCatchUp(t *testing.T) {
	n := newTnet(t)
	var nodes []*tnode
	for _, s := range n.signers() {
		nodes = append(nodes, n.start(s))
	}
	n.mesh(nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. Every block one host publishes reaches all.
	chains := []*chain{newChain(nodes[0].signer, n.g.Network), newChain(nodes[1].signer, n.g.Network)}
	var first []*ledger.Block
	for i := 0; i < 20; i++ {
		b := chains[0].next(t, 200)
		first = append(first, b)
		if err := nodes[0].PublishBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range nodes {
		waitFor(t, 20*time.Second, "first blocks everywhere", func() bool { return tn.has(first) })
	}

	// 2. Cut off the last host: every other host revokes it (closing the connections and
	// gating redials), then 1,000 blocks flow from two producers.
	cut := nodes[len(nodes)-1]
	others := nodes[:len(nodes)-1]
	revoked := slices.Clone(n.g.Members)
	for i := range revoked {
		if revoked[i].ID == cut.signer.ID() {
			revoked[i].Revoked = true
		}
	}
	for _, tn := range others {
		tn.SetMembers(revoked, tnetStart)
	}
	waitFor(t, 10*time.Second, "cut host disconnected", func() bool {
		for _, tn := range others {
			if len(tn.Host().Network().ConnsToPeer(cut.ID())) > 0 || len(cut.Host().Network().ConnsToPeer(tn.ID())) > 0 {
				return false
			}
		}
		return true
	})
	gossipBefore := cut.delivered(t, "block", viaGossip)

	total := gossipBlocks(t)
	var flow []*ledger.Block
	start := time.Now()
	for i := 0; i < total; i++ {
		p := i % 2
		b := chains[p].next(t, 200)
		flow = append(flow, b)
		if err := nodes[p].PublishBlock(ctx, b); err != nil {
			t.Fatalf("publish block %d: %v", i, err)
		}
	}
	lastPublish := time.Now()
	for _, tn := range others {
		waitFor(t, 60*time.Second, "blocks at connected hosts", func() bool { return tn.has(flow) })
	}
	t.Logf("%d blocks reached 6 hosts in %v", total, time.Since(start).Round(time.Millisecond))
	if cut.src.BlockCount() != len(first) {
		t.Fatalf("the cut-off host holds %d blocks, want %d", cut.src.BlockCount(), len(first))
	}
	for _, tn := range others {
		if d := counterValue(t, tn.metrics.dropped.WithLabelValues("outbound_queue")); d > 0 {
			t.Logf("%s: %v outbound RPCs dropped", tn.signer.ID().Short(), d)
		}
	}

	// 3. Readmit it. Nothing more is published. Gossipsub advertises (IHAVE) only messages of
	// its last 3 heartbeats (1 s each); once they have passed, gossip replays nothing, so only
	// the sync protocol can bring the blocks.
	if d := gossipWindow - time.Since(lastPublish); d > 0 {
		time.Sleep(d) // a window of time, not an event to await
	}
	start = time.Now()
	for _, tn := range others {
		tn.SetMembers(n.g.Members, tnetStart)
	}
	waitFor(t, 60*time.Second, "cut host caught up", func() bool { return cut.has(flow) })
	t.Logf("the readmitted host synced %d blocks in %v", total, time.Since(start).Round(time.Millisecond))

	if got := cut.delivered(t, "block", viaGossip); got != gossipBefore {
		t.Errorf("%v blocks came by gossip after the cut, want none", got-gossipBefore)
	}
	if got := cut.delivered(t, "block", viaSync); got < float64(total) {
		t.Errorf("%v blocks came by sync, want ≥ %d", got, total)
	}
	// Identical data: the same chains, block for block, as the producers hold.
	for i, c := range chains {
		want, _ := nodes[i].src.ProducerBlocks(c.s.ID(), 1, ^uint64(0), 1<<20)
		got, _ := cut.src.ProducerBlocks(c.s.ID(), 1, ^uint64(0), 1<<20)
		if len(got) != len(want) {
			t.Fatalf("producer %d: %d blocks, want %d", i, len(got), len(want))
		}
		for j := range want {
			if !slices.Equal(got[j].Encode(), want[j].Encode()) {
				t.Fatalf("producer %d height %d differs", i, j+1)
			}
		}
	}
	wantTips, _ := nodes[0].src.Tips()
	gotTips, _ := cut.src.Tips()
	if !slices.Equal(wantTips, gotTips) {
		t.Fatalf("tips differ: %v, want %v", gotTips, wantTips)
	}
}
