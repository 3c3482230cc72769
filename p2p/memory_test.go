package p2p

import (
	"errors"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// MemorySource links blocks that arrive out of order, and refuses forgeries, equivocations
// and forks.
func TestMemorySourceBlocks(t *testing.T) {
	n := newTnet(t)
	m := n.newSource()
	c := newChain(n.bureaus[0], n.g.Network)
	var bs []*ledger.Block
	for i := 0; i < 5; i++ {
		bs = append(bs, c.next(t, 20))
	}
	for _, i := range []int{3, 4, 0, 2} {
		if err := m.PutBlock(bs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if tip, _ := m.Tip(c.s.ID()); tip.Height != 1 {
		t.Fatalf("tip %d with height 2 missing, want 1", tip.Height)
	}
	if got, _ := m.ProducerBlocks(c.s.ID(), 1, 5, 10); len(got) != 1 {
		t.Fatalf("range from 1 returned %d blocks, want 1 (stops at the hole)", len(got))
	}
	if err := m.PutBlock(bs[1]); err != nil {
		t.Fatal(err)
	}
	if tip, _ := m.Tip(c.s.ID()); tip.Height != 5 || tip.Hash != bs[4].Hash() {
		t.Fatalf("tip %+v, want height 5", tip)
	}
	if err := m.PutBlock(bs[2]); err != nil {
		t.Fatalf("a block stored twice: %v", err)
	}

	forged := newChain(n.bureaus[1], n.g.Network).next(t, 20)
	forged.Sig[0] ^= 1
	if err := m.PutBlock(forged); !errors.Is(err, ledger.ErrBlock) {
		t.Fatalf("forged block: %v", err)
	}
	alt := newChain(n.bureaus[0], n.g.Network)
	alt.prev, alt.time = &bs[1].Header, 99
	eq := alt.next(t, 30) // a second height 3
	var ee *EquivocationError
	if err := m.PutBlock(eq); !errors.As(err, &ee) || ee.Held.Hash() != bs[2].Hash() {
		t.Fatalf("equivocation: %v", err)
	}
	alt.next(t, 30)         // height 4 after the alternative height 3
	alt.next(t, 30)         // height 5
	fork := alt.next(t, 30) // height 6, not after the held height 5
	if err := m.PutBlock(fork); !errors.Is(err, ErrFork) {
		t.Fatalf("fork at the tip: %v", err)
	}
}

// MemorySource stores checkpoints only in order, chained, certified, with their blocks.
func TestMemorySourceCheckpoints(t *testing.T) {
	n := newTnet(t)
	cbs, certs, bs := n.checkpoints(20, n.bureaus[0])
	m := n.newSource()
	if err := m.PutCheckpoint(cbs[1], certs[1]); !errors.Is(err, ErrGap) {
		t.Fatalf("checkpoint 2 first: %v", err)
	}
	for i := 0; i < 9; i++ {
		if err := m.PutCheckpoint(cbs[i], certs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.PutCheckpoint(cbs[9], certs[9]); !errors.Is(err, ErrGap) {
		t.Fatalf("checkpoint 10 without its block: %v", err)
	}
	if err := m.PutBlock(bs[0]); err != nil {
		t.Fatal(err)
	}
	weak := *certs[9]
	weak.Sigs = weak.Sigs[:1]
	if err := m.PutCheckpoint(cbs[9], &weak); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Fatalf("checkpoint with one signature of three: %v", err)
	}
	if err := m.PutCheckpoint(cbs[9], certs[8]); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Fatalf("checkpoint with another's certificate: %v", err)
	}
	if err := m.PutCheckpoint(cbs[9], certs[9]); err != nil {
		t.Fatal(err)
	}
	if err := m.PutCheckpoint(cbs[9], certs[9]); err != nil {
		t.Fatalf("checkpoint stored twice: %v", err)
	}
	other := n.newSource()
	unchained := ledger.NewCheckpoint(n.g.Network, 1, ledger.Hash{7}, tnetStart, nil)
	if err := other.PutCheckpoint(&unchained, certs[0]); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Fatalf("checkpoint 1 not after genesis: %v", err)
	}
	if seq, _ := m.FinalSeq(); seq != 10 {
		t.Fatalf("final %d, want 10", seq)
	}
}

// Config.Validate names every bad field at once.
func TestConfigValidate(t *testing.T) {
	var c Config
	err := c.Validate()
	if err == nil {
		t.Fatal("empty config valid")
	}
	for _, field := range []string{"network", "signer", "ministry", "listen_addrs", "reconnect_min", "conn_low", "queue_size", "anti_entropy", "request_timeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	n := newTnet(t)
	good := n.config(n.bureaus[0])
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	good.Network = "bad/name"
	if good.Validate() == nil {
		t.Fatal("a network name with a slash is valid")
	}
}
