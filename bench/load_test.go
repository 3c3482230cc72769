package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/node/client"
)

// TestSubmitRetriesBusy: a batch a bureau refuses with back-pressure (503) is offered again after
// a back-off and counted as busy, not as an error; other errors are not retried.
func TestSubmitRetriesBusy(t *testing.T) {
	var calls atomic.Int32
	id := ledger.Hash{1}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1, 2:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"unavailable","message":"busy"}`)
		case 3:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"accepted":[{"index":0,"id":%q}],"rejected":[]}`, id.String())
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"bad_request","message":"no"}`)
		}
	}))
	defer srv.Close()
	d := &driver{}
	s := &source{cl: client.New(srv.URL, "")}
	ins := []intake.Input{{Type: "contribution"}}
	ids, err := d.submitRetrying(context.Background(), s, ins)
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("after two refusals: %v, %v; want the accepted ID", ids, err)
	}
	if d.busy.Load() != 2 || calls.Load() != 3 {
		t.Fatalf("%d busy, %d calls; want 2 and 3", d.busy.Load(), calls.Load())
	}
	if _, err := d.submitRetrying(context.Background(), s, ins); err == nil || isBusy(err) || calls.Load() != 4 {
		t.Fatalf("a 400 gave %v after %d calls; want it returned at once", err, calls.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls.Store(0)
	if _, err := d.submitRetrying(ctx, s, ins); !isBusy(err) || calls.Load() != 1 {
		t.Fatalf("refused after the load stopped: %v after %d calls; want the refusal, not a retry", err, calls.Load())
	}
	if !isBusy(fmt.Errorf("submit in process: %w", api.ErrUnavailable)) {
		t.Fatal("an in-process refusal (api.ErrUnavailable) is not recognised as busy")
	}
}
