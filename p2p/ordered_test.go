package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// A producer signed two chains: a1 at height 1, and b1, b2 on another branch. Node x holds a1,
// node y holds b1 and b2, and a certified checkpoint orders b1 and b2. x refuses b2 as a fork
// and b1 as an equivocation when they come as the producer's next blocks, but a checkpoint
// names them by hash: x must fetch and keep them (with evidence against the producer), or it
// can never apply that checkpoint. Seen in the torture suite: finality stopped on every node.
func TestBlocksACheckpointNamesAreKeptWhateverTheFork(t *testing.T) {
	n := newTnet(t)
	x, y := n.start(n.bureaus[0]), n.start(n.bureaus[1])
	n.mesh(x, y)
	rogue := n.bureaus[2]
	ca, cb := newChain(rogue, n.g.Network), newChain(rogue, n.g.Network)
	cb.time += 500
	a1 := ca.next(t, 10)
	b1, b2 := cb.next(t, 10), cb.next(t, 10)
	if err := x.src.PutBlock(a1); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*ledger.Block{b1, b2} {
		if err := y.src.PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.src.PutBlock(b2); !errors.Is(err, ErrFork) {
		t.Fatalf("b2 offered as the producer's next block: %v, want a fork", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// By hash, as the executor of an ordered checkpoint asks.
	if err := x.FetchBlocks(ctx, []ledger.Hash{b2.Hash()}); err != nil {
		t.Fatalf("fetch b2 by hash: %v", err)
	}
	if !x.src.HasBlock(b2.Hash()) {
		t.Fatal("b2 fetched by hash but not kept")
	}
	select {
	case e := <-x.evidence:
		if e.Producer != rogue.ID() || e.New.Hash() != b2.Hash() {
			t.Fatalf("evidence %+v, want the fork b2", e)
		}
	case <-ctx.Done():
		t.Fatal("the fork fetched by hash was not reported as evidence")
	}
	// FetchBlocks reports what no peer has.
	missing := ledger.LeafHash([]byte("no such block"))
	if err := x.FetchBlocks(ctx, []ledger.Hash{missing}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch an unknown block: %v, want not found", err)
	}

	// A certified checkpoint orders b1 and b2: x syncs it (the path of a bureau).
	c, cert := n.certified(1, n.g.Hash(), []ledger.Hash{b1.Hash(), b2.Hash()})
	if err := y.src.PutCheckpoint(c, cert); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "x stores the checkpoint that orders the other branch", func() bool {
		_ = x.SyncNow(ctx)
		seq, err := x.src.FinalSeq()
		return err == nil && seq == 1
	})
	if !x.src.HasBlock(b1.Hash()) {
		t.Fatal("b1 is not held after the checkpoint ordering it was stored")
	}
}
