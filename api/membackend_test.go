package api

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
)

// TestMemBackendConcurrent submits and reads from many goroutines (run with -race): every
// acknowledged record ends final exactly once, and checkpoints follow one another.
func TestMemBackendConcurrent(t *testing.T) {
	h := newHarness(t)
	conv := intake.NewConverter(h.mem.Genesis(), h.mem.Pepper())
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([][]ledger.Hash, 4)
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				in := intake.Input{}
				c := contribution(workerID, fmt.Sprintf("20%02d-%02d", 20+g, i+1), 800000)
				in.Type, in.WorkerID, in.Hukou, in.Employer, in.Region, in.Period, in.Scheme = "contribution", workerID, "44", employerUSCC, "440300", c["period"].(string), "pension"
				wage := int64(800000)
				in.Wage = &wage
				body, err := conv.Body(&in, civil.MustDate(2026, 12, 15))
				if err != nil {
					t.Error(err)
					return
				}
				rec := ledger.NewRecord(h.mem.Signer().ID(), uint64(g*100+i), body)
				res, err := h.mem.Submit(ctx, []ledger.Record{rec})
				if err != nil || res[0].Code != "" {
					t.Errorf("submit: %v %+v", err, res)
					return
				}
				ids[g] = append(ids[g], res[0].ID)
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				v, _ := h.mem.View(ctx)
				ledger.WorkerAccounts(v, pseudonym(workerID))
				v.WorkerRecords(pseudonym(workerID), Pos{}, 0)
				v.Release()
				h.mem.Status(ctx)
			}
		}()
	}
	wg.Wait()
	v, _ := h.mem.View(ctx)
	defer v.Release()
	n := 0
	for _, list := range ids {
		for _, id := range list {
			_, loc, err := v.Record(id)
			if err != nil || loc.Code != ledger.CodeOK {
				t.Fatalf("record %s: %v %+v", id, err, loc)
			}
			if _, err := v.RecordProof(id); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	refs, _ := v.WorkerRecords(pseudonym(workerID), Pos{}, 0)
	if n != 20 || len(refs) != 20 {
		t.Fatalf("%d acknowledged, %d indexed", n, len(refs))
	}
	for i := 1; i < len(refs); i++ {
		if refs[i].Seq <= refs[i-1].Seq {
			t.Fatalf("index out of order at %d", i)
		}
	}
	// Paging returns the rest after a position.
	rest, _ := v.WorkerRecords(pseudonym(workerID), refs[9].Pos, 0)
	if len(rest) != 10 || rest[0].ID != refs[10].ID {
		t.Fatalf("page after %v: %d entries", refs[9].Pos, len(rest))
	}
}

// TestMemBackendCorrectionMovesEmployerMonth checks the employer index follows a correction.
func TestMemBackendCorrectionMovesEmployerMonth(t *testing.T) {
	h := newHarness(t)
	id := h.submit(contribution(workerID, "2026-09", 800000))[0]
	repl := contribution(workerID, "2026-08", 800000)
	h.submit(map[string]any{"type": "correction", "target": id.String(), "reason": "wrong_period", "record": repl})
	v := mustView(t, h)
	ms, _ := v.EmployerMonths(employerUSCC, EmployerMonth{}, 0)
	if len(ms) != 1 || ms[0].Period != 202608 {
		t.Fatalf("employer months after correction: %+v", ms)
	}
}
