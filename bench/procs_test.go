package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the binary jaminanBinary built; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// jaminanBinary builds cmd/jaminan once per test binary run into a temporary directory.
var jaminanBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "jaminan-bench-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "jaminan")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/jaminan/jaminan/cmd/jaminan").CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func builtBinary(t *testing.T) string {
	t.Helper()
	bin, err := jaminanBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// running returns the PIDs of processes whose executable is bin.
func running(t *testing.T, bin string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestRunProcs runs the harness with one `jaminan node` process per node (1 ministry + 1
// bureau) at a low rate, and checks the report's consistency, that each node was metered as a
// process of its own, and that no process is left afterwards. It asserts nothing about
// throughput or latency values.
func TestRunProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts node processes")
	}
	bin := builtBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	dir := filepath.Join(t.TempDir(), "run")
	rep, err := Run(ctx, Options{Procs: true, Binary: bin, Ministry: 1, Bureaus: 1, Rates: []float64{200},
		Warmup: 500 * time.Millisecond, Duration: 2 * time.Second, Drain: 45 * time.Second, BlockRecords: 200,
		Workers: 500, CatchUp: true, Dir: dir, Out: &progress, SnapshotInterval: 5})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if left := running(t, bin); len(left) > 0 {
		t.Errorf("node processes left after the run: %v", left)
	}
	if rep.Procs != "per-node" || rep.Mode != ModeHTTP {
		t.Errorf("procs %q, mode %q", rep.Procs, rep.Mode)
	}
	if len(rep.Steps) != 1 {
		t.Fatalf("%d steps, want 1", len(rep.Steps))
	}
	if rep.RecordsAcked == 0 || rep.RecordsFinal != rep.RecordsAcked || rep.RecordsOK != rep.RecordsFinal {
		t.Errorf("%d acknowledged, %d final on every node, %d OK", rep.RecordsAcked, rep.RecordsFinal, rep.RecordsOK)
	}
	if rep.ConverterRejected != 0 || rep.SubmitErrors != 0 {
		t.Errorf("converter rejected %d, submit errors %d (%s)", rep.ConverterRejected, rep.SubmitErrors, rep.LastSubmitError)
	}
	s := rep.Steps[0]
	if s.Unfinished != 0 || s.Samples == 0 {
		t.Errorf("step: %d unfinished, %d latency samples", s.Unfinished, s.Samples)
	}
	if !(0 <= s.P50ms && s.P50ms <= s.P95ms && s.P95ms <= s.P99ms && s.P99ms <= s.MaxMs) {
		t.Errorf("percentiles out of order: %v %v %v %v", s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
	}
	if s.AckedPerSec <= 0 || s.FinalPerSec < 0 || s.FinalPerSec > s.AckedPerSec*2 || s.CPUCores <= 0 || s.RSSMiB <= 0 || s.HeapMiB <= 0 {
		t.Errorf("step: %+v", s)
	}
	if rep.CPUMicrosPerRecord <= 0 || rep.HarnessCPUMicrosPerRecord <= 0 {
		t.Errorf("CPU per record: nodes %v, harness %v", rep.CPUMicrosPerRecord, rep.HarnessCPUMicrosPerRecord)
	}
	pids := map[int]string{}
	var rss float64
	for _, n := range rep.Nodes {
		if n.PID <= 0 || pids[n.PID] != "" {
			t.Errorf("node %s: PID %d (already %q's)", n.Name, n.PID, pids[n.PID])
		}
		pids[n.PID] = n.Name
		if n.RSSPeakMiB <= 0 || n.RSSSampledMiB <= 0 || n.RSSSampledMiB > n.RSSPeakMiB+1 || n.CPUSeconds <= 0 || n.CPUMicrosPerRecord <= 0 {
			t.Errorf("node %s: %+v", n.Name, n)
		}
		if n.DiskBytes <= 0 || n.DiskBytesPerRecord <= 0 {
			t.Errorf("node %s: disk %d bytes, %.0f per record", n.Name, n.DiskBytes, n.DiskBytesPerRecord)
		}
		rss += n.RSSSampledMiB
		if raw, err := os.ReadFile(filepath.Join(dir, n.Name+".log")); err != nil || !strings.Contains(string(raw), "serving http://") {
			t.Errorf("log of %s: %v\n%s", n.Name, err, raw)
		}
	}
	if len(pids) != 2 {
		t.Errorf("%d distinct node PIDs, want 2", len(pids))
	}
	// The step's RSS is the sum over the nodes of one sampling moment: at most the sum of
	// each node's highest sample.
	if s.RSSMiB > rss+1 {
		t.Errorf("step RSS %.1f MiB above the nodes' sampled peaks (%.1f MiB)", s.RSSMiB, rss)
	}
	if c := rep.CatchUp; c == nil || c.Records != rep.RecordsFinal || c.Seconds <= 0 || c.RecordsPerSec <= 0 {
		t.Errorf("catch-up: %+v (warnings %q)", c, rep.Warnings)
	} else {
		checkCatchUpPath(t, c)
	}
	for _, w := range rep.Warnings {
		t.Errorf("warning: %s", w)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "per node process") {
		t.Errorf("table: %v\n%s", err, table.String())
	}
}

// TestRunProcsInterrupted cancels a run while it warms up: Run returns the error and stops
// every node process.
func TestRunProcsInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts node processes")
	}
	bin := builtBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := &cancelOn{line: "warming up", cancel: cancel}
	_, err := Run(ctx, Options{Procs: true, Binary: bin, Ministry: 1, Bureaus: 1, Rates: []float64{200},
		Duration: time.Second, Workers: 100, Dir: t.TempDir(), Out: w})
	if err == nil {
		t.Fatal("an interrupted run returned no error")
	}
	if !w.seen() {
		t.Fatalf("run failed before the warm-up: %v", err)
	}
	if left := running(t, bin); len(left) > 0 {
		t.Errorf("node processes left after an interrupted run: %v", left)
	}
}

// cancelOn calls cancel once a line holding line is written.
type cancelOn struct {
	mu     sync.Mutex
	line   string
	cancel context.CancelFunc
	done   bool
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done && strings.Contains(string(p), c.line) {
		c.done = true
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOn) seen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// TestProcReaders reads this process's CPU and memory the way the harness reads a node's,
// and a metric out of a Prometheus text exposition.
func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	deadline := time.Now().Add(5 * time.Second)
	for procCPU(pid) == 0 && time.Now().Before(deadline) { // spin until a clock tick is counted
		for i := 0; i < 1e6; i++ {
			_ = strconv.Itoa(i)
		}
	}
	if c := procCPU(pid); c <= 0 || c > cpuTime()+time.Second {
		t.Errorf("CPU from /proc %v, getrusage %v", c, cpuTime())
	}
	if rss, hwm := procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM"); rss == 0 || hwm < rss {
		t.Errorf("VmRSS %d, VmHWM %d", rss, hwm)
	}
	if procCPU(0) != 0 || procStatus(0, "VmRSS") != 0 {
		t.Error("no process: not zero")
	}
	text := "# HELP x\ngo_memstats_heap_inuse_bytes 1.2e+07\njaminan_node_records_applied_total{code=\"ok\"} 42\njaminan_node_records_applied_total{code=\"T1\"} 3\n"
	if v, ok := metric(text, "go_memstats_heap_inuse_bytes"); !ok || v != 1.2e7 {
		t.Errorf("heap %v %v", v, ok)
	}
	if v, ok := metric(text, `jaminan_node_records_applied_total{code="ok"}`); !ok || v != 42 {
		t.Errorf("ok %v %v", v, ok)
	}
	if _, ok := metric(text, "absent"); ok {
		t.Error("absent metric found")
	}
}
