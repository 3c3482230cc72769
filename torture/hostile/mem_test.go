package hostile

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// memAPI serves the real API over its in-memory backend on loopback, with the node's server
// settings: a quick target for the HTTP parties (and for -race, where a devnet is too slow).
func memAPI(t *testing.T) (url, token string) {
	t.Helper()
	n := ledgertest.New(t)
	mem, err := api.NewMemBackend(api.MemConfig{Genesis: n.Genesis, Pepper: ledgertest.Pepper, Node: n.Bureau["44"], Ministry: n.Ministry})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Backend, cfg.Token, cfg.Logger = mem, "0123456789abcdef0123456789abcdef", testLogger()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), cfg.Token
}

// The HTTP parties against the in-memory API: garbage gets no 5xx, and probes pass while slow
// clients hold connections.
func TestHTTPPartiesAgainstMemAPI(t *testing.T) {
	url, token := memAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var garbage, slow Stats
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if slow, err = (SlowClients{BaseURLs: []string{url}, Conns: 16, Trickle: 200 * time.Millisecond, ProbeEvery: 200 * time.Millisecond,
			ProbeTimeout: 10 * time.Second}).Run(ctx, testLogger()); err != nil {
			t.Error(err)
		}
	}()
	garbage, err := HTTPGarbage{BaseURLs: []string{url}, Tokens: []string{token}, HugeEvery: 10}.Run(ctx, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	<-done
	t.Logf("garbage: sent %d, errors %d; slow: sent %d, errors %d, %v", garbage.Sent, garbage.Errors, slow.Sent, slow.Errors, slow.Kinds)
	if garbage.Errors != 0 || garbage.Kinds["status_4xx"] == 0 {
		t.Errorf("garbage: %d errors, %d 4xx", garbage.Errors, garbage.Kinds["status_4xx"])
	}
	if slow.Errors != 0 || slow.Kinds["probe_ok"] == 0 {
		t.Errorf("slow clients: %d failed probes, %d good ones", slow.Errors, slow.Kinds["probe_ok"])
	}
}
