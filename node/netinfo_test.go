package node

import (
	"sync"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// TestNetInfo: final times are stamped once per checkpoint, in order, also when several
// checkpoints become final at once; votes keep the highest sequence per signer; the sample
// window is bounded; it is safe for concurrent use (run with -race).
func TestNetInfo(t *testing.T) {
	i := newNetInfo()
	cp := func(seq uint64, blocks int) *ledger.CheckpointBody {
		return &ledger.CheckpointBody{Checkpoint: ledger.Checkpoint{Seq: seq, Time: 1000 * seq}, Blocks: make([]ledger.Hash, blocks)}
	}
	res := func(n int) *ledger.Result { return &ledger.Result{Receipts: make([]ledger.Receipt, n)} }
	i.committed(cp(1, 1), res(3), nil)
	i.committed(cp(2, 2), res(5), nil)
	i.finalized(ledger.Meta{Seq: 1}, 1500)
	i.committed(cp(3, 1), res(1), nil)
	i.finalized(ledger.Meta{Seq: 3}, 3200) // 2 and 3 at once
	i.finalized(ledger.Meta{Seq: 3}, 9999) // again: nothing new
	_, recent, _ := i.snapshot()
	if len(recent) != 3 {
		t.Fatalf("samples %+v", recent)
	}
	for k, want := range []struct{ seq, at uint64 }{{1, 1500}, {2, 3200}, {3, 3200}} {
		if recent[k].Seq != want.seq || recent[k].FinalAt != want.at || recent[k].Time != 1000*want.seq {
			t.Fatalf("sample %d: %+v", k, recent[k])
		}
	}
	if recent[1].Records != 5 || recent[1].Blocks != 2 {
		t.Fatalf("sample 2: %+v", recent[1])
	}
	a, b := ledger.KeyID("a"), ledger.KeyID("b")
	i.vote(&ledger.Vote{Seq: 5, Sig: ledger.Sig{Signer: a}})
	i.vote(&ledger.Vote{Seq: 4, Sig: ledger.Sig{Signer: a}}) // older: ignored
	i.vote(&ledger.Vote{Seq: 2, Sig: ledger.Sig{Signer: b}})
	heard, _, _ := i.snapshot()
	if heard[a] != 5 || heard[b] != 2 {
		t.Fatalf("heard %v", heard)
	}

	// Bounded, and concurrent use.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint64(0); s < 400; s++ {
				seq := 10 + uint64(g)*1000 + s
				i.committed(cp(seq, 1), res(1), nil)
				i.finalized(ledger.Meta{Seq: seq}, seq)
				i.vote(&ledger.Vote{Seq: seq, Sig: ledger.Sig{Signer: a}})
				i.snapshot()
			}
		}()
	}
	wg.Wait()
	_, recent, _ = i.snapshot()
	if len(recent) > maxSamples {
		t.Fatalf("%d samples kept, at most %d", len(recent), maxSamples)
	}
	for k := 1; k < len(recent); k++ {
		if recent[k].Seq <= recent[k-1].Seq {
			t.Fatalf("samples out of order at %d: %d after %d", k, recent[k].Seq, recent[k-1].Seq)
		}
	}
}

// TestNetInfoOpenCases: an accepted transfer application in an applied checkpoint is an open
// case; a rejected one and other records are not; closed cases are forgotten.
func TestNetInfoOpenCases(t *testing.T) {
	s := ledger.SignerFromSeed(make([]byte, 32))
	w := ledger.Pseudonym([]byte("pepper"), "440305199003071236")
	ok := ledger.NewRecord(s.ID(), 1, &ledger.TransferApply{Worker: w, Scheme: ledger.SchemePension, From: "44", To: "51"})
	refused := ledger.NewRecord(s.ID(), 2, &ledger.TransferApply{Worker: w, Scheme: ledger.SchemePension, From: "33", To: "51"})
	other := ledger.NewRecord(s.ID(), 3, &ledger.ConsentGrant{Worker: w, Grantee: "x", Scope: "history", From: 20260101})
	b, err := ledger.BuildBlock(s, "net", nil, 10, [][]byte{ok.Encode(), refused.Encode(), other.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	res := &ledger.Result{Receipts: []ledger.Receipt{{ID: ok.ID(), Code: ledger.CodeOK}, {ID: refused.ID(), Code: "T4"}, {ID: other.ID(), Code: ledger.CodeOK}}}
	opened, moved := transferSteps([]*ledger.Block{b}, res)
	if len(moved) != 1 || moved[0] != ok.ID() {
		t.Fatalf("moved cases %v, want %s", moved, ok.ID())
	}
	i := newNetInfo()
	i.committed(&ledger.CheckpointBody{Checkpoint: ledger.Checkpoint{Seq: 1}}, res, opened)
	if _, _, open := i.snapshot(); len(open) != 1 || open[0] != ok.ID() {
		t.Fatalf("open cases %v, want %s", open, ok.ID())
	}
	i.closed([]ledger.Hash{ok.ID()})
	if _, _, open := i.snapshot(); len(open) != 0 {
		t.Fatalf("open cases after closing %v", open)
	}
}
