package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// TestRunSmall runs the whole harness at a low rate on 1 ministry + 2 bureau nodes and checks
// that the report is consistent. It asserts nothing about throughput or latency values.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Options{Ministry: 1, Bureaus: 2, Mode: ModeProducer, Rates: []float64{300, 600},
		Warmup: 500 * time.Millisecond, Duration: 2 * time.Second, Drain: 45 * time.Second, BlockRecords: 200,
		Workers: 500, CatchUp: true, Ceilings: true, CeilingRecords: 4000, Dir: t.TempDir(), Out: &progress, SnapshotInterval: 5})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	checkReport(t, rep, 2)

	// The HTTP mode goes through the same bookkeeping.
	rep, err = Run(ctx, Options{Ministry: 1, Bureaus: 1, Mode: ModeHTTP, Rates: []float64{300},
		Warmup: 500 * time.Millisecond, Duration: 2 * time.Second, Drain: 45 * time.Second, BlockRecords: 200,
		Workers: 500, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("run over HTTP: %v", err)
	}
	if rep.RecordsFinal != rep.RecordsAcked || rep.RecordsAcked == 0 {
		t.Errorf("HTTP: %d acknowledged, %d final", rep.RecordsAcked, rep.RecordsFinal)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("JSON round trip differs:\n%s\n%s", a, b)
	}
	for _, name := range []string{"latency.svg", "latency.png"} {
		p := filepath.Join(dir, name)
		if err := rep.WritePlot(p); err != nil {
			t.Fatalf("plot: %v", err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("plot %s not written (%v)", name, err)
		}
	}
	if err := rep.WritePlot(filepath.Join(dir, "latency.txt")); err == nil {
		t.Error("a plot to a .txt file was accepted")
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil || !strings.Contains(table.String(), "offered/s") {
		t.Errorf("table: %v\n%s", err, table.String())
	}
}

func checkReport(t *testing.T, rep *Report, steps int) {
	t.Helper()
	if len(rep.Steps) != steps {
		t.Fatalf("%d steps, want %d", len(rep.Steps), steps)
	}
	if rep.RecordsAcked == 0 {
		t.Fatal("no record acknowledged")
	}
	// Every acknowledged record became final on every node, and nothing else did.
	if rep.RecordsFinal != rep.RecordsAcked {
		t.Errorf("%d records acknowledged, %d final on every node", rep.RecordsAcked, rep.RecordsFinal)
	}
	if rep.ConverterRejected != 0 || rep.SubmitErrors != 0 {
		t.Errorf("converter rejected %d, submit errors %d (%s)", rep.ConverterRejected, rep.SubmitErrors, rep.LastSubmitError)
	}
	for i, s := range rep.Steps {
		if s.Unfinished != 0 {
			t.Errorf("step %d: %d records not final after the drain", i, s.Unfinished)
		}
		if s.Samples == 0 {
			t.Errorf("step %d: no latency sample", i)
		}
		if !(0 <= s.P50ms && s.P50ms <= s.P95ms && s.P95ms <= s.P99ms && s.P99ms <= s.MaxMs) {
			t.Errorf("step %d: percentiles out of order: %v %v %v %v", i, s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
		}
		// A record's first stage ends no later than its whole latency, and checkpoints carried
		// the records.
		if s.FirstSamples == 0 || s.P50FirstMs > s.P99FirstMs || s.P99FirstMs > s.MaxMs || s.CheckpointsPerSec <= 0 || s.RecordsPerCheckpoint <= 0 {
			t.Errorf("step %d: stages %d samples, p50 %v / %v, p99 %v, %v checkpoints/s of %v records", i,
				s.FirstSamples, s.P50FirstMs, s.P50ms, s.P99FirstMs, s.CheckpointsPerSec, s.RecordsPerCheckpoint)
		}
		if s.AckedPerSec <= 0 || s.FinalPerSec < 0 || s.CPUCores <= 0 || s.RSSMiB <= 0 {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	for _, n := range rep.Nodes {
		if n.DiskBytes <= 0 || n.DiskBytesPerRecord <= 0 {
			t.Errorf("node %s: disk %d bytes, %.0f per record", n.Name, n.DiskBytes, n.DiskBytesPerRecord)
		}
	}
	if c := rep.CatchUp; c == nil || c.Records != rep.RecordsFinal || c.Seconds <= 0 || c.RecordsPerSec <= 0 {
		t.Errorf("catch-up: %+v", c)
	} else {
		checkCatchUpPath(t, c)
	}
	if len(rep.Ceilings) != 4 {
		t.Fatalf("%d ceilings, want 4", len(rep.Ceilings))
	}
	for _, c := range rep.Ceilings {
		if c.RecordsPerSec <= 0 || c.NetworkPerSec <= 0 || c.Instances <= 0 {
			t.Errorf("ceiling %+v", c)
		}
	}
	if rep.Binding == "" || rep.Ratio <= 0 || rep.BestStep < 0 {
		t.Errorf("binding %q, ratio %v, best step %d", rep.Binding, rep.Ratio, rep.BestStep)
	}
}

// TestTracker follows records through acknowledgement and finality on two bureaus and one
// ministry node, including a checkpoint final before its records' acknowledgement returns.
func TestTracker(t *testing.T) {
	tr := newTracker([]bool{false, true, true})
	t0 := time.Unix(1000, 0)
	tr.startWindow(0, t0, t0.Add(10*time.Second))
	id := func(b byte) ledger.Hash { return ledger.Hash{b} }
	res := func(seq uint64, ids ...byte) *ledger.Result {
		r := &ledger.Result{Seq: seq}
		for _, b := range ids {
			r.Receipts = append(r.Receipts, ledger.Receipt{ID: id(b), Code: ledger.CodeOK})
		}
		return r
	}
	tr.acknowledged([]ledger.Hash{id(1), id(2)}, t0)
	tr.committed(res(1, 1, 2))
	tr.observe(0, 1, t0.Add(50*time.Millisecond))
	tr.observe(1, 1, t0.Add(100*time.Millisecond))
	if n, behind := tr.outstanding(); n != 2 || behind != 2 {
		t.Fatalf("one bureau of two: outstanding %d, behind %d", n, behind)
	}
	tr.observe(2, 1, t0.Add(300*time.Millisecond))
	if n, behind := tr.outstanding(); n != 0 || behind != 0 {
		t.Fatalf("final everywhere: outstanding %d, behind %d", n, behind)
	}
	// Checkpoint 2 is final on every node before record 3's acknowledgement returns.
	tr.committed(res(2, 3))
	tr.committed(res(2, 3)) // a second node's apply changes nothing
	for i := range 3 {
		tr.observe(i, 2, t0.Add(400*time.Millisecond))
	}
	tr.acknowledged([]ledger.Hash{id(3)}, t0.Add(500*time.Millisecond))
	lat := tr.latencies(0)
	want := []time.Duration{0, 300 * time.Millisecond, 300 * time.Millisecond}
	if len(lat) != len(want) {
		t.Fatalf("latencies %v, want %v", lat, want)
	}
	for i := range want {
		if lat[i] != want[i] {
			t.Fatalf("latencies %v, want %v", lat, want)
		}
	}
	// The stages: records 1 and 2 were final on node 0 50 ms after their acknowledgement
	// (record 3's came after its checkpoint was final everywhere: no sample); checkpoint 1
	// reached every bureau 250 ms after the first node, checkpoint 2 at once.
	first, spread, ckpts, recs := tr.stages(0)
	if !slices.Equal(first, []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}) ||
		!slices.Equal(spread, []time.Duration{0, 250 * time.Millisecond}) || ckpts != 2 || recs != 3 {
		t.Fatalf("stages: first %v, spread %v, %d checkpoints of %d records", first, spread, ckpts, recs)
	}
	acked, final, ok, seq := tr.totals()
	if acked != 3 || final != 3 || ok != 3 || seq != 2 {
		t.Fatalf("totals %d %d %d %d", acked, final, ok, seq)
	}
	if a, f := tr.window(); a != 3 || f != 3 {
		t.Fatalf("window %d acked, %d final", a, f)
	}
	// A wiped node that starts again from nothing moves nothing back.
	tr.observe(2, 1, t0.Add(time.Second))
	if _, final, _, seq := tr.totals(); final != 3 || seq != 2 {
		t.Fatalf("after a restart: final %d, seq %d", final, seq)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.95, 95}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(s, c.q); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Mode: "carrier-pigeon", Rates: []float64{-1}, Duration: time.Millisecond, Bureaus: 9, Ministry: 1}
	err := o.validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"mode", "rates", "duration", "bureaus"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	d := DefaultOptions()
	if err := d.validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	p := DefaultOptions()
	p.Procs = true
	if err := p.validate(); err == nil || !strings.Contains(err.Error(), "mode producer") || !strings.Contains(err.Error(), "binary") {
		t.Errorf("procs in producer mode without a binary: %v", err)
	}
	p = Options{Procs: true, Binary: "jaminan"}
	p.defaults()
	if err := p.validate(); err != nil || p.Mode != ModeHTTP {
		t.Errorf("procs defaults: mode %s, %v", p.Mode, err)
	}
}

// TestPlotWithoutLatencies draws a report none of whose steps has a latency sample (every step
// overloaded): the plot is still written.
func TestPlotWithoutLatencies(t *testing.T) {
	r := &Report{Ministry: 3, Bureaus: 4, Mode: ModeProducer, NumCPU: 2,
		Steps: []Step{{Offered: 1000, AckedPerSec: 990, Unfinished: 10}, {Offered: 2000, Skipped: true}}}
	p := filepath.Join(t.TempDir(), "empty.svg")
	if err := r.WritePlot(p); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		t.Fatalf("plot not written (%v)", err)
	}
}

// checkCatchUpPath checks that the catch-up says consistently how it went: from a snapshot
// inside the history and the checkpoints after it, or a replay of all of them. Which path a
// short run takes depends on how many checkpoints it ordered, so both are accepted.
func checkCatchUpPath(t *testing.T, c *CatchUp) {
	t.Helper()
	switch c.Path {
	case "snapshot":
		if c.SnapshotSeq == 0 || c.SnapshotSeq > c.Checkpoints || c.Replayed != c.Checkpoints-c.SnapshotSeq {
			t.Errorf("catch-up from a snapshot: %+v", c)
		}
	case "replay":
		if c.SnapshotSeq != 0 || c.Replayed != c.Checkpoints {
			t.Errorf("catch-up by replay: %+v", c)
		}
	default:
		t.Errorf("catch-up path %q", c.Path)
	}
	t.Logf("catch-up path %s (snapshot at %d, %d of %d checkpoints replayed), %.0f records/s", c.Path, c.SnapshotSeq, c.Replayed, c.Checkpoints, c.RecordsPerSec)
}
