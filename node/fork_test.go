package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
)

// TestForkOnTwinIsFetchedForTheCheckpoint: a producer signed a1 at height 1 and, on another
// branch, b1 and b2 (b2 builds on b1). The followers hold a1; the Raft leader holds b1 and b2
// and orders them. To a follower, b1 is an equivocation and b2 a fork, and the producer sync
// refuses both, so before the fix it waited for b2 for ever and, with two of three ministry
// nodes stuck, finality stopped everywhere (the torture suite's hostile scenario). A block an
// ordered checkpoint names is fetched by hash and applied; the state machine rejects its
// records with receipts; every node applies the same checkpoint.
func TestForkOnTwinIsFetchedForTheCheckpoint(t *testing.T) {
	names := []string{"ministry-1", "ministry-2", "ministry-3"}
	tn := newTestNet(t, append(names, "bureau-44")...)
	rogue, err := keyfile.Read(filepath.Join(tn.dir, "bureau-44.key"))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for _, name := range names {
		nodes = append(nodes, tn.start(name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var leader *Node
	for leader == nil {
		for _, n := range nodes {
			if m := n.ministry.Load(); m != nil && m.Orderer.IsLeader() {
				leader = n
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no Raft leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g := leader.genesis
	now := uint64(time.Now().UnixMilli())
	a1, err := ledger.BuildBlock(rogue, g.Network, nil, now, [][]byte{[]byte("branch a")})
	if err != nil {
		t.Fatal(err)
	}
	b1, err := ledger.BuildBlock(rogue, g.Network, nil, now+1, [][]byte{[]byte("branch b 1")})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := ledger.BuildBlock(rogue, g.Network, &b1.Header, now+2, [][]byte{[]byte("branch b 2")})
	if err != nil {
		t.Fatal(err)
	}
	// The split view, handed to each node's chain as gossip would (no relay between them).
	for _, n := range nodes {
		if n == leader {
			continue
		}
		if err := n.chain.PutBlock(a1); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []*ledger.Block{b1, b2} {
		if err := leader.chain.PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded) until b2 is applied somewhere, then everywhere at the same checkpoint.
	applied := func(n *Node, h ledger.Hash) (uint64, bool) {
		v := n.st.View()
		defer v.Release()
		_, loc, err := v.Block(h)
		return loc.Seq, err == nil
	}
	var seq uint64
	for seq == 0 {
		for _, n := range nodes {
			if s, ok := applied(n, b2.Hash()); ok {
				seq = s
			}
			if _, ok := applied(n, a1.Hash()); ok {
				t.Fatal("a1 was ordered: the leader changed before the split view was in place; rerun")
			}
		}
		if ctx.Err() != nil {
			t.Fatal("b2 was never applied by any node")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range nodes {
		for {
			if s, ok := applied(n, b2.Hash()); ok {
				if s != seq {
					t.Fatalf("%s applied b2 at checkpoint %d, another node at %d", n.self.Name, s, seq)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s never applied the checkpoint that orders b2 (final %d)", n.self.Name, n.Final().Seq)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Finality goes on past it on every node, with the same checkpoint at seq.
	for _, n := range nodes {
		for n.Final().Seq < seq {
			if ctx.Err() != nil {
				t.Fatalf("%s: checkpoint %d never became final (final %d)", n.self.Name, seq, n.Final().Seq)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var want ledger.Hash
	for i, n := range nodes {
		cp, _, ok, err := n.chain.CheckpointAt(seq)
		if err != nil || !ok {
			t.Fatalf("%s: checkpoint %d: %v", n.self.Name, seq, err)
		}
		if i == 0 {
			want = cp
		} else if cp != want {
			t.Fatalf("%s holds another checkpoint at %d", n.self.Name, seq)
		}
	}
}
