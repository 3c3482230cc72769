package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Report is the outcome of a run; it is also the JSON output.
type Report struct {
	Started  time.Time `json:"started"`
	GoOS     string    `json:"goos"`
	GoArch   string    `json:"goarch"`
	NumCPU   int       `json:"num_cpu"`
	Go       string    `json:"go"`
	Ministry int       `json:"ministry"`
	Bureaus  int       `json:"bureaus"`
	Mode     string    `json:"mode"`
	// Procs is "in-process" (every node shares one process, so RSS, heap and CPU are the
	// whole network's) or "per-node" (--procs: one `jaminan node` process per node; RSS and
	// CPU are each process's, in Nodes, and the steps' sums over them).
	Procs              string  `json:"procs"`
	BlockRecords       int     `json:"block_records"`
	BlockIntervalMs    float64 `json:"block_interval_ms"`
	CheckpointInterval float64 `json:"checkpoint_interval_ms"`
	LoadAvgStart       string  `json:"loadavg_start"` // /proc/loadavg before the first step
	LoadAvgEnd         string  `json:"loadavg_end"`
	Nice               int     `json:"nice"` // the process's nice value: > 0, it yields the cores to others

	Steps []Step       `json:"steps"`
	Nodes []NodeReport `json:"nodes"`

	RecordsAcked      int64   `json:"records_acked"`
	RecordsFinal      int64   `json:"records_final"` // final and applied on every node
	RecordsOK         int64   `json:"records_ok"`    // of which with receipt code OK
	FinalSeq          uint64  `json:"final_seq"`
	ConverterRejected int64   `json:"converter_rejected"`
	SubmitErrors      int64   `json:"submit_errors"`
	LastSubmitError   string  `json:"last_submit_error,omitempty"`
	DiskBytesPerRec   float64 `json:"disk_bytes_per_record_per_node"` // mean over nodes
	// CPUMicrosPerRecord is the process CPU from the first step to the end of the last drain
	// over the records that became final meanwhile: the steps' windows are too short for it
	// when checkpoints finish in bursts. CPUCores is the CPU the run got meanwhile.
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record"`
	CPUCores           float64 `json:"cpu_cores"`
	// HarnessCPUMicrosPerRecord is, with one process per node, the harness's own CPU (load
	// generation, HTTP client, tracking) over the same span, per record: not in the above.
	HarnessCPUMicrosPerRecord float64 `json:"harness_cpu_us_per_record,omitempty"`

	CatchUp  *CatchUp  `json:"catch_up,omitempty"`
	Ceilings []Ceiling `json:"ceilings,omitempty"`
	// Binding is the ceiling with the lowest network-equivalent rate; Ratio is the best
	// measured final rate over it, RatioRaw the same over its one-instance rate.
	Binding  string  `json:"binding,omitempty"`
	Ratio    float64 `json:"ratio_to_binding,omitempty"`
	RatioRaw float64 `json:"ratio_to_binding_one_instance,omitempty"`
	BestStep int     `json:"best_step"`
	// Warnings are what went wrong after the measurements (they stand).
	Warnings []string `json:"warnings,omitempty"`
}

// Step is one offered load.
type Step struct {
	Offered     float64 `json:"offered_per_s"`     // 0: closed loop, as fast as acknowledged
	Skipped     bool    `json:"skipped,omitempty"` // not run: a lower load did not drain
	Seconds     float64 `json:"seconds"`           // the measurement window
	AckedPerSec float64 `json:"acked_per_s"`
	FinalPerSec float64 `json:"final_per_s"` // final and applied on every node, in the window
	Samples     int     `json:"latency_samples"`
	P50ms       float64 `json:"p50_ms"` // acknowledgement → final and applied on every bureau
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// The latency in two stages: acknowledgement → final on the first node (block cut,
	// gossip, ordering, one apply, the certificate), and per checkpoint first node → final on
	// every bureau (the slowest node's apply); and the checkpoints that became final on every
	// bureau in the window, with their mean size.
	FirstSamples         int     `json:"first_samples"`
	P50FirstMs           float64 `json:"p50_first_ms"`
	P99FirstMs           float64 `json:"p99_first_ms"`
	SpreadSamples        int     `json:"spread_samples"`
	P50SpreadMs          float64 `json:"p50_spread_ms"`
	P99SpreadMs          float64 `json:"p99_spread_ms"`
	CheckpointsPerSec    float64 `json:"checkpoints_per_s"`
	RecordsPerCheckpoint float64 `json:"records_per_checkpoint"`
	CPUCores             float64 `json:"cpu_cores"`                   // CPU seconds per second of the nodes (whole network)
	HarnessCPUCores      float64 `json:"harness_cpu_cores,omitempty"` // per node processes: the harness's own
	CPUMicrosPerRecord   float64 `json:"cpu_us_per_record"`
	// ProjectedPerSec is the final rate all the machine's cores would carry at this CPU cost
	// per record: what the step would reach on the machine alone (the run shares it).
	ProjectedPerSec float64 `json:"projected_per_s"`
	RSSMiB          float64 `json:"rss_mib"`  // peak in the window of the RSS of all nodes (the process's, or the sum of theirs)
	HeapMiB         float64 `json:"heap_mib"` // Go heap in use, peak (all nodes)
	Shed            int64   `json:"shed"`     // records not offered: every submitter busy
	Busy            int64   `json:"busy"`     // batches a bureau refused with back-pressure (503), offered again
	SubmitErrors    int64   `json:"submit_errors"`
	Unfinished      int64   `json:"unfinished"` // acknowledged, not final on every bureau after the drain
	DrainSeconds    float64 `json:"drain_seconds"`
}

// NodeReport is one node's disk use at the end of the steps and, with one process per node,
// its process's CPU and memory.
type NodeReport struct {
	Name               string  `json:"name"`
	Role               string  `json:"role"`
	DiskBytes          int64   `json:"disk_bytes"`
	DiskBytesPerRecord float64 `json:"disk_bytes_per_record"`
	// Per node process (--procs) only.
	PID int `json:"pid,omitempty"` // the process of the steps (a wiped node runs a new one after)
	// CPUSeconds is the process's user+system CPU (/proc/PID/stat) from the first step to the
	// end of the last drain; CPUMicrosPerRecord the same per record final meanwhile.
	CPUSeconds         float64 `json:"cpu_seconds,omitempty"`
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record,omitempty"`
	// RSSPeakMiB is VmHWM (the kernel's peak resident set) at the end of the steps; RSSSampledMiB
	// the highest VmRSS sampled in the steps' windows.
	RSSPeakMiB    float64 `json:"rss_peak_mib,omitempty"`
	RSSSampledMiB float64 `json:"rss_sampled_mib,omitempty"`
	dir           string
}

// CatchUp is the catch-up of a wiped node.
type CatchUp struct {
	Node          string  `json:"node"`
	Checkpoints   uint64  `json:"checkpoints"`
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`      // from the empty node's start to serving the head
	WipeSeconds   float64 `json:"wipe_seconds"` // before that: stopping the node, deleting, starting
	RecordsPerSec float64 `json:"records_per_s"`
	// Path is how the node caught up: "snapshot" (it joined from the attested snapshot at
	// SnapshotSeq and replayed the checkpoints after it) or "replay" (every checkpoint).
	// Records and RecordsPerSec cover the whole history either way: the snapshot's checkpoints
	// and those replayed after it.
	Path        string `json:"path"`
	SnapshotSeq uint64 `json:"snapshot_seq,omitempty"`
	Replayed    uint64 `json:"checkpoints_replayed"`
}

// newCatchUp describes a catch-up to final sequence seq (records records in all) that took secs
// from the empty start; joined is the snapshot's sequence, 0 for a replay.
func newCatchUp(name string, seq uint64, records int64, secs, wipe float64, joined uint64) *CatchUp {
	c := &CatchUp{Node: name, Checkpoints: seq, Records: records, Seconds: secs, WipeSeconds: wipe,
		RecordsPerSec: float64(records) / secs, Path: "replay", Replayed: seq}
	if joined > 0 {
		c.Path, c.SnapshotSeq, c.Replayed = "snapshot", joined, seq-min(joined, seq)
	}
	return c
}

// Ceiling is one component measured on its own on this machine.
type Ceiling struct {
	Name string `json:"name"`
	// RecordsPerSec is the rate of one instance of the component, as measured.
	RecordsPerSec float64 `json:"records_per_s"`
	// CPUMicrosPerRecord is the process CPU per record while it ran.
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record"`
	// Instances is how many times the network does this work per record (every node applies
	// each record; six nodes verify each block; the gossip mesh and Raft group are measured
	// whole, so 1).
	Instances int `json:"instances"`
	// NetworkPerSec is the rate the network could reach if this component alone used all
	// cores: min(one-instance rate, cores / (instances × CPU per record)).
	NetworkPerSec float64 `json:"network_per_s"`
	Detail        string  `json:"detail"`
}

func newReport(o Options) *Report {
	return &Report{Started: time.Now().UTC(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH, NumCPU: runtime.NumCPU(),
		Go: runtime.Version(), Ministry: o.Ministry, Bureaus: o.Bureaus, Mode: o.Mode, Procs: procsName(o.Procs),
		BlockRecords: o.BlockRecords, BlockIntervalMs: ms(o.BlockInterval), CheckpointInterval: ms(o.CheckpointInterval)}
}

func procsName(procs bool) string {
	if procs {
		return "per-node"
	}
	return "in-process"
}

// finish computes the summary fields.
func (r *Report) finish() {
	r.BestStep = -1
	best := 0.0
	for i, s := range r.Steps {
		if s.FinalPerSec > best {
			best, r.BestStep = s.FinalPerSec, i
		}
	}
	var sum float64
	for _, n := range r.Nodes {
		sum += n.DiskBytesPerRecord
	}
	if len(r.Nodes) > 0 {
		r.DiskBytesPerRec = sum / float64(len(r.Nodes))
	}
	var bind *Ceiling
	for i := range r.Ceilings {
		if c := &r.Ceilings[i]; c.NetworkPerSec > 0 && (bind == nil || c.NetworkPerSec < bind.NetworkPerSec) {
			bind = c
		}
	}
	if bind != nil {
		r.Binding = bind.Name
		r.Ratio = best / bind.NetworkPerSec
		r.RatioRaw = best / bind.RecordsPerSec
	}
}

func fmtRate(v float64) string {
	if v == 0 {
		return "max"
	}
	return fmt.Sprintf("%.0f", v)
}

func (s Step) line() string {
	line := fmt.Sprintf("offered %s/s: acked %.0f/s, final %.0f/s, p50 %.0f ms, p99 %.0f ms (%d samples), %.2f cores, %.1f µs CPU/record, RSS %.0f MiB, %d unfinished after %.0f s",
		fmtRate(s.Offered), s.AckedPerSec, s.FinalPerSec, s.P50ms, s.P99ms, s.Samples, s.CPUCores, s.CPUMicrosPerRecord, s.RSSMiB, s.Unfinished, s.DrainSeconds)
	if s.Busy > 0 {
		line += fmt.Sprintf(", %d batches refused busy and offered again", s.Busy)
	}
	return line
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "jaminan bench: %d ministry + %d bureau nodes, %s, mode %s, %d CPUs, %s, blocks of %d records every %.0f ms, checkpoints every %.0f ms\n",
		r.Ministry, r.Bureaus, r.Procs, r.Mode, r.NumCPU, r.Go, r.BlockRecords, r.BlockIntervalMs, r.CheckpointInterval)
	fmt.Fprintf(w, "load average before/after: %s / %s; nice %d\n\n", r.LoadAvgStart, r.LoadAvgEnd, r.Nice)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tacked/s\tfinal/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tCPU cores\tCPU µs/rec\tprojected/s\tRSS MiB\theap MiB\tshed\tunfinished\t")
	for _, s := range r.Steps {
		if s.Skipped {
			fmt.Fprintf(tw, "%s\tskipped: a lower load did not drain\t\t\t\t\t\t\t\t\t\t\t\t\t\n", fmtRate(s.Offered))
			continue
		}
		lat := []string{"-", "-", "-", "-"} // no record of the window became final within the drain
		if s.Samples > 0 {
			for i, v := range []float64{s.P50ms, s.P95ms, s.P99ms, s.MaxMs} {
				lat[i] = fmt.Sprintf("%.0f", v)
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%.2f\t%.1f\t%.0f\t%.0f\t%.0f\t%d\t%d\t\n", fmtRate(s.Offered), s.AckedPerSec,
			s.FinalPerSec, lat[0], lat[1], lat[2], lat[3], s.CPUCores, s.CPUMicrosPerRecord, s.ProjectedPerSec, s.RSSMiB, s.HeapMiB, s.Shed, s.Unfinished)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nfinal: records/s final and applied on every node; latency: acknowledgement to final and applied on every bureau;")
	fmt.Fprintln(w, "projected: the final rate at the step's CPU per record if the run had every core (the machine is shared).")
	if err := writeStages(w, r.Steps); err != nil {
		return err
	}
	n := max(1, r.Ministry+r.Bureaus)
	if r.Procs == procsName(true) {
		fmt.Fprintf(w, "\none process per node: CPU, RSS and heap above are the sums over the %d node processes; the harness's own CPU is apart.\n", n)
	} else {
		fmt.Fprintf(w, "\nRSS and heap are the one process's, shared by %d nodes (peak RSS ÷ %d: %.0f MiB per node).\n",
			n, n, peakRSS(r)/float64(n))
	}
	if r.CPUMicrosPerRecord > 0 {
		fmt.Fprintf(w, "CPU over all steps and drains: %.0f µs per record final (%.2f cores used on average; projected on %d cores alone: %.0f records/s)\n",
			r.CPUMicrosPerRecord, r.CPUCores, r.NumCPU, float64(r.NumCPU)*1e6/r.CPUMicrosPerRecord)
	}
	if r.HarnessCPUMicrosPerRecord > 0 {
		fmt.Fprintf(w, "the harness (load, HTTP client, tracking), apart: %.0f µs per record final\n", r.HarnessCPUMicrosPerRecord)
	}
	if r.Procs == procsName(true) {
		fmt.Fprintln(w, "\nper node process, over all steps and drains (RSS peak: VmHWM at the end of the steps; sampled: highest VmRSS in the windows):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "node\trole\tPID\tCPU s\tCPU µs/rec\tRSS peak MiB\tRSS sampled MiB\tdisk bytes/rec\t")
		for _, nd := range r.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.1f\t%.0f\t%.0f\t%.0f\t\n", nd.Name, nd.Role, nd.PID, nd.CPUSeconds, nd.CPUMicrosPerRecord,
				nd.RSSPeakMiB, nd.RSSSampledMiB, nd.DiskBytesPerRecord)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "records: %d acknowledged, %d final on every node (%d OK), checkpoint %d; converter rejected %d, submit errors %d\n",
		r.RecordsAcked, r.RecordsFinal, r.RecordsOK, r.FinalSeq, r.ConverterRejected, r.SubmitErrors)
	if r.LastSubmitError != "" {
		fmt.Fprintf(w, "last submit error: %s\n", r.LastSubmitError)
	}
	fmt.Fprintf(w, "disk per record and node: %.0f bytes (", r.DiskBytesPerRec)
	for i, nd := range r.Nodes {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%s %.0f", nd.Name, nd.DiskBytesPerRecord)
	}
	fmt.Fprintln(w, ")")
	if c := r.CatchUp; c != nil {
		fmt.Fprintf(w, "catch-up of wiped %s: %d records (%d checkpoints) in %.2f s from its empty start (after %.2f s to stop, wipe and start it): %.0f records/s\n",
			c.Node, c.Records, c.Checkpoints, c.Seconds, c.WipeSeconds, c.RecordsPerSec)
		if c.Path == "snapshot" {
			fmt.Fprintf(w, "  path: joined from the attested snapshot at checkpoint %d, then replayed %d checkpoints\n", c.SnapshotSeq, c.Replayed)
		} else {
			fmt.Fprintf(w, "  path: replayed all %d checkpoints\n", c.Replayed)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if len(r.Ceilings) > 0 {
		fmt.Fprintln(w)
		if err := r.WriteCeilings(w); err != nil {
			return err
		}
		if r.Binding != "" && r.BestStep >= 0 {
			fmt.Fprintf(w, "binding: %s; best final rate %.0f records/s (offered %s) = %.0f%% of its network ceiling, %.0f%% of one instance\n",
				r.Binding, r.Steps[r.BestStep].FinalPerSec, fmtRate(r.Steps[r.BestStep].Offered), 100*r.Ratio, 100*r.RatioRaw)
		}
	}
	return nil
}

// WriteCeilings writes the component ceilings as a table.
func (r *Report) WriteCeilings(w io.Writer) error {
	fmt.Fprintln(w, "component ceilings, each measured alone on this machine:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "component\trecords/s (one)\tCPU µs/rec\t× per record\tnetwork records/s\tdetail")
	for _, c := range r.Ceilings {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%d\t%.0f\t%s\n", c.Name, c.RecordsPerSec, c.CPUMicrosPerRecord, c.Instances, c.NetworkPerSec, c.Detail)
	}
	return tw.Flush()
}

// peakRSS is the highest RSS of the steps run.
func peakRSS(r *Report) float64 {
	var m float64
	for _, s := range r.Steps {
		m = max(m, s.RSSMiB)
	}
	return m
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode report %s: %w", path, err)
	}
	return &r, nil
}

// WritePlot draws finality latency (p50, p95, p99, log scale) against the load each step put
// in (records/s acknowledged), and saves it as SVG or PNG by the extension of path. A step whose
// backlog did not drain is drawn too: its latencies are those of the records that became final.
func (r *Report) WritePlot(path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if ext != "svg" && ext != "png" {
		return fmt.Errorf("plot %s: want a .svg or .png file", path)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Finality latency vs load: %d ministry + %d bureau nodes, %s, %d CPUs", r.Ministry, r.Bureaus, r.Mode, r.NumCPU)
	p.X.Label.Text = "load: records/s acknowledged by the bureaus"
	p.Y.Label.Text = "acknowledgement → final on every bureau (ms)"
	p.Add(plotter.NewGrid())
	lines := 0
	for i, q := range []struct {
		name string
		get  func(Step) float64
	}{{"p50", func(s Step) float64 { return s.P50ms }}, {"p95", func(s Step) float64 { return s.P95ms }},
		{"p99", func(s Step) float64 { return s.P99ms }}} {
		var pts plotter.XYs
		for _, s := range r.Steps {
			if s.Samples > 0 && q.get(s) > 0 {
				pts = append(pts, plotter.XY{X: s.AckedPerSec, Y: q.get(s)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", q.name, err)
		}
		l.Color = plotColors[i]
		sc.Color = plotColors[i]
		p.Add(l, sc)
		p.Legend.Add(q.name, l, sc)
		lines++
	}
	if lines > 0 {
		// A log scale needs positive values: only when some step has latencies.
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save plot %s: %w", path, err)
	}
	return nil
}

// plotColors are the p50, p95 and p99 lines.
var plotColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// writeStages writes where each step's latency went: to the first node's finality, then to
// every bureau's, and the checkpoints that carried the records.
func writeStages(w io.Writer, steps []Step) error {
	fmt.Fprintln(w, "\nlatency by stage: ack → final on the first node (records), first node → final on every bureau (checkpoints)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tto first p50 ms\tp99 ms\tto every bureau p50 ms\tp99 ms\tcheckpoints/s\trecords/checkpoint\t")
	for _, s := range steps {
		if s.Skipped {
			continue
		}
		cell := func(n int, v float64) string {
			if n == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%.0f\t\n", fmtRate(s.Offered), cell(s.FirstSamples, s.P50FirstMs), cell(s.FirstSamples, s.P99FirstMs),
			cell(s.SpreadSamples, s.P50SpreadMs), cell(s.SpreadSamples, s.P99SpreadMs), s.CheckpointsPerSec, s.RecordsPerCheckpoint)
	}
	return tw.Flush()
}
