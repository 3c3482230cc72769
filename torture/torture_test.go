package torture

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	long   = flag.Bool("long", false, "run the long torture suite (longer load, more kills; about 10 minutes)")
	only   = flag.String("only", "", "run only these scenarios, comma-separated (development)")
	keep   = flag.Bool("keep", false, "keep the working directory (keys, configs, data, node logs) and print its path")
	report = flag.String("report", "", "write the results to this file (docs/RELIABILITY.md: -report ../docs/RELIABILITY.md)")
)

// TestTorture runs every scenario against real processes and fails on any lost or duplicated
// record, disagreeing root, unexpected death or unrecovered fault. The short version runs in
// the default test command; -long runs the long one; -report writes docs/RELIABILITY.md.
func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs seven node processes under faults")
	}
	dir := t.TempDir()
	if *keep {
		var err error
		if dir, err = os.MkdirTemp("", "jaminan-torture-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("working directory (kept): %s", dir)
	}
	bin := filepath.Join(dir, "jaminan")
	build := exec.Command("go", "build", "-o", bin, "github.com/jaminan/jaminan/cmd/jaminan")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lvl := slog.LevelWarn
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(&logWriter{logf: t.Logf}, &slog.HandlerOptions{Level: lvl}))
	cfg := Config{Dir: dir, Bin: bin, Logger: log, Rate: 60, Workers: 400, Long: *long}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	timeout := 6 * time.Minute
	if *long {
		cfg.Rate, cfg.Workers, timeout = 120, 1000, 50*time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	started := time.Now()
	s, err := Run(ctx, cfg)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	if err != nil {
		t.Errorf("torture suite: %v", err)
	}
	if s.Chk != nil {
		for _, st := range s.Chk.Scenarios {
			t.Logf("%-13s acked %6d lost %d dup %d final %6d rejected %5d seqs %6d mismatches %d deaths %d recovery %v",
				st.Name, st.Acked, st.Lost, st.Duplicated, st.Final, st.ReceiptRejected, st.SeqsCompared, len(st.RootMismatches), len(st.Deaths),
				st.Recovery.Round(10*time.Millisecond))
			for _, f := range st.Failures {
				t.Errorf("%s: %s", st.Name, f)
			}
			for _, n := range st.Notes {
				t.Logf("%s: %s", st.Name, n)
			}
		}
	}
	// The checker itself can fail: an acknowledgement of a record nobody sent is reported lost.
	if s.Chk != nil && s.C != nil && err == nil {
		canary := &Stats{Name: "canary", ReceiptCodes: map[string]int{}}
		s.Chk.CheckAcks(ctx, canary, []Ack{{ID: strings.Repeat("ab", 32), Node: "bureau-44", Scenario: "canary", At: time.Now()}})
		if canary.Lost != 1 {
			t.Errorf("the checker did not report a record nobody sent as lost: %+v", canary)
		}
	}
	t.Logf("torture suite in %v", time.Since(started).Round(time.Second))
	if t.Failed() && s.C != nil {
		for _, p := range s.C.Procs {
			t.Logf("--- %s log (tail) ---\n%s", p.Name, p.LogTail(3000))
		}
	}
	if *report != "" && s.Chk != nil && s.Total != nil {
		mode, cmd := "short (the default test command)", "go test ./torture -run TestTorture -count=1 -report ../docs/RELIABILITY.md"
		if *long {
			mode = "long"
			cmd = "go test ./torture -run TestTorture -long -count=1 -timeout 60m -report ../docs/RELIABILITY.md"
		}
		var buf bytes.Buffer
		s.WriteReport(&buf, ReportInfo{Command: cmd, Commit: Commit(".."), Mode: mode, Rate: cfg.Rate})
		if err := os.WriteFile(*report, buf.Bytes(), 0o644); err != nil {
			t.Errorf("write the report: %v", err)
		} else {
			t.Logf("report written to %s (%d lines)", *report, strings.Count(buf.String(), "\n"))
		}
	}
}
