// Package bench is `jaminan bench`: it starts a devnet (ministry and bureau nodes in one
// process, or with Options.Procs one `jaminan node` process each; the real node: libp2p on
// loopback, Raft, badger on disk), offers contribution
// records to the bureaus at a series of rates, in process (node.Node.Submit: the outbox and
// everything after it) or over HTTP, and measures what a record costs on the way to being final
// on every node: records/s acknowledged and final, finality latency, CPU per record, memory,
// disk per record and the catch-up rate of an emptied node. In the same run it measures the
// ceilings of the parts (block verify, store apply, gossip, ordering) on their own, so that the
// end-to-end rate can be set against the part that binds. It reports; it does not judge.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/node"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/node/devnet"
	"github.com/jaminan/jaminan/workload"
)

// Modes of driving records in.
const (
	ModeProducer = "producer" // node.Node.Submit in process: no HTTP, JSON or intake parsing
	ModeHTTP     = "http"     // POST /v1/records to each bureau, JSON
)

// Options configures a run. Zero values take the defaults of DefaultOptions.
type Options struct {
	Ministry, Bureaus int
	Mode              string
	// Rates are the offered loads in records/s, in order; 0 means as fast as the bureaus
	// acknowledge (closed loop).
	Rates    []float64
	Warmup   time.Duration // per step, before the window
	Duration time.Duration // per step, the measurement window
	Drain    time.Duration // per step, the longest wait for the backlog after the load stops
	// Node tuning, applied to every node.
	BlockRecords       int
	BlockInterval      time.Duration
	CheckpointInterval time.Duration
	// Workers is the synthetic population per bureau; MonthsBack how far back contributions start.
	Workers, MonthsBack int
	// Concurrency is the number of concurrent submissions per bureau.
	Concurrency int
	// CatchUp wipes the last bureau after the steps and times its catch-up.
	CatchUp bool
	// SnapshotInterval is the ministry nodes' snapshot_interval (0: the default, 5; negative:
	// off). With snapshots the wiped bureau joins from the latest attested one (fast join) and
	// replays only the checkpoints after it; without, it replays every checkpoint. The small
	// default keeps the replay after the snapshot short; a deployment's is 1000. It has a cost:
	// a default run orders ≈ 370 checkpoints, so each ministry node exports its state ≈ 75
	// times (about 5 % of the run's CPU, docs/PERFORMANCE.md "End to end").
	SnapshotInterval int
	// Ceilings measures the components on their own after the network is stopped;
	// CeilingRecords is how many records the store apply ceiling applies.
	Ceilings       bool
	CeilingRecords int
	// CeilingBlocks is the number of blocks per checkpoint in the store apply ceiling.
	CeilingBlocks int
	// Procs runs every node as its own `jaminan node` process (Binary) instead of in this
	// process; records then go in over HTTP.
	Procs  bool
	Binary string
	// Dir holds the devnet (empty: a temporary directory, removed at the end).
	Dir    string
	Seed   uint64
	Logger *slog.Logger // nodes' logs (nil: errors only, on stderr)
	Out    io.Writer    // progress lines (nil: discarded)
}

// DefaultOptions is a run of about two minutes on a 2-core machine.
func DefaultOptions() Options {
	return Options{Ministry: 3, Bureaus: 4, Mode: ModeProducer, Rates: []float64{2000, 5000, 10000, 20000, 40000, 0},
		Warmup: 3 * time.Second, Duration: 10 * time.Second, Drain: 30 * time.Second,
		BlockRecords: 1000, BlockInterval: 100 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond,
		Workers: 20000, MonthsBack: 48, Concurrency: 16, CatchUp: true, Ceilings: true, CeilingRecords: 30000, CeilingBlocks: 10, Seed: 1, SnapshotInterval: 5}
}

// benchFastJoinLag is the nodes' fast_join_lag in a run (see SnapshotInterval).
const benchFastJoinLag = 3

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.Ministry == 0 {
		o.Ministry = d.Ministry
	}
	if o.Bureaus == 0 {
		o.Bureaus = d.Bureaus
	}
	if o.Mode == "" {
		o.Mode = d.Mode
		if o.Procs {
			o.Mode = ModeHTTP
		}
	}
	if o.Rates == nil {
		o.Rates = d.Rates
	}
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.Drain == 0 {
		o.Drain = d.Drain
	}
	if o.BlockRecords == 0 {
		o.BlockRecords = d.BlockRecords
	}
	if o.BlockInterval == 0 {
		o.BlockInterval = d.BlockInterval
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = d.CheckpointInterval
	}
	if o.Workers == 0 {
		o.Workers = d.Workers
	}
	if o.MonthsBack == 0 {
		o.MonthsBack = d.MonthsBack
	}
	if o.Concurrency == 0 {
		o.Concurrency = d.Concurrency
	}
	if o.CeilingRecords == 0 {
		o.CeilingRecords = d.CeilingRecords
	}
	if o.CeilingBlocks == 0 {
		o.CeilingBlocks = d.CeilingBlocks
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = d.SnapshotInterval
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Mode != ModeProducer && o.Mode != ModeHTTP {
		errs = append(errs, fmt.Errorf("mode %q: want %s or %s", o.Mode, ModeProducer, ModeHTTP))
	}
	if o.Procs && o.Mode == ModeProducer {
		errs = append(errs, errors.New("mode producer calls node.Submit in this process, where no node runs with one process per node: use mode http"))
	}
	if o.Procs && o.Binary == "" {
		errs = append(errs, errors.New("one process per node needs the jaminan binary to run"))
	}
	if len(o.Rates) == 0 {
		errs = append(errs, errors.New("rates: at least one"))
	}
	for _, r := range o.Rates {
		if r < 0 {
			errs = append(errs, fmt.Errorf("rates: %v is negative", r))
		}
	}
	if o.Duration < time.Second {
		errs = append(errs, fmt.Errorf("duration %v: at least 1s", o.Duration))
	}
	if o.Bureaus < 1 || o.Bureaus > len(devnet.Regions) || o.Ministry < 1 {
		errs = append(errs, fmt.Errorf("1–%d bureaus and at least 1 ministry node", len(devnet.Regions)))
	}
	return errors.Join(errs...)
}

// Run starts the network, runs the steps, the catch-up and the component ceilings, and
// returns the report. The context bounds the whole run.
func Run(ctx context.Context, o Options) (_ *Report, err error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	rep := newReport(o)
	if o.Procs {
		return runProcs(ctx, o, rep)
	}
	var bureau []bool
	idx := 0
	names := map[string]int{}
	var tr *tracker
	dopts := devnet.Options{Dir: o.Dir, Ministry: o.Ministry, Bureaus: o.Bureaus, Fast: true, Logger: o.Logger,
		Configure: func(name string, cfg *node.Config, nopts *node.Options) {
			i := idx
			idx++
			names[name] = i
			o.tune(cfg)
			nopts.OnCommitted = func(_ *ledger.CheckpointBody, res *ledger.Result) { tr.committed(res) }
		}}
	for range o.Ministry {
		bureau = append(bureau, false)
	}
	for range o.Bureaus {
		bureau = append(bureau, true)
	}
	tr = newTracker(bureau)
	fmt.Fprintf(o.Out, "starting %d ministry + %d bureau nodes in one process\n", o.Ministry, o.Bureaus)
	d, err := devnet.Start(dopts)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = d.Close(cctx) // the run already failed; that error is the one to report
		}
	}()
	for i, e := range d.Entries {
		rep.Nodes = append(rep.Nodes, NodeReport{Name: e.Name, Role: e.Role, dir: filepath.Join(d.Dir, e.Name)})
		if names[e.Name] != i {
			return nil, fmt.Errorf("bench: node %s started out of order", e.Name)
		}
	}

	// The poller turns each node's final sequence into the tracker's view; nodes are read
	// under nmu because the catch-up replaces one.
	var nmu sync.Mutex
	nodes := append([]*node.Node(nil), d.Nodes...)
	pctx, stopPoll := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			nmu.Lock()
			for i, n := range nodes {
				if n != nil {
					tr.observe(i, n.Final().Seq, time.Now())
				}
			}
			nmu.Unlock()
		}
	}()
	defer func() { stopPoll(); pwg.Wait() }()

	regions := map[string]workload.Region{}
	for _, r := range workload.DefaultRegions() {
		regions[r.Province] = r
	}
	drv := &driver{tr: tr, offset: int(d.Genesis.UTCOffset), conc: o.Concurrency}
	for i, e := range d.Entries {
		if e.Role != ledger.RoleBureau {
			continue
		}
		s := newSource(o.Seed+uint64(i), regions[e.Region], o.Workers, o.MonthsBack, d.Genesis, d.Pepper)
		s.node, s.local = d.Nodes[i], o.Mode == ModeProducer
		s.cl = client.New(e.HTTP, e.Token)
		drv.sources = append(drv.sources, s)
	}

	// Warm-up: a small load until the first records are final everywhere (leader elected,
	// meshes formed), so that the first step does not measure start-up.
	fmt.Fprintln(o.Out, "warming up")
	if err := warm(ctx, drv, tr); err != nil {
		return nil, fmt.Errorf("bench: warm-up: %w", err)
	}
	_, final, _, _, err := runSteps(ctx, o, drv, tr, rep, inProcess{})
	if err != nil {
		return nil, err
	}

	if o.CatchUp && final > 0 {
		_, final, _, seq := waitQuiet(ctx, o, tr, rep)
		fmt.Fprintln(o.Out, "catch-up: wiping the last bureau")
		i := len(nodes) - 1
		nmu.Lock()
		nodes[i] = nil
		nmu.Unlock()
		cu, n, err := catchUp(ctx, d, i, seq, final)
		if n != nil {
			nmu.Lock()
			nodes[i] = n
			nmu.Unlock()
		}
		if err := reportCatchUp(ctx, o, rep, cu, err); err != nil {
			return nil, err
		}
	}
	stopPoll()
	pwg.Wait()
	// A node still applying a backlog stops its consensus only after the checkpoint at hand:
	// give it time (a node whose consensus does not stop in time closes its stores later).
	cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cerr := d.Close(cctx)
	cancel()
	closed = true
	if cerr != nil {
		// Measured already: a node that does not stop in time (still applying a backlog) is
		// worth knowing, not worth the report.
		rep.Warnings = append(rep.Warnings, "stop the network: "+cerr.Error())
		fmt.Fprintf(o.Out, "warning: stop the network: %v\n", cerr)
	}
	if err := measureCeilings(ctx, o, rep); err != nil {
		return nil, err
	}
	rep.finish()
	return rep, nil
}

// waitQuiet waits (up to 4 × o.Drain) until every acknowledged record is final everywhere, so
// that the catch-up is measured on a quiet network, and updates the report's totals.
func waitQuiet(ctx context.Context, o Options, tr *tracker, rep *Report) (acked, final, ok int64, seq uint64) {
	for deadline := time.Now().Add(4 * o.Drain); time.Now().Before(deadline) && ctx.Err() == nil; {
		if nf, behind := tr.outstanding(); nf == 0 && behind <= 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	acked, final, ok, seq = tr.totals()
	rep.RecordsAcked, rep.RecordsFinal, rep.RecordsOK, rep.FinalSeq = acked, final, ok, seq
	if _, behind := tr.outstanding(); behind > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("catch-up started with %d acknowledged records not yet final everywhere", behind))
	}
	return acked, final, ok, seq
}

// meter measures what the network costs while the steps run.
type meter interface {
	// cpu is the CPU time used so far by the nodes and, where it runs apart from them, by the
	// harness (0 when the nodes run in the harness's process).
	cpu() (nodes, harness time.Duration)
	// sample is the memory in use now, over all nodes: resident set and Go heap in use.
	sample() (rss, heap uint64)
}

// inProcess meters the one process that holds every node and the harness.
type inProcess struct{}

func (inProcess) cpu() (time.Duration, time.Duration) { return cpuTime(), 0 }

func (inProcess) sample() (uint64, uint64) {
	var mstat runtime.MemStats
	runtime.ReadMemStats(&mstat)
	return vmRSS(), mstat.HeapInuse
}

// runSteps runs the warmed-up network through the offered rates and fills the report's steps,
// totals, CPU and disk figures. It returns the tracker's totals at the end of the last drain.
func runSteps(ctx context.Context, o Options, drv *driver, tr *tracker, rep *Report, m meter) (acked, final, ok int64, seq uint64, err error) {
	rep.LoadAvgStart, rep.Nice = loadAvg(), nice()
	_, final0, _, _ := tr.totals()
	cpu0, hcpu0 := m.cpu()
	wall0 := time.Now()
	overloaded := false
	for k, rate := range o.Rates {
		overloaded = overloaded || (k > 0 && rep.Steps[k-1].Unfinished > 0)
		if overloaded {
			// The network did not absorb a step: a higher load would only measure its backlog.
			rep.Steps = append(rep.Steps, Step{Offered: rate, Skipped: true})
			fmt.Fprintf(o.Out, "offered %s/s: skipped, a lower load did not drain\n", fmtRate(rate))
			continue
		}
		st, err := runStep(ctx, o, drv, tr, k, rate, m)
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("bench: step %d: %w", k, err)
		}
		rep.Steps = append(rep.Steps, st)
		fmt.Fprintln(o.Out, st.line())
	}
	rep.LoadAvgEnd = loadAvg()
	acked, final, ok, seq = tr.totals()
	if final > final0 {
		cpu1, hcpu1 := m.cpu()
		secs := time.Since(wall0).Seconds()
		rep.CPUMicrosPerRecord = float64((cpu1 - cpu0).Microseconds()) / float64(final-final0)
		rep.CPUCores = (cpu1 - cpu0).Seconds() / secs
		rep.HarnessCPUMicrosPerRecord = float64((hcpu1 - hcpu0).Microseconds()) / float64(final-final0)
	}
	rep.RecordsAcked, rep.RecordsFinal, rep.RecordsOK, rep.FinalSeq = acked, final, ok, seq
	rep.ConverterRejected = drv.rejected()
	rep.SubmitErrors = drv.errs.Load()
	if v, ok := drv.lastErr.Load().(string); ok {
		rep.LastSubmitError = v
	}
	for i := range rep.Nodes {
		rep.Nodes[i].DiskBytes = dirSize(rep.Nodes[i].dir)
		if final > 0 {
			rep.Nodes[i].DiskBytesPerRecord = float64(rep.Nodes[i].DiskBytes) / float64(final)
		}
	}

	return acked, final, ok, seq, nil
}

// measureCeilings measures the component ceilings into the report, if asked.
func measureCeilings(ctx context.Context, o Options, rep *Report) error {
	if o.Ceilings {
		fmt.Fprintln(o.Out, "measuring the component ceilings")
		var warns []string
		rep.Ceilings, warns = ceilings(ctx, o)
		rep.Warnings = append(rep.Warnings, warns...)
		if ctx.Err() != nil {
			return fmt.Errorf("bench: ceilings: %w", ctx.Err())
		}
	}
	return nil
}

func (d *driver) rejected() int64 {
	var n int64
	for _, s := range d.sources {
		n += s.bad.Load()
	}
	return n
}

// warm offers 200 records/s until some acknowledged record is final on every node (at most 90 s).
func warm(ctx context.Context, drv *driver, tr *tracker) error {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); drv.run(wctx, 200) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if _, final, _, _ := tr.totals(); final > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("no record final on every node within 90 s")
}

// runStep offers rate for o.Warmup+o.Duration, measures the window, then waits (up to o.Drain)
// for every acknowledged record to be final on every node.
func runStep(ctx context.Context, o Options, drv *driver, tr *tracker, k int, rate float64, m meter) (Step, error) {
	st := Step{Offered: rate}
	shed0, errs0, busy0 := drv.shed.Load(), drv.errs.Load(), drv.busy.Load()
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); drv.run(lctx, rate) }()
	from := time.Now().Add(o.Warmup)
	to := from.Add(o.Duration)
	tr.startWindow(k, from, to)
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(from)):
	}
	cpu0, hcpu0 := m.cpu()
	wall0 := time.Now()
	var rss, heap uint64
	for time.Now().Before(to) && ctx.Err() == nil {
		r, h := m.sample()
		rss, heap = max(rss, r), max(heap, h)
		select {
		case <-ctx.Done():
		case <-time.After(min(500*time.Millisecond, time.Until(to))):
		}
	}
	cpu1, hcpu1 := m.cpu()
	wall1 := time.Now()
	cancel()
	<-done
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	secs := wall1.Sub(wall0).Seconds()
	acked, final := tr.window()
	st.Seconds = secs
	st.AckedPerSec = float64(acked) / secs
	st.FinalPerSec = float64(final) / secs
	st.CPUCores = (cpu1 - cpu0).Seconds() / secs
	st.HarnessCPUCores = (hcpu1 - hcpu0).Seconds() / secs
	if final > 0 {
		st.CPUMicrosPerRecord = float64((cpu1 - cpu0).Microseconds()) / float64(final)
		st.ProjectedPerSec = float64(runtime.NumCPU()) * 1e6 / st.CPUMicrosPerRecord
	}
	st.RSSMiB, st.HeapMiB = float64(rss)/(1<<20), float64(heap)/(1<<20)
	st.Shed = drv.shed.Load() - shed0
	st.Busy = drv.busy.Load() - busy0
	st.SubmitErrors = drv.errs.Load() - errs0
	drainFrom := time.Now()
	for {
		nf, behind := tr.outstanding()
		if nf == 0 && behind <= 0 {
			break
		}
		if time.Since(drainFrom) > o.Drain || ctx.Err() != nil {
			st.Unfinished = int64(nf)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.DrainSeconds = time.Since(drainFrom).Seconds()
	lat := tr.latencies(k)
	st.Samples = len(lat)
	st.P50ms, st.P95ms, st.P99ms = ms(percentile(lat, .50)), ms(percentile(lat, .95)), ms(percentile(lat, .99))
	if len(lat) > 0 {
		st.MaxMs = ms(lat[len(lat)-1])
	}
	first, spread, ckpts, ckRecs := tr.stages(k)
	st.FirstSamples, st.SpreadSamples = len(first), len(spread)
	st.P50FirstMs, st.P99FirstMs = ms(percentile(first, .50)), ms(percentile(first, .99))
	st.P50SpreadMs, st.P99SpreadMs = ms(percentile(spread, .50)), ms(percentile(spread, .99))
	st.CheckpointsPerSec = float64(ckpts) / secs
	if ckpts > 0 {
		st.RecordsPerCheckpoint = float64(ckRecs) / float64(ckpts)
	}
	return st, nil
}

// reportCatchUp puts the catch-up's figures, or the reason it failed, in the report; it fails
// only when the run was cancelled.
func reportCatchUp(ctx context.Context, o Options, rep *Report, cu *CatchUp, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("bench: catch-up: %w", ctx.Err())
	case err != nil:
		rep.Warnings = append(rep.Warnings, "catch-up: "+err.Error())
		fmt.Fprintf(o.Out, "warning: catch-up: %v\n", err)
	default:
		rep.CatchUp = cu
		fmt.Fprintf(o.Out, "catch-up (%s): %d records in %.1f s: %.0f records/s\n", cu.Path, cu.Records, cu.Seconds, cu.RecordsPerSec)
	}
	return nil
}

// catchUp wipes node i and times it until it serves final sequence seq, which holds records records.
func catchUp(ctx context.Context, d *devnet.Devnet, i int, seq uint64, records int64) (*CatchUp, *node.Node, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute) // stopping a node still applying takes a while
	err := d.Wipe(wctx, i)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	n := d.Nodes[i]
	started := time.Since(start)
	running := time.Now() // the empty node is up: from here on it only catches up
	deadline := start.Add(5 * time.Minute)
	for n.Final().Seq < seq {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, n, fmt.Errorf("%s reached final %d of %d in 5 minutes", d.Entries[i].Name, n.Final().Seq, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
	secs := time.Since(running).Seconds()
	return newCatchUp(d.Entries[i].Name, seq, records, secs, started.Seconds(), n.JoinedFrom()), n, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmRSS is the process's resident set size in bytes (0 where /proc is not there).
func vmRSS() uint64 {
	return procStatus(os.Getpid(), "VmRSS")
}

// loadAvg is the first field of /proc/loadavg ("" where there is none): how busy the shared
// machine was.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// nice is the process's nice value (field 19 of /proc/self/stat; 0 where there is none): on a
// shared machine a positive one means the run got less than its share of the cores.
func nice() int {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:] // the command name may hold spaces
	}
	f := strings.Fields(s)
	if len(f) < 17 {
		return 0
	}
	var n int
	_, _ = fmt.Sscan(f[16], &n) // field 19 overall; fields 1 and 2 are cut off above
	return n
}

// dirSize is the bytes the regular files under dir take on disk (allocated blocks, as du
// counts them: badger's files are sparse). A ministry node's state snapshots (snapshots/, at
// most two full copies of the state) are left out: they are not per record.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && e.Name() == "snapshots" {
			return filepath.SkipDir
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				} else {
					n += fi.Size()
				}
			}
		}
		return nil
	})
	return n
}
