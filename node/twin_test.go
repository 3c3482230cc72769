package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
	"github.com/jaminan/jaminan/store"
)

// TestTwinBlockIsKeptForTheCheckpoint: a producer signed two blocks at one height and the
// network saw them in different orders (the torture suite's split equivocation). A node that
// holds the first must still get the second when a checkpoint orders it, or it waits for it
// for ever (seen: three of seven devnet nodes stuck at one checkpoint for good). The second is
// reported as an equivocation, kept by hash, and never becomes the producer's block at its
// height.
func TestTwinBlockIsKeptForTheCheckpoint(t *testing.T) {
	s := ledger.SignerFromSeed(bytes.Repeat([]byte{7}, 32))
	g := &ledger.Genesis{Network: "net", Time: 1, Params: ledger.DefaultParams(), UTCOffset: 8 * 3600,
		Members: []ledger.Member{{ID: s.ID(), Role: ledger.RoleMinistry, Name: "m"}}}
	g.Normalise()
	st := openMemStore(t)
	if err := st.Init(g); err != nil {
		t.Fatal(err)
	}
	c, err := newChain(g, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, err := ledger.BuildBlock(s, "net", nil, 10, [][]byte{[]byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.BuildBlock(s, "net", nil, 10, [][]byte{[]byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutBlock(a); err != nil {
		t.Fatal(err)
	}
	var eq *p2p.EquivocationError
	if err := c.PutBlock(b); !errors.As(err, &eq) || eq.Held.Hash() != a.Hash() {
		t.Fatalf("second block at height 1: %v, want an equivocation with the first", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := c.Block(ctx, b.Hash()); err != nil || got.Hash() != b.Hash() {
		t.Fatalf("the twin is not available to a checkpoint that orders it: %v", err)
	}
	if got, err := c.sourceBlock(b.Hash()); err != nil || got.Hash() != b.Hash() {
		t.Fatalf("the twin is not served by hash: %v", err)
	}
	// The producer's block at height 1 is still the first, for validation and sync.
	v := st.View()
	defer v.Release()
	if held, err := c.blockAt(v, s.ID(), 1); err != nil || held.Hash() != a.Hash() {
		t.Fatalf("block at height 1: %v", err)
	}
	// A third and fourth… are bounded.
	for i := range 2 * maxTwins {
		x, err := ledger.BuildBlock(s, "net", nil, 10, [][]byte{{byte(i), 'x'}})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.PutBlock(x)
	}
	if n := len(c.twins[s.ID()][1]); n != maxTwins {
		t.Fatalf("%d twins kept, want %d", n, maxTwins)
	}
}

// openMemStore opens an in-memory store, closed when the test ends.
func openMemStore(t *testing.T) *store.Store {
	t.Helper()
	opts := store.DefaultOptions()
	opts.InMemory = true
	st, err := store.Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
