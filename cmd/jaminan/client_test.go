package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/devnet"
	"github.com/jaminan/jaminan/workload"
)

func TestNodeCheckConfigs(t *testing.T) {
	for _, f := range []string{"bureau.json", "ministry.json", "devnet.json"} {
		code, stdout, stderr := runCLI(t, "node", "--config", filepath.Join("..", "..", "configs", f), "--check")
		if code != 0 || !strings.Contains(stdout, "configuration ok") {
			t.Errorf("%s: exit %d %s %s", f, code, stdout, stderr)
		}
	}
	code, _, stderr := runCLI(t, "node", "--config", filepath.Join("..", "..", "configs", "bureau.json"), "--check", "--block-records", "0", "--http", "nowhere")
	if code == 0 || !strings.Contains(stderr, "block_records") || !strings.Contains(stderr, "http") {
		t.Errorf("bad flags: exit %d %s", code, stderr)
	}
}

// TestSubmitAndQuery imports a JSON-lines file with one bad line into a bureau of a small
// devnet, then asks for the status and a record.
func TestSubmitAndQuery(t *testing.T) {
	d := startSmallDevnet(t, 1)
	e, _, _ := d.Bureau("44")
	gen := workload.New(3, workload.DefaultRegions()[:1], 5, civil.MustPeriod(2025, 3))
	var lines []string
	for len(lines) < 10 {
		for _, in := range gen.Next() {
			b, _ := json.Marshal(in)
			lines = append(lines, string(b))
		}
	}
	lines = append(lines[:3], append([]string{`{"type":"contribution","worker_id":"123"}`}, lines[3:]...)...)
	file := filepath.Join(t.TempDir(), "records.jsonl")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	code, stdout, stderr := runCLI(t, "submit", "--node", e.HTTP, "--token", e.Token, file)
	if code != 1 || !strings.Contains(stdout, "records.jsonl:4:") || !strings.Contains(stdout, "accepted") || !strings.Contains(stderr, "submitted") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(t, "query", "--node", e.HTTP, "status"); code != 0 || !strings.Contains(stdout, `"finalized"`) {
		t.Fatalf("query status: %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "query", "--node", e.HTTP, "record", strings.Repeat("ab", 32)); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("query unknown record without a token: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "query", "frobnicate"); code != 2 || !strings.Contains(stderr, "try:") {
		t.Fatalf("query usage: %d %s", code, stderr)
	}
}

// startSmallDevnet starts a devnet of ministry ministry nodes and one bureau (44), closed when
// the test ends.
func startSmallDevnet(t *testing.T, ministry int) *devnet.Devnet {
	t.Helper()
	d, err := devnet.Start(devnet.Options{Dir: t.TempDir(), Ministry: ministry, Bureaus: 1, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return d
}
