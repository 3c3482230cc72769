package hostile

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/keyfile"
)

// Every route of the API's OpenAPI document is among the routes the garbage goes to.
func TestRoutesCoverOpenAPI(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range Routes {
		have[r.Method+" "+r.Pattern] = true
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if k := strings.ToUpper(m) + " " + path; !have[k] {
				t.Errorf("route %s is in the OpenAPI document but not in Routes", k)
			}
		}
	}
}

// TestHTTPGarbageAndSlowClients sends garbage to every route of every node while slow clients
// hold connections open, against a real devnet under load. No request gets a 5xx or a dropped
// connection, no bad credential is accepted, and an ordinary client gets its status from every
// node throughout; afterwards every node still serves and the nodes agree.
func TestHTTPGarbageAndSlowClients(t *testing.T) {
	n := startNet(t)
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); n.RunLoad(loadCtx, 50, 2) }()
	t.Cleanup(func() { stopLoad(); <-loadDone })
	before := n.waitFinalAbove(t, 0, 30*time.Second)

	rogue, err := keyfile.Read(n.rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, e := range n.Entries {
		tokens = append(tokens, e.Token)
	}
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var garbage, slow Stats
	var gErr, sErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		garbage, gErr = HTTPGarbage{BaseURLs: n.urls(), Tokens: tokens, Signer: rogue, HugeEvery: 25}.Run(ctx, testLogger())
	}()
	go func() {
		defer wg.Done()
		// Probes are bounded generously: the machine is shared and the nodes are under load; a
		// server that slow clients starve does not answer at all.
		slow, sErr = SlowClients{BaseURLs: n.urls(), Conns: 84, Trickle: 500 * time.Millisecond, ProbeTimeout: 10 * time.Second}.Run(ctx, testLogger())
	}()
	wg.Wait()
	if gErr != nil || sErr != nil {
		t.Fatalf("garbage: %v; slow: %v", gErr, sErr)
	}
	t.Logf("garbage: sent %d, errors %d, %v", garbage.Sent, garbage.Errors, garbage.Kinds)
	t.Logf("slow: sent %d, errors %d, %v", slow.Sent, slow.Errors, slow.Kinds)
	if garbage.Errors != 0 {
		t.Errorf("%d garbage requests got a 5xx, a dropped connection or accepted bad credentials (logged above)", garbage.Errors)
	}
	if garbage.Kinds["status_4xx"] == 0 {
		t.Error("no garbage request was refused with a 4xx")
	}
	if slow.Errors != 0 {
		t.Errorf("%d status probes failed while slow clients held connections", slow.Errors)
	}
	if slow.Kinds["probe_ok"] == 0 {
		t.Error("no probe succeeded")
	}
	for _, k := range slowKinds {
		if slow.Kinds[k] == 0 {
			t.Errorf("no %s connection was held", k)
		}
	}
	for _, e := range n.Entries {
		if code := n.get(t, e, "/v1/status", nil); code != http.StatusOK {
			t.Errorf("%s status after the garbage: %d", e.Name, code)
		}
	}
	after := n.waitFinalAbove(t, before, 30*time.Second)
	n.checkAgreement(t, after)
	// The connections are gone; so must be what the nodes held for them (the devnet runs in this
	// process). Slack for the load's own goroutines; a leak per connection is in the hundreds.
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > baseline+150 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the attack, %d after", baseline, runtime.NumGoroutine())
	if g := runtime.NumGoroutine(); g > baseline+150 {
		t.Errorf("%d goroutines after the attack, %d before: something the clients left holds on", g, baseline)
	}
}
