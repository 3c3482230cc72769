package node

import (
	"context"
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
		var body ledger.Body
		switch {
		case t.Stage == string(rules.StageApplied) && t.To == prov:
			body = &ledger.TransferLetter{Case: c}
		case t.Stage == string(rules.StageLetterSent) && t.From == prov:
			body = &ledger.TransferOut{Case: c}
		case (t.Stage == string(rules.StageOutProcessed) || t.Stage == string(rules.StagePartial)) && t.To == prov:
			body = &ledger.TransferIn{Case: c}
		default:
			continue
		}
		recs = append(recs, ledger.NewRecord(n.signer.ID(), now, body))
	}
	if len(recs) == 0 {
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
