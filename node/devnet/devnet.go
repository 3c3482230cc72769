// Package devnet runs a whole Jaminan network in one process on loopback: ministry and bureau
// nodes (the real node: libp2p, Raft, badger on disk), keys, pepper and genesis generated into a
// data directory, devnet.json written for scripts, and a synthetic workload submitted to each
// bureau over its own HTTP API. `jaminan devnet` is a thin wrapper around it.
package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

// Network is the devnet's network name.
const Network = "jaminan-devnet"

// Regions are the bureaus' provinces, in order: Guangdong, Sichuan, Zhejiang, Beijing.
var Regions = []string{"44", "51", "33", "11"}

var regionNames = map[string]string{"44": "Guangdong", "51": "Sichuan", "33": "Zhejiang", "11": "Beijing"}

// Options configures a devnet.
type Options struct {
	// Dir is the data directory; empty: a new temporary directory, removed by Close.
	Dir string
	// Ministry and Bureaus are the node counts (default 3 and 4; at most 4 bureaus).
	Ministry, Bureaus int
	// HTTPPort is the first bureau's HTTP port; the others follow it (default 8080; 0: any
	// free ports). A port in use falls back to a free one, and Out says so.
	HTTPPort int
	// Logger receives the nodes' logs (nil: warnings and errors on stderr).
	Logger *slog.Logger
	// Out receives the messages for the user (nil: discarded).
	Out io.Writer
	// Fast uses loopback Raft timings and short block and checkpoint intervals.
	Fast bool
	// Configure, if set, adjusts each node's configuration and options just before it starts
	// (the benchmark's block size and measurement hooks); name is the node's name.
	Configure func(name string, cfg *node.Config, opts *node.Options)
	// ExtraMembers are written into a new genesis beside the devnet's own nodes: members
	// that run no node here (a test's hostile peer, an employer that signs requests).
	ExtraMembers []ledger.Member
}

// Entry is one node in devnet.json.
type Entry struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Region string `json:"region,omitempty"`
	HTTP   string `json:"http"`
	Token  string `json:"token"`
	PeerID string `json:"peer_id"`
}

// Devnet is a running network.
type Devnet struct {
	Dir     string
	Genesis *ledger.Genesis
	Nodes   []*node.Node
	Entries []Entry
	Pepper  []byte

	temp bool
	out  io.Writer
	log  *slog.Logger
	cfgs []node.Config  // each node's configuration, for Wipe
	opts []node.Options // each node's options (without the HTTP listener), for Wipe

	mu       sync.Mutex
	accepted map[string][]string // region → some accepted record IDs (most recent last)
	sent     atomic.Int64
	refused  atomic.Int64
	// Corrections and consents the workload made, accepted by the bureaus.
	corrections atomic.Int64
	consents    atomic.Int64
	contribs    atomic.Int64 // employee contributions acknowledged, to pick every 200th
}

type member struct {
	name, role, region string
	signer             *ledger.Signer
}

// sized returns opts with the default network size (3 ministry nodes, 4 bureaus) where it
// is not set, or an error for a size the devnet cannot have.
func (opts Options) sized() (Options, error) {
	if opts.Ministry == 0 {
		opts.Ministry = 3
	}
	if opts.Bureaus == 0 {
		opts.Bureaus = 4
	}
	if opts.Bureaus > len(Regions) || opts.Bureaus < 1 || opts.Ministry < 1 {
		return opts, fmt.Errorf("devnet: 1–%d bureaus and at least 1 ministry node", len(Regions))
	}
	return opts, nil
}

// Start creates (or reopens, when Dir holds one) a devnet and starts its nodes.
func Start(opts Options) (_ *Devnet, err error) {
	opts, err = opts.sized()
	if err != nil {
		return nil, err
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d := &Devnet{Dir: opts.Dir, out: opts.Out, log: opts.Logger, accepted: map[string][]string{}}
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "jaminan-devnet-"); err != nil {
			return nil, fmt.Errorf("devnet: %w", err)
		}
		d.temp = true
	}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = d.Close(ctx)
		}
	}()
	plan, members, err := prepare(opts, d.Dir)
	if err != nil {
		return nil, err
	}
	d.Genesis, d.Pepper = plan.Genesis, plan.Pepper
	// HTTP: bureaus first (the first bureau at HTTPPort), then the ministry nodes.
	order := append(make([]int, 0, len(members)), seq(opts.Ministry, len(members))...)
	order = append(order, seq(0, opts.Ministry)...)
	listeners := make([]net.Listener, len(members))
	for k, i := range order {
		want := 0
		if opts.HTTPPort != 0 {
			want = opts.HTTPPort + k
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", want))
		if err != nil && want != 0 {
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
				fmt.Fprintf(d.out, "port %d is taken: %s serves HTTP on %s instead\n", want, members[i].name, ln.Addr())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("devnet: HTTP listener for %s: %w", members[i].name, err)
		}
		listeners[i] = ln
	}
	closeListeners := func(from int) {
		for _, ln := range listeners[from:] {
			ln.Close()
		}
	}
	// Ministry nodes first: the bureaus' blocks have somewhere to go at once.
	for i, m := range members {
		cfg := plan.Configs[i]
		cfg.HTTP = listeners[i].Addr().String()
		nopts := node.Options{Logger: d.log, HTTPListener: listeners[i]}
		if opts.Configure != nil {
			opts.Configure(m.name, &cfg, &nopts)
		}
		n, err := node.Start(cfg, nopts)
		if err != nil {
			closeListeners(i + 1)
			return nil, fmt.Errorf("devnet: start %s: %w", m.name, err)
		}
		d.Nodes = append(d.Nodes, n)
		nopts.HTTPListener = nil
		d.cfgs, d.opts = append(d.cfgs, cfg), append(d.opts, nopts)
		e := plan.Entries[i]
		e.HTTP, e.Token = "http://"+n.HTTPAddr(), n.Token()
		d.Entries = append(d.Entries, e)
	}
	raw, err := json.MarshalIndent(map[string]any{"network": Network, "genesis": "genesis.json", "nodes": d.Entries}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "devnet.json"), append(raw, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("devnet: write devnet.json: %w", err)
	}
	return d, nil
}

// Plan is a devnet made on disk but not started: keys, pepper and genesis in Dir, and each
// node's configuration (ministry nodes first, then the bureaus in the order of Regions) with
// its data directory, libp2p listen address on 127.0.0.1 and every other node as a static
// peer. HTTP is left empty: whoever starts the nodes chooses it. Entries have no HTTP or token
// yet. The benchmark's one-process-per-node mode runs these configurations as `jaminan node`
// processes, so that both modes start the same network.
type Plan struct {
	Dir     string
	Genesis *ledger.Genesis
	Pepper  []byte
	Entries []Entry
	Configs []node.Config
}

// Prepare makes (or reuses, when opts.Dir holds them) a devnet's keys, pepper and genesis in
// opts.Dir, which must be set, and returns each node's configuration; it starts nothing.
// opts.Configure and opts.HTTPPort are not used.
func Prepare(opts Options) (*Plan, error) {
	if opts.Dir == "" {
		return nil, errors.New("devnet: prepare needs a data directory")
	}
	opts, err := opts.sized()
	if err != nil {
		return nil, err
	}
	p, _, err := prepare(opts, opts.Dir)
	return p, err
}

func prepare(opts Options, dir string) (*Plan, []member, error) {
	p := &Plan{Dir: dir}
	var err error
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("devnet: %w", err)
	}
	var members []member
	for i := 1; i <= opts.Ministry; i++ {
		members = append(members, member{name: fmt.Sprintf("ministry-%d", i), role: ledger.RoleMinistry})
	}
	for _, r := range Regions[:opts.Bureaus] {
		members = append(members, member{name: "bureau-" + r, role: ledger.RoleBureau, region: r})
	}
	for i := range members {
		path := filepath.Join(dir, members[i].name+".key")
		if members[i].signer, err = keyfile.Read(path); errors.Is(err, os.ErrNotExist) {
			members[i].signer, err = keyfile.Generate(path)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("devnet: key of %s: %w", members[i].name, err)
		}
	}
	pepperPath := filepath.Join(dir, "network.pepper")
	if _, err := os.Stat(pepperPath); errors.Is(err, os.ErrNotExist) {
		if err := keyfile.GeneratePepper(pepperPath); err != nil {
			return nil, nil, fmt.Errorf("devnet: pepper: %w", err)
		}
	}
	if p.Pepper, err = keyfile.ReadPepper(pepperPath); err != nil {
		return nil, nil, fmt.Errorf("devnet: pepper: %w", err)
	}
	if p.Genesis, err = genesis(filepath.Join(dir, "genesis.json"), members, opts.ExtraMembers); err != nil {
		return nil, nil, err
	}

	// libp2p ports are chosen before any node starts, so that every node's configuration can
	// name all the others as static peers.
	p2pPorts, err := freePorts(len(members))
	if err != nil {
		return nil, nil, fmt.Errorf("devnet: %w", err)
	}
	addr := func(i int) string {
		return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p2pPorts[i], members[i].signer.ID())
	}
	for i, m := range members {
		cfg := node.DefaultConfig()
		cfg.DataDir = filepath.Join(dir, m.name)
		cfg.Key = filepath.Join(dir, m.name+".key")
		cfg.Genesis = filepath.Join(dir, "genesis.json")
		cfg.Pepper = pepperPath
		cfg.HTTP = ""
		cfg.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPorts[i])}
		for j := range members {
			if j != i {
				cfg.Peers = append(cfg.Peers, addr(j))
			}
		}
		cfg.SyncInterval = node.Duration{Duration: 3 * time.Second}
		if opts.Fast {
			cfg.RaftTimings = "fast"
			cfg.BlockInterval = node.Duration{Duration: 100 * time.Millisecond}
			cfg.CheckpointInterval = node.Duration{Duration: 100 * time.Millisecond}
		}
		p.Configs = append(p.Configs, cfg)
		p.Entries = append(p.Entries, Entry{Name: m.name, Role: m.role, Region: m.region, PeerID: m.signer.ID().String()})
	}
	return p, members, nil
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// genesis reads the devnet's genesis, or writes a new one for the members.
func genesis(path string, members []member, extra []ledger.Member) (*ledger.Genesis, error) {
	if raw, err := os.ReadFile(path); err == nil {
		g, err := ledger.ParseGenesisJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("devnet: %s: %w", path, err)
		}
		return g, nil
	}
	g := &ledger.Genesis{Network: Network, Time: uint64(time.Now().Add(-time.Minute).UnixMilli()), Params: ledger.DefaultParams(),
		UTCOffset: 8 * 3600}
	for _, m := range members {
		name := m.name
		if m.role == ledger.RoleBureau {
			name = regionNames[m.region] + " social insurance bureau"
		}
		g.Members = append(g.Members, ledger.Member{ID: m.signer.ID(), Role: m.role, Region: m.region, Name: name})
	}
	g.Members = append(g.Members, extra...)
	g.Normalise()
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("devnet: genesis: %w", err)
	}
	raw, err := g.JSON()
	if err != nil {
		return nil, fmt.Errorf("devnet: genesis: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("devnet: write genesis: %w", err)
	}
	return g, nil
}

// FreePort returns a free loopback TCP port that is not in used, and adds it to used: the
// kernel may hand a just-closed port out again, and two nodes told to listen on one port make
// one of them answer the other's protocol.
func FreePort(used map[int]bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !used[port] {
			used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no distinct free port in 100 tries")
}

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// Bureau returns the devnet.json entry and client of the bureau of a province.
func (d *Devnet) Bureau(region string) (Entry, *client.Client, bool) {
	for _, e := range d.Entries {
		if e.Role == ledger.RoleBureau && e.Region == region {
			return e, client.New(e.HTTP, e.Token), true
		}
	}
	return Entry{}, nil, false
}

// Accepted returns record IDs the workload got accepted at the bureau of region (up to the
// most recent 1000).
func (d *Devnet) Accepted(region string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.accepted[region]...)
}

// Counts returns how many workload records were acknowledged and refused so far.
func (d *Devnet) Counts() (sent, refused int64) { return d.sent.Load(), d.refused.Load() }

// Extras returns how many corrections and consents of the workload the bureaus accepted.
func (d *Devnet) Extras() (corrections, consents int64) {
	return d.corrections.Load(), d.consents.Load()
}

// correctionOf is a wrong_amount correction of the accepted contribution id: the same month at
// a wage 100 yuan higher.
func correctionOf(id string, in intake.Input) *intake.Input {
	repl := in
	wage := *in.Wage + 10000
	repl.Wage, repl.EmployeeAmount, repl.EmployerAmount = &wage, nil, nil
	return &intake.Input{Type: "correction", Target: id, Reason: "wrong_amount", Record: &repl}
}

// RunLoad submits a synthetic workload at rate records per second, each record to the bureau
// of its region over HTTP, until ctx ends. Transfers the workload generates are applied for at
// the bureau of the new place.
func (d *Devnet) RunLoad(ctx context.Context, rate float64, seed uint64) {
	if rate <= 0 {
		return
	}
	var regions []workload.Region
	clients := map[string]*client.Client{}
	for _, r := range workload.DefaultRegions() {
		if _, c, ok := d.Bureau(r.Province); ok {
			regions = append(regions, r)
			clients[r.Province] = c
		}
	}
	if len(regions) == 0 {
		return
	}
	now := civil.DateOfUnixMilli(time.Now().UnixMilli(), 8*3600)
	start := now.Period()
	for range 24 { // two years back, so that the months generated stay in the past for hours
		if start.Month == 1 {
			start = civil.MustPeriod(start.Year-1, 12)
		} else {
			start = civil.MustPeriod(start.Year, start.Month-1)
		}
	}
	gen := workload.New(seed, regions, 4000, start)
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	credit := 0.0
	var wg sync.WaitGroup
	defer wg.Wait()
	// async calls f with the bureau's client in the background, with a 30 s deadline; a region
	// without a bureau is skipped. RunLoad waits for every call before it returns.
	async := func(c *client.Client, f func(context.Context, *client.Client)) {
		if c == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			f(rctx, c)
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		credit += rate * tick.Seconds()
		batches := map[string][]intake.Input{}
		for credit >= 1 {
			for _, in := range gen.Next() {
				if len(in.Region) >= 2 {
					batches[in.Region[:2]] = append(batches[in.Region[:2]], in)
				}
				credit--
			}
		}
		moves := gen.Transfers()
		for region, recs := range batches {
			async(clients[region], func(rctx context.Context, c *client.Client) {
				res, err := c.Submit(rctx, recs)
				if err != nil {
					if ctx.Err() == nil {
						d.log.Warn("devnet workload: submit", "region", region, "err", err)
					}
					d.refused.Add(int64(len(recs)))
					return
				}
				d.sent.Add(int64(len(res.Accepted)))
				d.refused.Add(int64(len(res.Rejected)))
				d.mu.Lock()
				var fix *intake.Input
				for _, a := range res.Accepted {
					d.accepted[region] = append(d.accepted[region], a.ID)
					// About one employee contribution in 200 turns out to have the wrong wage
					// and is corrected by its bureau; the original stays in history.
					if in := recs[a.Index]; in.Type == "contribution" && in.Wage != nil && d.contribs.Add(1)%200 == 0 && fix == nil {
						fix = correctionOf(a.ID, in)
					}
				}
				if n := len(d.accepted[region]); n > 1000 {
					d.accepted[region] = d.accepted[region][n-1000:]
				}
				d.mu.Unlock()
				if fix != nil {
					if res, err := c.Submit(rctx, []intake.Input{*fix}); err == nil && len(res.Accepted) == 1 {
						d.corrections.Add(1)
					} else if ctx.Err() == nil {
						d.log.Info("devnet workload: correction", "region", region, "err", err)
					}
				}
			})
		}
		for _, cs := range gen.Consents() {
			async(clients[cs.Province], func(rctx context.Context, c *client.Client) {
				body := map[string]string{"grantee": cs.Grantee, "scope": cs.Scope}
				if err := c.Post(rctx, "/v1/workers/"+cs.WorkerID+"/consents", body, nil); err == nil {
					d.consents.Add(1)
				} else if ctx.Err() == nil {
					d.log.Info("devnet workload: consent", "region", cs.Province, "err", err)
				}
			})
		}
		for _, m := range moves {
			async(clients[m.To], func(rctx context.Context, c *client.Client) {
				if _, err := c.ApplyTransfer(rctx, m.WorkerID, m.From, m.To); err != nil && ctx.Err() == nil {
					d.log.Info("devnet workload: transfer application", "from", m.From, "to", m.To, "err", err)
				}
			})
		}
	}
}

// Wipe stops node i, deletes its data directory and starts it again empty, with the same key,
// configuration and addresses: it then catches up from its peers. The benchmark times that.
func (d *Devnet) Wipe(ctx context.Context, i int) error {
	if i < 0 || i >= len(d.Nodes) {
		return fmt.Errorf("devnet: no node %d", i)
	}
	name := d.Entries[i].Name
	if err := d.Nodes[i].Close(ctx); err != nil {
		return fmt.Errorf("devnet: stop %s: %w", name, err)
	}
	if err := os.RemoveAll(d.cfgs[i].DataDir); err != nil {
		return fmt.Errorf("devnet: wipe %s: %w", name, err)
	}
	n, err := node.Start(d.cfgs[i], d.opts[i])
	if err != nil {
		return fmt.Errorf("devnet: restart %s: %w", name, err)
	}
	d.Nodes[i] = n
	d.Entries[i].Token = n.Token()
	return nil
}

// PrintSummary writes the nodes' URLs and tokens.
func (d *Devnet) PrintSummary(w io.Writer) {
	fmt.Fprintf(w, "jaminan devnet: %d nodes, network %s, data in %s\n", len(d.Entries), Network, d.Dir)
	// Bureaus first: they are where records go in.
	var first string
	for _, role := range []string{ledger.RoleBureau, ledger.RoleMinistry} {
		for _, e := range d.Entries {
			if e.Role != role {
				continue
			}
			if first == "" {
				first = e.HTTP
			}
			region := e.Region
			if region == "" {
				region = "--"
			}
			fmt.Fprintf(w, "  %-12s %-8s region %-2s  %-24s token %s\n", e.Name, e.Role, region, e.HTTP, e.Token)
		}
	}
	fmt.Fprintf(w, "devnet.json: %s\n", filepath.Join(d.Dir, "devnet.json"))
	if first != "" {
		fmt.Fprintf(w, "try: curl -s %s/v1/status\n", first)
	}
}

// Close stops every node (bureaus first, then the ministry) and removes a temporary directory.
func (d *Devnet) Close(ctx context.Context) error {
	var errs []error
	for i := len(d.Nodes) - 1; i >= 0; i-- {
		if err := d.Nodes[i].Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", d.Entries[i].Name, err))
		}
	}
	d.Nodes = nil
	if d.temp {
		if err := os.RemoveAll(d.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
