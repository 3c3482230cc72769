package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

// TestBackPressure: a bureau acknowledges records only up to max_pending_records not yet final;
// beyond that it answers 503 and stores nothing, so that an overload cannot grow its memory and
// its blocks without bound (seen: 2 GiB and 4,096-block checkpoints under the benchmark's
// overload). Once the network makes them final, it takes records again.
func TestBackPressure(t *testing.T) {
	tn := newTestNet(t, "ministry-1", "bureau-44")
	cfg := tn.cfgs["bureau-44"]
	cfg.MaxPendingRecords = 30
	tn.cfgs["bureau-44"] = cfg
	b := tn.start("bureau-44") // no ministry node yet: nothing becomes final
	c := c2(b)
	ctx := context.Background()
	gen := contributions(200, "44")
	var ids []string
	for len(ids) < 20 {
		in := gen.Next()
		res, err := c.Submit(ctx, in)
		if err != nil {
			t.Fatalf("submit under the limit (%d pending): %v", len(ids), err)
		}
		for _, a := range res.Accepted {
			ids = append(ids, a.ID)
		}
	}
	ids = submitUntilBusy(t, b, gen, ids, 11, 3)
	if len(ids) > 30 {
		t.Fatalf("%d records acknowledged, more than the limit of 30", len(ids))
	}

	tn.start("ministry-1")
	waitFinal(t, b, ids, 60*time.Second)
	res, err := c.Submit(ctx, gen.Next())
	if err != nil || len(res.Accepted) == 0 {
		t.Fatalf("submit once the pending records are final: %v", err)
	}
}

// TestBackPressureWait: below max_pending_records, a bureau still refuses records that could not
// expect to be final within max_pending_wait at the rate the network has been applying its
// records. With no ministry node nothing is applied, so it takes only the floor of two blocks;
// once the network applies them it takes records again.
func TestBackPressureWait(t *testing.T) {
	tn := newTestNet(t, "ministry-1", "bureau-44")
	cfg := tn.cfgs["bureau-44"]
	cfg.BlockRecords = 10 // floor: 20 records
	cfg.MaxPendingWait = Duration{time.Second}
	tn.cfgs["bureau-44"] = cfg
	b := tn.start("bureau-44")
	c := c2(b)
	ctx := context.Background()
	gen := contributions(200, "44")
	ids := submitUntilBusy(t, b, gen, nil, 1, 50)
	if err := b.prod.admit(1); err == nil || !strings.Contains(err.Error(), "max_pending_wait") {
		t.Fatalf("admit with nothing applied: %v, want a refusal naming max_pending_wait", err)
	}
	if len(ids) > 20 {
		t.Fatalf("%d records acknowledged with nothing applied, more than the floor of 20", len(ids))
	}

	tn.start("ministry-1")
	waitFinal(t, b, ids, 60*time.Second)
	res, err := c.Submit(ctx, gen.Next())
	if err != nil || len(res.Accepted) == 0 {
		t.Fatalf("submit once the pending records are final: %v", err)
	}
}

// submitUntilBusy submits batches of at least size records of gen to bureau b until it refuses
// one, at most tries+1 batches, and returns ids with the IDs it acknowledged. The refusal must be
// a 503, counted as busy, with nothing of the refused batch stored.
func submitUntilBusy(t *testing.T, b *Node, gen *workload.Generator, ids []string, size, tries int) []string {
	t.Helper()
	c := c2(b)
	var refused *client.Error
	for i := 0; ; i++ {
		in := gen.Next()
		for len(in) < size {
			in = append(in, gen.Next()...)
		}
		res, err := c.Submit(context.Background(), in)
		if errors.As(err, &refused) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Accepted {
			ids = append(ids, a.ID)
		}
		if i == tries {
			t.Fatalf("%d records pending, and the bureau still takes more", len(ids))
		}
	}
	if refused.Status != http.StatusServiceUnavailable {
		t.Fatalf("refusal %v, want 503", refused)
	}
	if got := testutil.ToFloat64(b.metrics.refused.WithLabelValues("busy")); got == 0 {
		t.Error("the refusal is not counted in jaminan_node_records_refused_total{reason=\"busy\"}")
	}
	if got := b.prod.PendingCount(); got != len(ids) {
		t.Fatalf("%d records pending, want the %d acknowledged (a refused batch stores nothing)", got, len(ids))
	}
	return ids
}
