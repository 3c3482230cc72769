// Package torture is the torture suite (issue 8): it runs real `jaminan node` processes on
// loopback (one bureau in a network namespace of its own), drives a synthetic workload through
// the bureaus' HTTP API while it injects process, network, disk and clock faults and lets hostile
// parties loose (package torture/hostile), and then checks the promises of DESIGN.md §6: every
// acknowledged record final exactly once or rejected with a receipt, identical state roots at
// every common sequence, money conserved, no node dead that was not killed. The results go to
// docs/RELIABILITY.md.
package torture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/node/devnet"
)

// Regions are the honest bureaus' provinces; RogueRegion is the misbehaving member's.
var Regions = []string{"44", "51", "33", "11"}

// RogueRegion is the province of the registered bureau member that misbehaves.
const RogueRegion = "31"

// Options shape a cluster.
type Options struct {
	Dir    string // everything of the run: keys, genesis, configs, data, logs
	Bin    string // the built jaminan binary
	Logger *slog.Logger
	// NetNSRegion is the bureau that runs in a network namespace of its own (empty: none), so
	// that a partition can cut its traffic.
	NetNSRegion string
	// TmpfsRegion is the bureau whose data directory is on a tmpfs of TmpfsBytes (empty: none),
	// so that its disk can be filled.
	TmpfsRegion string
	TmpfsBytes  int64
}

// Proc is one node process.
type Proc struct {
	Name, Role, Region string
	ID                 string // peer ID
	Dir                string // data directory
	cfgPath, logPath   string
	HTTP               string // host:port
	P2P                string // full multiaddr with /p2p/
	Token              string
	NetNS              string
	Env                []string // extra environment of the next start (e.g. JAMINAN_CLOCK_OFFSET)

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	expect  bool // the next exit is one the harness caused
	running bool
	Starts  int
}

// Death is an exit of a node process the harness did not cause.
type Death struct {
	Node string
	At   time.Time
	Err  string
	// Crash is the start of what the process wrote when it died (a Go fatal error or panic),
	// if anything.
	Crash string
}

// crashOf returns the Go crash report in a log segment: from "fatal error:" or "panic:" on,
// the first lines and the first frame inside a module.
func crashOf(seg []byte) string {
	s := string(seg)
	i := strings.Index(s, "\nfatal error: ")
	if j := strings.Index(s, "\npanic: "); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if j := strings.Index(s, "\nunexpected fault address"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return ""
	}
	lines := strings.Split(s[i+1:], "\n")
	var out []string
	for k, l := range lines {
		if k < 4 || (strings.Contains(l, "(") && !strings.HasPrefix(l, "runtime.") && !strings.HasPrefix(l, "\t") && len(out) < 8) {
			out = append(out, l)
		}
		if len(out) >= 8 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// Cluster is 3 ministry and 4 bureau processes, plus the rogue member's key in the genesis.
type Cluster struct {
	opts      Options
	log       *slog.Logger
	Procs     []*Proc
	Genesis   string
	RogueKey  string
	RogueID   string
	hc        *http.Client
	mu        sync.Mutex
	deaths    []Death
	cleanups  []func() error
	netns     *netns
	tmpfs     string
	usedPorts map[int]bool
}

func (c *Cluster) run(args ...string) (string, error) {
	out, err := exec.Command(c.opts.Bin, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("jaminan %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *Cluster) freePort() (int, error) { return devnet.FreePort(c.usedPorts) }

// NewCluster makes keys, pepper and genesis with the binary, prepares the namespace and the
// tmpfs if asked, and writes every node's configuration. It starts nothing: call StartAll.
// Close undoes everything, also after a failure half-way.
func NewCluster(opts Options) (_ *Cluster, err error) {
	c := &Cluster{opts: opts, log: opts.Logger, hc: &http.Client{Timeout: 10 * time.Second}, usedPorts: map[int]bool{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	type m struct{ name, role, region string }
	var members []m
	for i := 1; i <= 3; i++ {
		members = append(members, m{fmt.Sprintf("ministry-%d", i), "ministry", ""})
	}
	for _, r := range Regions {
		members = append(members, m{"bureau-" + r, "bureau", r})
	}
	ids := map[string]string{}
	for _, mm := range append(members, m{"rogue", "bureau", RogueRegion}) {
		if ids[mm.name], err = c.run("keygen", "--out", filepath.Join(opts.Dir, mm.name+".key")); err != nil {
			return nil, err
		}
	}
	c.RogueKey, c.RogueID = filepath.Join(opts.Dir, "rogue.key"), ids["rogue"]
	if _, err := c.run("keygen", "--pepper", "--out", filepath.Join(opts.Dir, "network.pepper")); err != nil {
		return nil, err
	}
	c.Genesis = filepath.Join(opts.Dir, "genesis.json")
	gargs := []string{"genesis", "--network", "jaminan-torture", "--out", c.Genesis,
		"--member", "bureau," + RogueRegion + ",Rogue," + ids["rogue"]}
	for _, mm := range members {
		gargs = append(gargs, "--member", fmt.Sprintf("%s,%s,%s,%s", mm.role, mm.region, mm.name, ids[mm.name]))
	}
	if _, err := c.run(gargs...); err != nil {
		return nil, err
	}
	if opts.NetNSRegion != "" {
		if c.netns, err = newNetNS(fmt.Sprintf("jt%d", os.Getpid()%100000)); err != nil {
			return nil, err
		}
		c.cleanups = append(c.cleanups, c.netns.close)
	}
	if opts.TmpfsRegion != "" {
		c.tmpfs = filepath.Join(opts.Dir, "tmpfs-"+opts.TmpfsRegion)
		if err := os.MkdirAll(c.tmpfs, 0o700); err != nil {
			return nil, fmt.Errorf("tmpfs mount point: %w", err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", opts.TmpfsBytes), "tmpfs", c.tmpfs).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mount tmpfs: %w: %s", err, out)
		}
		dir := c.tmpfs
		c.cleanups = append(c.cleanups, func() error {
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				return fmt.Errorf("umount %s: %w: %s", dir, err, out)
			}
			return nil
		})
	}
	ports := map[string]int{}
	for _, mm := range members {
		if ports[mm.name], err = c.freePort(); err != nil {
			return nil, err
		}
	}
	for _, mm := range members {
		p := &Proc{Name: mm.name, Role: mm.role, Region: mm.region, ID: ids[mm.name], Dir: filepath.Join(opts.Dir, mm.name),
			cfgPath: filepath.Join(opts.Dir, mm.name+".json"), logPath: filepath.Join(opts.Dir, mm.name+".log")}
		if mm.region != "" && mm.region == opts.TmpfsRegion {
			p.Dir = filepath.Join(c.tmpfs, mm.name)
		}
		ip := "127.0.0.1"
		if mm.region != "" && mm.region == opts.NetNSRegion {
			p.NetNS, ip = c.netns.name, c.netns.inner
		}
		hport, err := c.freePort()
		if err != nil {
			return nil, err
		}
		p.HTTP = fmt.Sprintf("%s:%d", ip, hport)
		p.P2P = fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", ip, ports[mm.name], ids[mm.name])
		c.Procs = append(c.Procs, p)
	}
	for _, p := range c.Procs {
		listen := []string{strings.Split(p.P2P, "/p2p/")[0]}
		if c.netns != nil && p.NetNS == "" {
			// The namespaced bureau reaches the others through the host end of its veth pair.
			listen = append(listen, fmt.Sprintf("/ip4/%s/tcp/%d", c.netns.outer, ports[p.Name]))
		}
		var peers []string
		for _, o := range c.Procs {
			if o == p {
				continue
			}
			addr := o.P2P
			if p.NetNS != "" {
				addr = fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", c.netns.outer, ports[o.Name], o.ID)
			}
			peers = append(peers, addr)
		}
		cfg := map[string]any{"data_dir": p.Dir, "key": p.Name + ".key", "genesis": "genesis.json", "pepper": "network.pepper",
			"http": p.HTTP, "listen": listen, "peers": peers, "log_level": "warn", "block_interval": "100ms",
			"checkpoint_interval": "100ms", "sync_interval": "2s", "raft_timings": "fast"}
		raw, _ := json.MarshalIndent(cfg, "", "  ")
		if err := os.WriteFile(p.cfgPath, raw, 0o600); err != nil {
			return nil, fmt.Errorf("write config of %s: %w", p.Name, err)
		}
	}
	return c, nil
}

// Proc returns the node of a name.
func (c *Cluster) Proc(name string) *Proc {
	for _, p := range c.Procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Bureau returns the bureau of a province.
func (c *Cluster) Bureau(region string) *Proc { return c.Proc("bureau-" + region) }

// Ministry returns the ministry nodes.
func (c *Cluster) Ministry() []*Proc {
	var out []*Proc
	for _, p := range c.Procs {
		if p.Role == "ministry" {
			out = append(out, p)
		}
	}
	return out
}

// PeerAddrs are the honest nodes' multiaddrs as a process in the root namespace dials them.
func (c *Cluster) PeerAddrs() []string {
	var out []string
	for _, p := range c.Procs {
		out = append(out, p.P2P)
	}
	return out
}

// URLs are the honest nodes' HTTP base URLs.
func (c *Cluster) URLs() []string {
	var out []string
	for _, p := range c.Procs {
		out = append(out, "http://"+p.HTTP)
	}
	return out
}

// Client returns an operator client of a node.
func (c *Cluster) Client(p *Proc) *client.Client {
	cl := client.New("http://"+p.HTTP, p.Token)
	cl.HTTP = c.hc
	return cl
}

// Start starts a node process (its own process group, so that a kill takes all of it).
func (c *Cluster) Start(p *Proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return fmt.Errorf("start %s: already running", p.Name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	fmt.Fprintf(logf, "=== start %d at %s env %v\n", p.Starts+1, time.Now().UTC().Format(time.RFC3339Nano), p.Env)
	offset, _ := logf.Seek(0, io.SeekCurrent)
	var cmd *exec.Cmd
	if p.NetNS != "" {
		cmd = exec.Command("ip", "netns", "exec", p.NetNS, c.opts.Bin, "node", "--config", p.cfgPath)
	} else {
		cmd = exec.Command(c.opts.Bin, "node", "--config", p.cfgPath)
	}
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.done, p.expect, p.running = cmd, make(chan struct{}), false, true
	p.Starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		expected := p.expect
		p.running = false
		p.mu.Unlock()
		if !expected {
			msg := "exit 0"
			if err != nil {
				msg = err.Error()
			}
			d := Death{Node: p.Name, At: time.Now(), Err: msg}
			if f, err := os.Open(p.logPath); err == nil {
				if _, err := f.Seek(offset, io.SeekStart); err == nil {
					seg, _ := io.ReadAll(io.LimitReader(f, 64<<20))
					d.Crash = crashOf(append([]byte("\n"), seg...))
				}
				f.Close()
			}
			c.mu.Lock()
			c.deaths = append(c.deaths, d)
			c.mu.Unlock()
			c.log.Error("node died", "node", p.Name, "err", msg)
		}
		close(done)
	}()
	return nil
}

// WaitReady waits, bounded, until a node answers its status with peers and its token is known.
func (c *Cluster) WaitReady(ctx context.Context, p *Proc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		if p.Token == "" {
			raw, err := os.ReadFile(filepath.Join(p.Dir, "operator.token"))
			p.Token, last = strings.TrimSpace(string(raw)), err
		}
		if p.Token != "" {
			s, err := c.Client(p).Status(ctx)
			if err == nil && s.Peers >= 2 {
				return nil
			}
			last = err
		}
		if !p.Running() {
			return fmt.Errorf("%s exited while starting (see %s)", p.Name, p.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %v: %v", p.Name, within, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Running says whether the process is up.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// signal sends sig to the process group and waits, bounded, for the exit.
func (p *Proc) signal(sig syscall.Signal, within time.Duration) error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return nil
	}
	p.expect = true
	pid, done := p.cmd.Process.Pid, p.done
	p.mu.Unlock()
	_ = syscall.Kill(-pid, sig)
	select {
	case <-done:
		return nil
	case <-time.After(within):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s did not stop on %v within %v", p.Name, sig, within)
	}
}

// Kill kills a node with SIGKILL (kill -9) and waits for the exit.
func (c *Cluster) Kill(p *Proc) error { return p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop stops a node with SIGTERM, bounded by 30 s.
func (c *Cluster) Stop(p *Proc) error { return p.signal(syscall.SIGTERM, 30*time.Second) }

// StartAll starts every node, ministry first, and waits until each is ready.
func (c *Cluster) StartAll(ctx context.Context) error {
	for _, p := range c.Procs {
		if err := c.Start(p); err != nil {
			return err
		}
	}
	for _, p := range c.Procs {
		if err := c.WaitReady(ctx, p, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// Deaths returns the exits the harness did not cause.
func (c *Cluster) Deaths() []Death {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Death(nil), c.deaths...)
}

// Leader returns the ministry node whose metrics say it is the Raft leader, or nil.
func (c *Cluster) Leader(ctx context.Context) *Proc {
	for _, p := range c.Ministry() {
		if !p.Running() {
			continue
		}
		raw, err := client.New("http://"+p.HTTP, "").DoRaw(ctx, "GET", "/metrics", "", nil)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.TrimSpace(line) == "jaminan_node_raft_state 2" {
				return p
			}
		}
	}
	return nil
}

// Statuses returns the status of every running node that answers.
func (c *Cluster) Statuses(ctx context.Context) map[string]client.Status {
	out := map[string]client.Status{}
	for _, p := range c.Procs {
		if !p.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := c.Client(p).Status(sctx)
		cancel()
		if err == nil {
			out[p.Name] = s
		}
	}
	return out
}

// LogTail returns the last bytes of a node's log.
func (p *Proc) LogTail(n int) string {
	raw, _ := os.ReadFile(p.logPath)
	if len(raw) > n {
		raw = raw[len(raw)-n:]
	}
	return string(raw)
}

// Close kills every process group, removes the namespace and unmounts the tmpfs.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.Procs {
		if err := p.signal(syscall.SIGKILL, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		if err := c.cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.cleanups = nil
	return errors.Join(errs...)
}

// ipRun runs the ip tool.
func ipRun(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netns is a network namespace joined to the root namespace by a veth pair: outer is the host
// end's address, inner the namespace end's. Bringing the host end down cuts every packet
// between the namespace and the rest, in both directions; bringing it up heals.
type netns struct {
	name, hostIf, nsIf string
	outer, inner       string
}

func newNetNS(name string) (*netns, error) {
	// A /30 of 10.213.0.0/16 chosen by the process ID, so that two runs at once do not clash.
	b := os.Getpid() % 16000
	o3, o4 := b/64, (b%64)*4
	n := &netns{name: name, hostIf: name + "h", nsIf: name + "n",
		outer: fmt.Sprintf("10.213.%d.%d", o3, o4+1), inner: fmt.Sprintf("10.213.%d.%d", o3, o4+2)}
	_ = ipRun("netns", "del", name) // a leftover of a run that was killed
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf},
		{"link", "set", n.nsIf, "netns", name},
		{"addr", "add", n.outer + "/30", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"netns", "exec", name, "ip", "addr", "add", n.inner + "/30", "dev", n.nsIf},
		{"netns", "exec", name, "ip", "link", "set", n.nsIf, "up"},
		{"netns", "exec", name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipRun(s...); err != nil {
			_ = n.close()
			return nil, fmt.Errorf("create network namespace: %w", err)
		}
	}
	return n, nil
}

func (n *netns) cut() error  { return ipRun("link", "set", n.hostIf, "down") }
func (n *netns) heal() error { return ipRun("link", "set", n.hostIf, "up") }

func (n *netns) close() error {
	_ = ipRun("link", "del", n.hostIf) // deleting one end deletes the pair
	if err := ipRun("netns", "del", n.name); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	return nil
}

// Partition cuts the namespaced bureau off the network.
func (c *Cluster) Partition() error {
	if c.netns == nil {
		return errors.New("partition: no bureau runs in a network namespace")
	}
	return c.netns.cut()
}

// Heal reconnects the namespaced bureau.
func (c *Cluster) Heal() error {
	if c.netns == nil {
		return errors.New("heal: no bureau runs in a network namespace")
	}
	return c.netns.heal()
}

// FillDisk fills the tmpfs of the bureau's data directory to the last byte; the returned
// function frees the space again.
func (c *Cluster) FillDisk() (free func() error, err error) {
	if c.tmpfs == "" {
		return nil, errors.New("fill disk: no bureau has its data on a tmpfs")
	}
	path := filepath.Join(c.tmpfs, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fill disk: %w", err)
	}
	buf := make([]byte, 1<<20)
	for range 1 << 16 { // bounded: at most 64 GiB, far above any tmpfs the suite mounts
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for range 1 << 12 { // the last partial megabyte
		if _, err := f.Write(buf[:4096]); err != nil {
			break
		}
	}
	f.Close()
	return func() error { return os.Remove(path) }, nil
}

// DiskFree returns the free bytes of the tmpfs.
func (c *Cluster) DiskFree() int64 {
	var st syscall.Statfs_t
	if c.tmpfs == "" || syscall.Statfs(c.tmpfs, &st) != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// logWriter turns a line writer (testing.T.Logf) into an io.Writer for slog.
type logWriter struct{ logf func(string, ...any) }

func (w *logWriter) Write(b []byte) (int, error) {
	w.logf("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
