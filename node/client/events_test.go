package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// Events reads the data lines of the stream in order, skipping ids, comments and heartbeats,
// passes the query on, and stops at the first error of its callback.
func TestEventsReadsTheStream(t *testing.T) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": jaminan events from checkpoint 3\n\n")
		for _, seq := range []uint64{3, 5} {
			fmt.Fprintf(w, "id: %d\nevent: checkpoint\ndata: {\"seq\":%d,\"hash\":\"%s\",\"state_root\":\"%s\",\"time\":7,\"blocks\":2}\n\n",
				seq, seq, ledger.Hash{byte(seq)}, ledger.Hash{0xee})
			fmt.Fprint(w, ": heartbeat\n\n")
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "")
	var got []Event
	if err := c.Events(context.Background(), 3, 2, func(ev Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if query != "from=3&limit=2" {
		t.Errorf("query %q", query)
	}
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 5 || got[1].Hash != (ledger.Hash{5}) || got[0].StateRoot != (ledger.Hash{0xee}) || got[0].Time != 7 || got[0].Blocks != 2 {
		t.Fatalf("events %+v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := c.Events(context.Background(), 0, 0, func(Event) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error: %v after %d events", err, n)
	}
	if query != "" {
		t.Errorf("query %q without from and limit", query)
	}
}

// A stream that is not one (an error answer) or carries a garbled event is an error.
func TestEventsRefusesBadStreams(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("from") == "1" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "data: {not json\n\n")
	}))
	defer bad.Close()
	c := New(bad.URL, "")
	if err := c.Events(context.Background(), 1, 0, func(Event) error { return nil }); err == nil {
		t.Error("an HTTP 400 answer was read as a stream")
	}
	if err := c.Events(context.Background(), 2, 0, func(Event) error { return nil }); err == nil {
		t.Error("a garbled event was accepted")
	}
}
