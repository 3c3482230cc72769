package node

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/jaminan/jaminan/consensus"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// TestEquivocationReachesTheAPI: two blocks a producer signed at one height, as the network
// layer reports them, become evidence the API lists, which verifies offline and names the
// producer; a repeated report is listed once.
func TestEquivocationReachesTheAPI(t *testing.T) {
	s := ledger.SignerFromSeed(bytes.Repeat([]byte{9}, 32))
	a, err := ledger.BuildBlock(s, "net", nil, 1, [][]byte{[]byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.BuildBlock(s, "net", nil, 2, [][]byte{[]byte("two")})
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{log: slog.New(slog.DiscardHandler), evidence: consensus.NewEvidenceLog(nil)}
	for range 2 {
		n.recordEvidence(p2p.Evidence{Kind: p2p.EvidenceEquivocation, Producer: s.ID(), Height: 1, Held: a, New: b})
	}
	// A report that is not two blocks at one height proves nothing and is not kept.
	n.recordEvidence(p2p.Evidence{Kind: p2p.EvidenceEquivocation, Producer: s.ID(), Height: 1, Held: a, New: a})
	got := backend{n}.Evidence()
	if len(got) != 1 || got[0].Kind != "double_block" || got[0].Offender != s.ID() {
		t.Fatalf("evidence %+v", got)
	}
	ev, err := consensus.DecodeEvidence(got[0].Encoded)
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Verify("net", nil); err != nil {
		t.Fatalf("evidence does not verify: %v", err)
	}
	if ev.ID() != got[0].ID {
		t.Fatal("listed ID is not the evidence's")
	}
}
