package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBureauWithLostLedgerKeepsProducing: OPERATING.md §6 "lost ledger, kept key": a bureau
// whose ledger/ is gone starts again with its key, outbox/ and produced/, syncs the history, and
// goes on producing. Its next block must follow its own chain as the network holds it: a block
// cut from height 1 again is refused everywhere as an equivocation, and the records in it are
// never final (seen while writing the torture suite).
func TestBureauWithLostLedgerKeepsProducing(t *testing.T) {
	tn := newTestNet(t, "ministry-1", "bureau-44")
	m := tn.start("ministry-1")
	b := tn.start("bureau-44")
	ctx := context.Background()
	gen := contributions(200, "44")
	submit := func(n *Node) []string {
		t.Helper()
		res, err := c2(n).Submit(ctx, gen.Next())
		if err != nil || len(res.Accepted) == 0 {
			t.Fatalf("submit: %v", err)
		}
		var ids []string
		for _, a := range res.Accepted {
			ids = append(ids, a.ID)
		}
		return ids
	}
	for range 3 { // a few blocks of its own in the history
		waitFinal(t, b, submit(b), 30*time.Second)
	}
	closeNode(t, b)
	if err := os.RemoveAll(filepath.Join(tn.cfgs["bureau-44"].DataDir, "ledger")); err != nil {
		t.Fatal(err)
	}
	b2 := tn.start("bureau-44")
	waitFinal(t, b2, submit(b2), 60*time.Second)

	// Again, with an own block not yet ordered when the ledger went: its file in produced/ is
	// above the (empty) ledger's tip; the bureau starts, the block is ordered, and the bureau
	// continues after it.
	closeNode(t, m)
	unordered := submit(b2)
	produced := filepath.Join(tn.cfgs["bureau-44"].DataDir, "produced")
	for deadline := time.Now().Add(30 * time.Second); ; {
		files, _ := filepath.Glob(filepath.Join(produced, "*.blk"))
		if len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no block file written while the ministry node is down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeNode(t, b2)
	if err := os.RemoveAll(filepath.Join(tn.cfgs["bureau-44"].DataDir, "ledger")); err != nil {
		t.Fatal(err)
	}
	tn.start("ministry-1")
	b3 := tn.start("bureau-44")
	waitFinal(t, b3, append(unordered, submit(b3)...), 60*time.Second)
}
