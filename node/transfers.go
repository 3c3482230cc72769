package node

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/rules"
)

// transferSteps lists what the accepted transfer records of an applied checkpoint did: the
// cases opened (transfer.apply) and the cases moved on by a letter or a transfer-out, in order.
func transferSteps(blocks []*ledger.Block, res *ledger.Result) (opened, moved []ledger.Hash) {
	ok := map[ledger.Hash]bool{}
	for _, r := range res.Receipts {
		if r.Code == ledger.CodeOK {
			ok[r.ID] = true
		}
	}
	for _, b := range blocks {
		for _, raw := range b.Records {
			switch t, _ := ledger.PeekRecordType(raw); t {
			case ledger.TypeTransferApply, ledger.TypeTransferLetter, ledger.TypeTransferOut:
			default:
				continue // most records of a checkpoint are contributions: not decoded
			}
			rec, body, err := ledger.DecodeRecord(raw)
			if err != nil || !ok[rec.ID()] {
				continue
			}
			switch body := body.(type) {
			case *ledger.TransferApply:
				opened = append(opened, rec.ID())
				moved = append(moved, rec.ID())
			case *ledger.TransferLetter:
				moved = append(moved, body.Case)
			case *ledger.TransferOut:
				moved = append(moved, body.Case)
			}
		}
	}
	return opened, moved
}

// processTransfers moves the transfer cases of an applied checkpoint to their next stage where
// this bureau is the one to act (DOMAIN.md T4): the new place sends the contact letter, the old
// place transfers the funds and the record, the new place completes. The ledger computes the
// amounts (T1) and checks every step; this is the bureau's clerk, not its judge. The records are
// authored by the node and go through its own producer like any operator submission.
func (n *Node) processTransfers(cases []ledger.Hash) {
	prov := n.self.Province()
	if n.self.Role != ledger.RoleBureau || prov == "" || n.prod == nil || len(cases) == 0 {
		return
	}
	now := uint64(n.clock().UnixMilli())
	var recs []ledger.Record
	for _, c := range cases {
		t, found, err := ledger.GetTransfer(n.st, c)
		if err != nil || !found {
			continue
		}
		if body := transferStep(c, t, prov); body != nil {
			recs = append(recs, ledger.NewRecord(n.signer.ID(), now, body))
		}
	}
	n.submitTransferSteps(recs)
}

// transferStep returns the record body that moves case c on, if its next step is the bureau of
// province prov's (DOMAIN.md T4), else nil.
func transferStep(c ledger.Hash, t *ledger.Transfer, prov string) ledger.Body {
	switch {
	case t.Stage == string(rules.StageApplied) && t.To == prov:
		return &ledger.TransferLetter{Case: c}
	case t.Stage == string(rules.StageLetterSent) && t.From == prov:
		return &ledger.TransferOut{Case: c}
	case (t.Stage == string(rules.StageOutProcessed) || t.Stage == string(rules.StagePartial)) && t.To == prov:
		return &ledger.TransferIn{Case: c}
	}
	return nil
}

// submitTransferSteps hands the steps to the producer in the background.
func (n *Node) submitTransferSteps(recs []ledger.Record) {
	if len(recs) == 0 || n.dropSteps {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := n.prod.Submit(ctx, recs); err != nil && !n.closing.Load() {
			n.log.Warn("submit transfer steps", "records", len(recs), "err", err)
		}
	}()
}

// resumeDelay is how long after the start, and then between its two looks, resumeTransfers
// waits; a case awaiting this bureau in both looks, in the same stage, gets its step again.
var resumeDelay = 20 * time.Second

// startTransferResume starts resumeTransfers on a bureau.
func (n *Node) startTransferResume() {
	if n.self.Role != ledger.RoleBureau || n.self.Province() == "" || n.prod == nil {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.resumeTransfers()
	}()
}

// resumeTransfers submits the transfer steps a crash may have lost. processTransfers acts only
// on the checkpoints this process applies: a kill between applying a checkpoint and the
// outbox's fsync of the step it called for, or a fast join over such a checkpoint, would leave
// the case waiting for this bureau for good. So, resumeDelay after the start and again
// resumeDelay later, it lists the cases whose next step is this bureau's; a case found in the
// same stage both times gets its step once more. If the first was only slow, the ledger
// rejects the second (the stage moved on): a rejected receipt, nothing else.
func (n *Node) resumeTransfers() {
	prov := n.self.Province()
	awaiting := func() (map[ledger.Hash]string, error) {
		v := n.st.View()
		defer v.Release()
		out := map[ledger.Hash]string{}
		err := ledger.ScanTransfers(v, func(c ledger.Hash, t *ledger.Transfer) error {
			if transferStep(c, t, prov) != nil {
				out[c] = t.Stage
			}
			return nil
		})
		return out, err
	}
	var first map[ledger.Hash]string
	for look := range 2 {
		if !n.sleepUnlessClosing(resumeDelay) {
			return
		}
		cases, err := awaiting()
		if err != nil {
			n.log.Warn("transfer cases awaiting this bureau", "err", err)
			return
		}
		if look == 0 {
			first = cases
			continue
		}
		var stuck []ledger.Hash
		for c, stage := range cases {
			if first[c] == stage {
				stuck = append(stuck, c)
			}
		}
		if len(stuck) == 0 {
			return
		}
		slices.SortFunc(stuck, func(a, b ledger.Hash) int { return bytes.Compare(a[:], b[:]) })
		n.log.Info("moving on transfer cases that waited for this bureau since before its start", "cases", len(stuck))
		n.processTransfers(stuck)
	}
}

// sleepUnlessClosing waits d and reports whether the node is still running.
func (n *Node) sleepUnlessClosing(d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); {
		if n.closing.Load() {
			return false
		}
		time.Sleep(min(200*time.Millisecond, time.Until(end)))
	}
	return !n.closing.Load()
}
