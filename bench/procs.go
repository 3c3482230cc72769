package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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

// With Options.Procs every node is a `jaminan node` process of its own, started from the same
// devnet plan (keys, pepper, genesis, peers, fast Raft timings) and the same node tuning as the
// in-process network. Records go in over HTTP. The tracker learns the same two facts as in
// process, from the nodes' HTTP APIs instead of hooks:
//   - "checkpoint s is final and applied on node i" from node i's event stream (GET /v1/events):
//     the node sends checkpoint s once its read view, which moves only to applied final
//     checkpoints, reaches it; the harness notes the time it reads the event;
//   - which records checkpoint s holds from GET /v1/checkpoints/s and its blocks'
//     GET /v1/blocks/{hash}, asked once per checkpoint of one node that has it.
// The observations are handed to the tracker in the order of their times, and only once the
// checkpoint's records are known, so the definitions and the bookkeeping are the in-process ones.

// nodeProc is one node process.
type nodeProc struct {
	name, role, region string
	cfgPath, logPath   string
	dataDir, tokenPath string
	http               string // host:port

	mu      sync.Mutex
	token   string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been reaped
	exitErr error
	pid     int
}

func (p *nodeProc) state() (token string, pid int, done chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.token, p.pid, p.done
}

func (p *nodeProc) url() string { return "http://" + p.http }

// procNet is the running processes.
type procNet struct {
	bin   string
	nodes []*nodeProc
	hc    *http.Client // API requests of the harness (not the load)
	spawn chan spawnReq
	once  sync.Once
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// spawner starts every node process from one locked OS thread: a child's parent-death signal
// (SIGTERM, set on every node) fires when the thread that started it ends, and this thread
// lives as long as the harness, so a harness that dies without cleaning up (SIGKILL) still
// takes its nodes with it.
func (pn *procNet) spawner() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for r := range pn.spawn {
		r.err <- r.cmd.Start()
	}
}

// start starts p's process, its output appended to p's log file.
func (pn *procNet) start(p *nodeProc) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	fmt.Fprintf(logf, "=== jaminan bench: start at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(pn.bin, "node", "--config", p.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The node reads JAMINAN_* variables over its file: the harness's environment must not
	// change the configuration both modes share.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JAMINAN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Its own process group, so that a terminal's Ctrl-C reaches the harness only, which
	// then stops the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	errc := make(chan error, 1)
	pn.spawn <- spawnReq{cmd: cmd, err: errc}
	if err := <-errc; err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.pid, p.token, p.exitErr = cmd, done, cmd.Process.Pid, "", nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// stop sends SIGTERM to p's process group and waits up to within for the exit, then kills it.
// A process that had exited before it was asked to is an error too.
func (pn *procNet) stop(p *nodeProc, within time.Duration) error {
	_, pid, done := p.state()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cmd == nil {
			return nil
		}
		p.cmd = nil
		return fmt.Errorf("%s had exited before it was stopped (%v; see %s)", p.name, p.exitErr, p.logPath)
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	var err error
	select {
	case <-done:
		p.mu.Lock()
		if p.exitErr != nil {
			err = fmt.Errorf("%s: exit after SIGTERM: %w (see %s)", p.name, p.exitErr, p.logPath)
		}
		p.mu.Unlock()
	case <-time.After(within):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("%s did not stop within %v of SIGTERM and was killed (see %s)", p.name, within, p.logPath)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return err
}

// close stops every process at once (each bounded by within) and the spawner. It is safe to
// call more than once: only the first call stops anything.
func (pn *procNet) close(within time.Duration) error {
	var err error
	pn.once.Do(func() {
		errs := make([]error, len(pn.nodes))
		var wg sync.WaitGroup
		for i, p := range pn.nodes {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = pn.stop(p, within) }()
		}
		wg.Wait()
		close(pn.spawn)
		err = errors.Join(errs...)
	})
	return err
}

// waitUp waits, bounded, until p's token file exists and p answers its status, with at least
// minPeers peers.
func (pn *procNet) waitUp(ctx context.Context, p *nodeProc, within time.Duration, minPeers int) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	_, _, done := p.state()
	var last error
	for {
		token, _, _ := p.state()
		if token == "" {
			raw, err := os.ReadFile(p.tokenPath)
			if token = strings.TrimSpace(string(raw)); err == nil && token != "" {
				p.mu.Lock()
				p.token = token
				p.mu.Unlock()
			}
			last = err
		}
		if token != "" {
			cl := client.New(p.url(), "")
			cl.HTTP = pn.hc
			s, err := cl.Status(ctx)
			if err == nil && s.Peers >= minPeers {
				return nil
			}
			last = err
			if err == nil {
				last = fmt.Errorf("%d peers", s.Peers)
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting (see %s)", p.name, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s not up within %v (last: %v; see %s)", p.name, within, last, p.logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startProcs writes each node's configuration into dir and starts the processes, ministry
// first, and waits until every node answers with a peer.
func startProcs(ctx context.Context, o Options, plan *devnet.Plan) (*procNet, error) {
	pn := &procNet{bin: o.Binary, hc: &http.Client{Timeout: 30 * time.Second}, spawn: make(chan spawnReq)}
	go pn.spawner()
	used := map[int]bool{}
	for _, cfg := range plan.Configs {
		for _, l := range cfg.Listen {
			if i := strings.LastIndex(l, "/tcp/"); i >= 0 {
				if port, err := strconv.Atoi(l[i+len("/tcp/"):]); err == nil {
					used[port] = true
				}
			}
		}
	}
	for i, cfg := range plan.Configs {
		e := plan.Entries[i]
		port, err := devnet.FreePort(used)
		if err != nil {
			_ = pn.close(time.Second)
			return nil, err
		}
		cfg.HTTP = fmt.Sprintf("127.0.0.1:%d", port)
		cfg.LogLevel = "warn"
		o.tune(&cfg)
		p := &nodeProc{name: e.Name, role: e.Role, region: e.Region, cfgPath: filepath.Join(plan.Dir, e.Name+".json"),
			logPath: filepath.Join(plan.Dir, e.Name+".log"), dataDir: cfg.DataDir, tokenPath: cfg.TokenFile, http: cfg.HTTP}
		if p.tokenPath == "" {
			p.tokenPath = filepath.Join(cfg.DataDir, "operator.token")
		}
		raw, err := json.MarshalIndent(cfg, "", "  ")
		if err == nil {
			err = os.WriteFile(p.cfgPath, append(raw, '\n'), 0o600)
		}
		if err != nil {
			_ = pn.close(time.Second)
			return nil, fmt.Errorf("configuration of %s: %w", e.Name, err)
		}
		pn.nodes = append(pn.nodes, p)
	}
	for _, p := range pn.nodes {
		if err := pn.start(p); err != nil {
			return pn, err
		}
	}
	for _, p := range pn.nodes {
		if err := pn.waitUp(ctx, p, 90*time.Second, 1); err != nil {
			return pn, err
		}
	}
	return pn, nil
}

// tune applies the run's node tuning: the same in both modes.
func (o *Options) tune(cfg *node.Config) {
	cfg.BlockRecords = o.BlockRecords
	cfg.BlockInterval = node.Duration{Duration: o.BlockInterval}
	cfg.CheckpointInterval = node.Duration{Duration: o.CheckpointInterval}
	cfg.SnapshotInterval = uint64(max(o.SnapshotInterval, 0))
	cfg.FastJoin = o.SnapshotInterval > 0
	cfg.FastJoinLag = benchFastJoinLag
}

// obs is node i serving final checkpoint seq, seen at time at.
type obs struct {
	i   int
	seq uint64
	at  time.Time
}

// stream follows node i's event stream until ctx ends, reconnecting (a stopped or restarted
// node) from the checkpoint after the last one seen.
func (pn *procNet) stream(ctx context.Context, i int, out chan<- obs) {
	p := pn.nodes[i]
	cl := client.New(p.url(), "") // HTTP nil: a stream without an overall timeout
	var last uint64
	for ctx.Err() == nil {
		_ = cl.Events(ctx, last+1, 0, func(ev client.Event) error {
			last = max(last, ev.Seq)
			select {
			case out <- obs{i: i, seq: ev.Seq, at: time.Now()}:
			case <-ctx.Done():
			}
			return nil
		}) // an error is a stopped or restarted node: follow it again
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// feed hands the observations to the tracker in the order of their times, each once the
// records of its checkpoint are known, until ctx ends. The last error fetching a checkpoint's
// records goes to *lastErr (under mu) for the report.
func (pn *procNet) feed(ctx context.Context, in <-chan obs, tr *tracker, mu *sync.Mutex, lastErr *string) {
	var pending []obs
	var known uint64                        // the records of checkpoints up to this one are known
	latest := make([]uint64, len(pn.nodes)) // the last checkpoint each node was seen serving
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ob := <-in:
			pending = append(pending, ob)
			latest[ob.i] = max(latest[ob.i], ob.seq)
			continue // take what is queued before the slower work below
		case <-t.C:
		}
	fetch:
		for known < slices.Max(latest) {
			seq := known + 1
			var err error
			for i, p := range pn.nodes {
				if latest[i] < seq {
					continue
				}
				var ids []ledger.Hash
				if ids, err = pn.records(ctx, p, seq); err == nil {
					tr.contents(seq, ids, 0)
					known = seq
					continue fetch
				}
			}
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				*lastErr = fmt.Sprintf("records of checkpoint %d: %v", seq, err)
				mu.Unlock()
			}
			break
		}
		slices.SortStableFunc(pending, func(a, b obs) int { return a.at.Compare(b.at) })
		k := 0
		for ; k < len(pending) && pending[k].seq <= known; k++ {
			tr.observe(pending[k].i, pending[k].seq, pending[k].at)
		}
		pending = append(pending[:0], pending[k:]...)
	}
}

// records returns the IDs of the records of checkpoint seq, as node p serves them.
func (pn *procNet) records(ctx context.Context, p *nodeProc, seq uint64) ([]ledger.Hash, error) {
	token, _, _ := p.state()
	cl := client.New(p.url(), token)
	cl.HTTP = pn.hc
	var cp struct {
		Blocks []ledger.Hash `json:"blocks"`
	}
	if err := cl.Get(ctx, fmt.Sprintf("/v1/checkpoints/%d", seq), &cp); err != nil {
		return nil, fmt.Errorf("checkpoint from %s: %w", p.name, err)
	}
	var ids []ledger.Hash
	for _, h := range cp.Blocks {
		var b struct {
			Records []struct {
				ID ledger.Hash `json:"id"`
			} `json:"records"`
		}
		if err := cl.Get(ctx, "/v1/blocks/"+h.String(), &b); err != nil {
			return nil, fmt.Errorf("block %s from %s: %w", h, p.name, err)
		}
		for _, r := range b.Records {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// metric returns the value of the sample of a Prometheus text exposition whose line starts
// with name (with its labels, if any), and whether there was one.
func metric(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// scrape returns node p's /metrics text ("" on an error).
func (pn *procNet) scrape(ctx context.Context, p *nodeProc) string {
	raw, err := client.New(p.url(), "").DoRaw(ctx, http.MethodGet, "/metrics", "", nil)
	if err != nil {
		return ""
	}
	return string(raw)
}

// procMeter meters the node processes through /proc, and the harness through getrusage.
type procMeter struct {
	pn      *procNet
	sampled []uint64 // highest VmRSS sampled, by node
}

func (m *procMeter) cpu() (time.Duration, time.Duration) {
	var sum time.Duration
	for _, c := range m.perNode() {
		sum += c
	}
	return sum, cpuTime()
}

// perNode is each node process's user+system CPU so far (0 for one not running).
func (m *procMeter) perNode() []time.Duration {
	out := make([]time.Duration, len(m.pn.nodes))
	for i, p := range m.pn.nodes {
		_, pid, _ := p.state()
		out[i] = procCPU(pid)
	}
	return out
}

func (m *procMeter) sample() (rss, heap uint64) {
	for i, p := range m.pn.nodes {
		_, pid, _ := p.state()
		r := procStatus(pid, "VmRSS")
		m.sampled[i] = max(m.sampled[i], r)
		rss += r
		if v, ok := metric(m.pn.scrape(context.Background(), p), "go_memstats_heap_inuse_bytes"); ok {
			heap += uint64(v)
		}
	}
	return rss, heap
}

// clockTicks is the kernel's clock ticks per second (AT_CLKTCK of the auxiliary vector; 100,
// the Linux value, where it cannot be read).
var clockTicks = sync.OnceValue(func() float64 {
	raw, err := os.ReadFile("/proc/self/auxv")
	if err == nil && len(raw)%16 == 0 {
		for i := 0; i+16 <= len(raw); i += 16 {
			if binary.NativeEndian.Uint64(raw[i:]) == 17 { // AT_CLKTCK
				if v := binary.NativeEndian.Uint64(raw[i+8:]); v > 0 {
					return float64(v)
				}
			}
		}
	}
	return 100
})

// procCPU is process pid's user+system CPU time (fields 14 and 15 of /proc/PID/stat; 0 where
// there is none).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:] // the command name may hold spaces
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // field 14; fields 1 and 2 are cut off above
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(float64(ut+st) / clockTicks() * float64(time.Second))
}

// procStatus is a kB field of /proc/PID/status (VmRSS, VmHWM) in bytes (0 where there is none).
func procStatus(pid int, field string) uint64 {
	if pid <= 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return statusField(string(raw), field)
}

func statusField(status, field string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// runProcs is Run with one process per node.
func runProcs(ctx context.Context, o Options, rep *Report) (_ *Report, err error) {
	dir, temp := o.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "jaminan-bench-"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		temp = true
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		switch {
		case err != nil:
			err = fmt.Errorf("%w (node configurations, data and logs in %s)", err, dir)
		case temp:
			if rerr := os.RemoveAll(dir); rerr != nil {
				rep.Warnings = append(rep.Warnings, "remove the run directory: "+rerr.Error())
			}
		}
	}()
	plan, err := devnet.Prepare(devnet.Options{Dir: dir, Ministry: o.Ministry, Bureaus: o.Bureaus, Fast: true})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(o.Out, "starting %d ministry + %d bureau nodes, one process each (%s), in %s\n", o.Ministry, o.Bureaus, o.Binary, dir)
	pn, err := startProcs(ctx, o, plan)
	if pn != nil {
		// Every way out stops the processes; on the normal path this finds them stopped.
		defer func() {
			if cerr := pn.close(20 * time.Second); cerr != nil && err != nil {
				err = fmt.Errorf("%w; stop the network: %w", err, cerr)
			}
		}()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var bureau []bool
	for i, p := range pn.nodes {
		bureau = append(bureau, p.role == ledger.RoleBureau)
		_, pid, _ := p.state()
		rep.Nodes = append(rep.Nodes, NodeReport{Name: p.name, Role: p.role, dir: pn.nodes[i].dataDir, PID: pid})
	}
	tr := newTracker(bureau)

	// The event streams and the feeder run until the network stops.
	sctx, stopStreams := context.WithCancel(ctx)
	var swg sync.WaitGroup
	defer func() { stopStreams(); swg.Wait() }()
	events := make(chan obs, 4096)
	var feedMu sync.Mutex
	var feedErr string
	for i := range pn.nodes {
		swg.Add(1)
		go func() { defer swg.Done(); pn.stream(sctx, i, events) }()
	}
	swg.Add(1)
	go func() { defer swg.Done(); pn.feed(sctx, events, tr, &feedMu, &feedErr) }()

	regions := map[string]workload.Region{}
	for _, r := range workload.DefaultRegions() {
		regions[r.Province] = r
	}
	drv := &driver{tr: tr, offset: int(plan.Genesis.UTCOffset), conc: o.Concurrency}
	load := loadClient(o.Concurrency)
	for i, p := range pn.nodes {
		if p.role != ledger.RoleBureau {
			continue
		}
		s := newSource(o.Seed+uint64(i), regions[p.region], o.Workers, o.MonthsBack, plan.Genesis, plan.Pepper)
		token, _, _ := p.state()
		s.cl = client.New(p.url(), token)
		s.cl.HTTP = load
		drv.sources = append(drv.sources, s)
	}
	fmt.Fprintln(o.Out, "warming up")
	if err := warm(ctx, drv, tr); err != nil {
		return nil, fmt.Errorf("bench: warm-up: %w", err)
	}
	m := &procMeter{pn: pn, sampled: make([]uint64, len(pn.nodes))}
	cpu0 := m.perNode()
	_, final0, _, _ := tr.totals()
	_, final, _, _, err := runSteps(ctx, o, drv, tr, rep, m)
	if err != nil {
		return nil, err
	}
	cpu1 := m.perNode()
	okNode0 := func() {
		// The receipts' codes are not in the API's checkpoint or block: the count of records
		// applied with code OK is the first node's (never wiped) metric.
		if v, ok := metric(pn.scrape(ctx, pn.nodes[0]), `jaminan_node_records_applied_total{code="`+ledger.CodeOK+`"}`); ok {
			rep.RecordsOK = int64(v)
		}
	}
	okNode0()
	for i, p := range pn.nodes {
		_, pid, _ := p.state()
		nr := &rep.Nodes[i]
		nr.CPUSeconds = (cpu1[i] - cpu0[i]).Seconds()
		if final > final0 {
			nr.CPUMicrosPerRecord = float64((cpu1[i] - cpu0[i]).Microseconds()) / float64(final-final0)
		}
		nr.RSSPeakMiB = float64(procStatus(pid, "VmHWM")) / (1 << 20)
		nr.RSSSampledMiB = float64(m.sampled[i]) / (1 << 20)
	}

	if o.CatchUp && final > 0 {
		_, final, _, seq := waitQuiet(ctx, o, tr, rep)
		okNode0()
		fmt.Fprintln(o.Out, "catch-up: wiping the last bureau")
		cu, err := pn.catchUp(ctx, len(pn.nodes)-1, seq, final)
		if err := reportCatchUp(ctx, o, rep, cu, err); err != nil {
			return nil, err
		}
	}
	stopStreams()
	swg.Wait()
	if feedErr != "" {
		rep.Warnings = append(rep.Warnings, "tracking: "+feedErr)
	}
	// As in process, a node still applying a backlog takes a while to stop.
	if cerr := pn.close(3 * time.Minute); cerr != nil {
		rep.Warnings = append(rep.Warnings, "stop the network: "+cerr.Error())
		fmt.Fprintf(o.Out, "warning: stop the network: %v\n", cerr)
	}
	if err := measureCeilings(ctx, o, rep); err != nil {
		return nil, err
	}
	rep.finish()
	return rep, nil
}

// catchUp stops node i, deletes its data directory (the key, configuration and genesis stay:
// they are outside it), starts it again and times it, from when it answers until it serves
// final sequence seq, which holds records records.
func (pn *procNet) catchUp(ctx context.Context, i int, seq uint64, records int64) (*CatchUp, error) {
	p := pn.nodes[i]
	start := time.Now()
	if err := pn.stop(p, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("stop %s: %w", p.name, err)
	}
	if err := os.RemoveAll(p.dataDir); err != nil {
		return nil, fmt.Errorf("wipe %s: %w", p.name, err)
	}
	if err := pn.start(p); err != nil {
		return nil, err
	}
	if err := pn.waitUp(ctx, p, 90*time.Second, 0); err != nil {
		return nil, err
	}
	running := time.Now() // the empty node answers: from here on it only catches up
	cl := client.New(p.url(), "")
	cl.HTTP = pn.hc
	deadline := running.Add(5 * time.Minute)
	var at, base uint64
	for at < seq {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%s reached final %d of %d in 5 minutes", p.name, at, seq)
		}
		if s, err := cl.Status(ctx); err == nil {
			at, base = s.Finalized.Seq, s.HistoryStart
		}
		if at < seq {
			time.Sleep(5 * time.Millisecond)
		}
	}
	secs := time.Since(running).Seconds()
	return newCatchUp(p.name, seq, records, secs, running.Sub(start).Seconds(), base), nil
}

// loadClient is the HTTP client of the load: it keeps a connection per concurrent submitter.
func loadClient(conc int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conc, 2)
	return &http.Client{Timeout: time.Minute, Transport: tr}
}
