package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jaminan/jaminan/node/client"
)

// startDevnet starts a devnet in a temporary directory, closed when the test ends.
func startDevnet(t *testing.T) *Devnet { return startDevnetWith(t, Options{}) }

// startDevnetWith is startDevnet with options (Dir and Logger are the test's).
func startDevnetWith(t *testing.T, o Options) *Devnet {
	t.Helper()
	o.Dir, o.Logger = t.TempDir(), testLogger(t)
	d, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelError
	if os.Getenv("JAMINAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// TestDevnetAcceptance is issue 6, acceptance 1: the devnet brings up 7 nodes; within 30 s every
// node reports the same final hash at some sequence ≥ 1, and the workload's records are
// queryable on every bureau.
func TestDevnetAcceptance(t *testing.T) {
	start := time.Now()
	d := startDevnet(t)
	if len(d.Nodes) != 7 {
		t.Fatalf("%d nodes, want 7", len(d.Nodes))
	}
	var file struct {
		Nodes []Entry `json:"nodes"`
	}
	raw, err := os.ReadFile(filepath.Join(d.Dir, "devnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &file); err != nil || len(file.Nodes) != 7 {
		t.Fatalf("devnet.json: %v, %d nodes", err, len(file.Nodes))
	}
	for _, e := range file.Nodes {
		if e.Name == "" || e.Role == "" || e.HTTP == "" || e.Token == "" || e.PeerID == "" || (e.Role == "bureau" && e.Region == "") {
			t.Errorf("devnet.json entry incomplete: %+v", e)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "genesis.json")); err != nil {
		t.Error(err)
	}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); d.RunLoad(loadCtx, 200, 1) }()
	t.Cleanup(func() { stopLoad(); <-loadDone })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every node at some final sequence ≥ 1, the same hash at the lowest of them.
	var agreed uint64
	for agreed == 0 {
		if ctx.Err() != nil {
			t.Fatalf("no common final checkpoint ≥ 1 within 30 s")
		}
		time.Sleep(250 * time.Millisecond)
		low := ^uint64(0)
		for _, e := range file.Nodes {
			s, err := client.New(e.HTTP, "").Status(ctx)
			if err != nil {
				t.Fatalf("%s status: %v", e.Name, err)
			}
			low = min(low, s.Finalized.Seq)
		}
		if low == 0 {
			continue
		}
		hashes := map[string]bool{}
		for _, e := range file.Nodes {
			var cp struct {
				Hash string `json:"hash"`
			}
			if err := client.New(e.HTTP, "").Get(ctx, fmt.Sprintf("/v1/checkpoints/%d", low), &cp); err != nil {
				t.Fatalf("%s checkpoint %d: %v", e.Name, low, err)
			}
			hashes[cp.Hash] = true
		}
		if len(hashes) != 1 {
			t.Fatalf("nodes disagree on checkpoint %d: %v", low, hashes)
		}
		agreed = low
	}
	t.Logf("every node final at ≥ %d with the same hash after %v", agreed, time.Since(start).Round(time.Millisecond))

	// The workload's records: one accepted at each bureau is final, and queryable on every bureau.
	pending := map[string]string{}
	for _, r := range Regions {
		for ctx.Err() == nil && len(d.Accepted(r)) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if ids := d.Accepted(r); len(ids) > 0 {
			pending[r] = ids[0]
		} else {
			t.Fatalf("no record accepted at bureau %s within 30 s", r)
		}
	}
	for len(pending) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("records not final and queryable on every bureau within 30 s: %v", pending)
		}
		time.Sleep(250 * time.Millisecond)
	next:
		for r, id := range pending {
			for _, b := range Regions {
				e, c, _ := d.Bureau(b)
				st, err := c.Record(ctx, id)
				if err != nil || st.Status != "final" {
					if client.StatusOf(err) != 404 && err != nil {
						t.Fatalf("%s record %s: %v", e.Name, id, err)
					}
					continue next
				}
			}
			delete(pending, r)
		}
	}
	sent, refused := d.Counts()
	t.Logf("workload records final on every bureau after %v (acknowledged %d, refused %d)", time.Since(start).Round(time.Millisecond), sent, refused)
	if sent == 0 {
		t.Error("the workload got nothing acknowledged")
	}
	// The workload also corrects a contribution now and then (every 200th employee contribution).
	deadline := time.Now().Add(30 * time.Second)
	for c, _ := d.Extras(); c == 0; c, _ = d.Extras() {
		if time.Now().After(deadline) {
			t.Fatal("no correction of the workload was accepted within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
