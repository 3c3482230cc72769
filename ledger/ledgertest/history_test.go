package ledgertest_test

import (
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// TestHistoryMix checks that the generator produces what the tests built on it rely on: a
// majority of accepted records, and every kind of outcome and record type at least once.
func TestHistoryMix(t *testing.T) {
	n := ledgertest.New(t)
	st := n.GenesisState()
	h := ledgertest.NewHistory(n, 1)
	codes := map[string]int{}
	types := map[ledger.RecordType]int{}
	total := 0
	for range 150 {
		cb, blocks := h.Next(st, 3, 20)
		res := n.ApplyMem(st, cb, blocks)
		k := 0
		for _, b := range blocks {
			for _, raw := range b.Records {
				rc := res.Receipts[k]
				k++
				total++
				codes[rc.Code]++
				if rc.Code != ledger.CodeOK {
					continue
				}
				if rec, _, err := ledger.DecodeRecord(raw); err == nil {
					types[rec.Type]++
				}
			}
		}
	}
	t.Logf("%d records; codes %v; accepted types %v", total, codes, types)
	if codes[ledger.CodeOK]*2 < total {
		t.Errorf("only %d of %d records accepted", codes[ledger.CodeOK], total)
	}
	for _, c := range []string{ledger.CodeOK, ledger.CodeDuplicate, ledger.CodeBlock, ledger.CodeFormat, "C2", "T4"} {
		if codes[c] == 0 {
			t.Errorf("no receipt with code %s", c)
		}
	}
	for _, ty := range []ledger.RecordType{ledger.TypeContribution, ledger.TypeEmployment, ledger.TypeCorrection,
		ledger.TypeTransferApply, ledger.TypeTransferLetter, ledger.TypeTransferOut, ledger.TypeTransferIn,
		ledger.TypeTransferReject, ledger.TypeConsentGrant, ledger.TypeConsentRevoke, ledger.TypeAccess} {
		if types[ty] == 0 {
			t.Errorf("no accepted %s record", ty)
		}
	}
}

// TestHistoryDeterministic checks that one seed gives one history.
func TestHistoryDeterministic(t *testing.T) {
	run := func() ledger.Hash {
		n := ledgertest.New(t)
		st := n.GenesisState()
		h := ledgertest.NewHistory(n, 7)
		var res *ledger.Result
		for range 30 {
			cb, blocks := h.Next(st, 2, 10)
			res = n.ApplyMem(st, cb, blocks)
		}
		return res.StateRoot
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("same seed, different state roots %s and %s", a, b)
	}
}
