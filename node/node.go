package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/consensus"
	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
	"github.com/jaminan/jaminan/store"
)

// Options are what a caller passes beyond the configuration.
type Options struct {
	// Logger receives every log of the node (nil: a text handler on stderr at Config.LogLevel).
	Logger *slog.Logger
	// Clock is the node's clock (nil: time.Now).
	Clock func() time.Time
	// HTTPListener, if set, serves the API instead of listening on Config.HTTP.
	HTTPListener net.Listener
	// ProcessMetrics adds Go runtime and process collectors to /metrics (off when several
	// nodes share a process).
	ProcessMetrics bool
	// OnCommitted, if set, is called after every checkpoint the node applies, before its read
	// view moves (a bureau applies only final checkpoints; a ministry node applies before the
	// certificate). For measurements (`jaminan bench`); it must return quickly, and must not
	// keep res's Writes or Receipts: the next checkpoint reuses their memory (Result.Release).
	OnCommitted func(cb *ledger.CheckpointBody, res *ledger.Result)

	// dropTransferSteps (tests) makes the bureau build its transfer steps and submit none, as
	// a kill right after applying a checkpoint would.
	dropTransferSteps bool
}

// Node is one running bureau or ministry node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	clock   func() time.Time
	signer  *ledger.Signer
	genesis *ledger.Genesis
	pepper  []byte
	token   string
	self    ledger.Member

	st       *store.Store
	outbox   *store.Outbox
	chain    *chain
	views    *finalViews
	prod     *producer
	p2p      *p2p.Node
	ministry atomic.Pointer[consensus.Ministry]
	disk     diskGuard              // refuses writes while the data directory's disk is nearly full
	evidence *consensus.EvidenceLog // what the network layer proved; the ministry keeps its own
	info     *netInfo               // what GET /v1/network reports beyond the store
	snaps    *snapshots             // state snapshots: export and attestation, serving, fast join
	witness  *consensus.Witness
	http     *http.Server
	httpAddr string
	reg      *prometheus.Registry
	metrics  *nodeMetrics
	regRaw   atomic.Pointer[[]byte]

	onCommitted func(*ledger.CheckpointBody, *ledger.Result)
	dropSteps   bool // Options.dropTransferSteps

	closing  atomic.Bool
	catching atomic.Bool
	bg       sync.WaitGroup
	closeErr error
	once     sync.Once
	// storeMu is held while the stores are closed; consensusStopped is closed once Close has
	// seen consensus stop (at once where there is none). Close closes the stores only after
	// it: a Raft goroutine reads the ledger store (the transport's membership check), and a
	// read of a closed badger can fault on its unmapped files.
	storeMu          sync.Mutex
	consensusStopped chan struct{}
}

// Start opens the node's stores and starts it: network, consensus, producer and HTTP API.
// On error everything started is stopped again.
func Start(cfg Config, opts Options) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	n := &Node{cfg: cfg, clock: opts.Clock, log: opts.Logger, evidence: consensus.NewEvidenceLog(nil), info: newNetInfo()}
	n.onCommitted = opts.OnCommitted
	n.dropSteps = opts.dropTransferSteps
	if n.clock == nil {
		n.clock = time.Now
		if off := cfg.ClockOffset.Duration; off != 0 {
			n.clock = func() time.Time { return time.Now().Add(off) }
		}
	}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel()}))
	}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Close(ctx)
		}
	}()
	if err := n.loadIdentity(); err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.self.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n.reg = prometheus.NewRegistry()
	if opts.ProcessMetrics {
		n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	n.disk = diskGuard{dir: cfg.DataDir, min: uint64(cfg.MinFreeDiskMiB) << 20}
	sopts := store.DefaultOptions()
	sopts.Logger = n.log.With("component", "store")
	sopts.WriteGuard = n.disk.check
	if n.st, err = store.Open(filepath.Join(cfg.DataDir, "ledger"), sopts); err != nil {
		return nil, fmt.Errorf("open ledger store: %w", err)
	}
	if err := n.st.Init(n.genesis); err != nil {
		return nil, fmt.Errorf("initialise ledger store with the genesis: %w", err)
	}
	if n.outbox, err = store.OpenOutbox(filepath.Join(cfg.DataDir, "outbox"), store.OutboxOptions{Logger: n.log.With("component", "outbox")}); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if n.chain, err = newChain(n.genesis, n.st, n.log.With("component", "chain")); err != nil {
		return nil, err
	}
	n.chain.disk = n.disk
	n.views = &finalViews{st: n.st, chain: n.chain, onFinal: func(m ledger.Meta) { n.info.finalized(m, uint64(n.clock().UnixMilli())) }}
	n.views.refresh()
	if n.snaps, err = openSnapshots(n); err != nil {
		return nil, err
	}
	if n.metrics, err = newNodeMetrics(n.reg, n); err != nil {
		return nil, err
	}
	n.chain.onCommit = n.committed
	if err := n.startNetwork(); err != nil {
		return nil, err
	}
	if err := n.startConsensus(); err != nil {
		return nil, err
	}
	n.prod = &producer{signer: n.signer, network: n.genesis.Network, outbox: n.outbox, chain: n.chain,
		dir: filepath.Join(cfg.DataDir, "produced"), publish: n.p2p.PublishBlock, log: n.log.With("component", "producer"),
		interval: cfg.BlockInterval.Duration, maxRecs: cfg.BlockRecords, maxPending: cfg.MaxPendingRecords, clock: n.clock,
		maxWait: cfg.MaxPendingWait.Duration, waitFloor: pendingWaitFloor(cfg.BlockRecords),
		syncNow: n.p2p.SyncNow,
		onBlock: func(int) { n.metrics.blocks.Inc() },
		onPublish: func(err error) {
			if err != nil {
				n.metrics.publishErrors.Inc()
			}
		}}
	if err := openProducer(n.prod); err != nil {
		return nil, err
	}
	n.startTransferResume()
	if err := n.startHTTP(opts.HTTPListener); err != nil {
		return nil, err
	}
	n.log.Info("node started", "role", n.self.Role, "region", n.self.Region, "peer", n.signer.ID().String(),
		"http", n.httpAddr, "final_seq", n.views.seq())
	return n, nil
}

func (n *Node) loadIdentity() error {
	var err error
	if n.signer, err = keyfile.Read(n.cfg.Key); err != nil {
		return fmt.Errorf("read node key: %w", err)
	}
	raw, err := os.ReadFile(n.cfg.Genesis)
	if err != nil {
		return fmt.Errorf("read genesis: %w", err)
	}
	if n.genesis, err = ledger.ParseGenesisJSON(raw); err != nil {
		return fmt.Errorf("parse genesis %s: %w", n.cfg.Genesis, err)
	}
	if n.pepper, err = keyfile.ReadPepper(n.cfg.Pepper); err != nil {
		return fmt.Errorf("read pepper: %w", err)
	}
	found := false
	for _, m := range n.genesis.Members {
		if m.ID == n.signer.ID() {
			n.self, found = m, true
		}
	}
	if !found {
		return fmt.Errorf("node key %s is not a member of the genesis of %s", n.signer.ID(), n.genesis.Network)
	}
	if n.self.Role != ledger.RoleBureau && n.self.Role != ledger.RoleMinistry {
		return fmt.Errorf("node key %s has role %s; only bureau and ministry members run nodes", n.signer.ID(), n.self.Role)
	}
	tokenFile := n.cfg.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(n.cfg.DataDir, "operator.token")
	}
	if err := os.MkdirAll(filepath.Dir(tokenFile), 0o700); err != nil {
		return fmt.Errorf("create token dir: %w", err)
	}
	if n.token, err = api.LoadOrCreateToken(tokenFile); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	return nil
}

// ministrySet returns the ministry set in force in the applied state.
func (n *Node) ministrySet(uint64) ([]ledger.KeyID, error) {
	meta, err := n.st.Meta()
	if err != nil {
		return nil, err
	}
	return ledger.MinistrySet(n.st, meta.Time)
}

// recordEvidence keeps what the network layer proved against a producer, for the API.
func (n *Node) recordEvidence(e p2p.Evidence) {
	n.log.Error("producer misbehaviour", "kind", e.Kind, "producer", e.Producer.Short(), "height", e.Height, "from", e.From)
	if ev := consensus.NewDoubleBlockEvidence(e.Held, e.New); ev != nil {
		n.evidence.Add(ev)
	}
}

func (n *Node) startNetwork() error {
	cfg := p2p.DefaultConfig()
	cfg.Network = n.genesis.Network
	cfg.GenesisHash = n.genesis.Hash()
	cfg.Signer = n.signer
	cfg.Ministry = n.ministrySet
	cfg.Genesis = n.genesis
	cfg.Logger = n.log.With("component", "p2p")
	cfg.Registerer = n.reg
	cfg.AntiEntropy = n.cfg.SyncInterval.Duration
	cfg.OnEvidence = n.recordEvidence
	if n.cfg.FastJoin && n.self.Role == ledger.RoleBureau {
		cfg.FastJoinLag = n.cfg.FastJoinLag
	}
	// The configured addresses replace p2p's defaults (0.0.0.0:4001, TCP and QUIC): appended to
	// them, every node also listened there, and nodes sharing a machine all bound it (libp2p
	// sets SO_REUSEPORT), so a dial to port 4001 reached whichever node the kernel picked.
	cfg.ListenAddrs = nil
	for _, l := range n.cfg.Listen {
		a, err := ma.NewMultiaddr(l)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", l, err)
		}
		cfg.ListenAddrs = append(cfg.ListenAddrs, a)
	}
	for _, p := range n.cfg.Peers {
		ai, err := peer.AddrInfoFromString(p)
		if err != nil {
			return fmt.Errorf("peer %q: %w", p, err)
		}
		if ai.ID != peer.ID(n.signer.ID()) {
			cfg.StaticPeers = append(cfg.StaticPeers, *ai)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("p2p config: %w", err)
	}
	reg, raw, meta, err := n.registry()
	if err != nil {
		return err
	}
	n.regRaw.Store(&raw)
	sink := sinkAdapter{chain: n.chain, vote: n.handleVote}
	if n.p2p, err = p2p.New(cfg, p2p.NewMembers(reg, meta.Time), snapSource{sourceAdapter{n.chain}, n.snaps}, snapSink{sink, n.snaps}); err != nil {
		return fmt.Errorf("start p2p: %w", err)
	}
	n.chain.needBlocks = func(h ledger.Hash) {
		if n.closing.Load() || !n.catching.CompareAndSwap(false, true) {
			return
		}
		defer n.catching.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// By hash first: a block an ordered checkpoint names may be one this node refused
		// (a fork of an equivocating producer), which the producer sync would refuse again.
		if err := n.p2p.FetchBlocks(ctx, []ledger.Hash{h}); err == nil {
			return
		}
		_ = n.p2p.SyncNow(ctx)
	}
	return nil
}

func (n *Node) registry() ([]ledger.Member, []byte, ledger.Meta, error) {
	meta, err := n.st.Meta()
	if err != nil {
		return nil, nil, meta, fmt.Errorf("read ledger position: %w", err)
	}
	raw, _, err := n.st.Get(registryKey)
	if err != nil {
		return nil, nil, meta, fmt.Errorf("read member registry: %w", err)
	}
	reg, err := readRegistry(n.st)
	if err != nil {
		return nil, nil, meta, err
	}
	return reg, raw, meta, nil
}

// handleVote takes a vote or witness cosignature from the network.
func (n *Node) handleVote(kind p2p.VoteKind, v *ledger.Vote) error {
	n.info.vote(v)
	if kind != p2p.KindVote {
		n.metrics.witnesses.Inc()
		return nil
	}
	if m := n.ministry.Load(); m != nil {
		if err := m.HandleVote(*v); err != nil && !errors.Is(err, consensus.ErrVote) {
			return err
		}
		return nil
	}
	if n.witness == nil {
		return nil
	}
	if err := n.witness.HandleVote(*v); err != nil && !errors.Is(err, consensus.ErrVote) {
		return err
	}
	// A vote ahead of what is final here: the certificate forms at the ministry a moment after
	// its quorum of votes, later than the first vote that made p2p look for it. Look again.
	if fs, _ := n.chain.FinalSeq(); v.Seq > fs && !n.closing.Load() && n.catching.CompareAndSwap(false, true) {
		n.bg.Add(1)
		go func() {
			defer n.bg.Done()
			defer n.catching.Store(false)
			time.Sleep(150 * time.Millisecond)
			if fs, _ := n.chain.FinalSeq(); fs >= v.Seq || n.closing.Load() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.p2p.SyncNow(ctx)
		}()
	}
	return nil
}

type publisher struct{ n *Node }

func (p publisher) PublishVote(ctx context.Context, v ledger.Vote) error {
	return p.n.p2p.PublishVote(ctx, p2p.KindVote, &v)
}

func (p publisher) PublishWitness(ctx context.Context, v ledger.Vote) error {
	return p.n.p2p.PublishVote(ctx, p2p.KindWitness, &v)
}

// PublishFinal is called on a ministry node for every certificate its finality collector
// assembles: the node stores it; bureaus fetch certified checkpoints by sync.
func (p publisher) PublishFinal(_ context.Context, _ *ledger.CheckpointBody, cert *ledger.Certificate) error {
	p.n.chain.Certified(cert)
	p.n.views.refresh()
	p.n.metrics.finalTime.Set(float64(p.n.clock().UnixMilli()) / 1000)
	return nil
}

func (n *Node) startConsensus() error {
	pub := publisher{n}
	if n.self.Role == ledger.RoleBureau {
		w, err := consensus.NewWitness(consensus.WitnessConfig{Genesis: n.genesis, Signer: n.signer, State: n.chain,
			Blocks: n.chain, Publisher: pub, Registerer: n.reg, Logger: n.log.With("component", "consensus")})
		if err != nil {
			return fmt.Errorf("start witness: %w", err)
		}
		n.witness = w
		n.chain.setHooks(nil, func(cb *ledger.CheckpointBody, cert *ledger.Certificate) {
			if err := w.SubmitFinal(cb, cert); err != nil {
				n.log.Warn("submit final checkpoint", "seq", cb.Checkpoint.Seq, "err", err)
			}
		})
		return nil
	}
	var voters []peer.ID
	for _, m := range n.genesis.Members {
		if m.Role == ledger.RoleMinistry && m.ActiveAt(n.genesis.Time) {
			voters = append(voters, peer.ID(m.ID))
		}
	}
	timings := consensus.DefaultTimings()
	if n.cfg.RaftTimings == "fast" {
		timings = consensus.TestTimings()
	}
	m, err := consensus.NewMinistry(consensus.MinistryConfig{Genesis: n.genesis, Host: n.p2p.Host(), Signer: n.signer,
		Dir: filepath.Join(n.cfg.DataDir, "raft"), WriteGuard: n.disk.check, Voters: voters, State: n.chain, Blocks: n.chain, Publisher: pub,
		Registerer: n.reg, Logger: n.log.With("component", "consensus"), Timings: timings,
		CutInterval: n.cfg.CheckpointInterval.Duration, Clock: n.clock})
	if err != nil {
		return fmt.Errorf("start ministry consensus: %w", err)
	}
	n.ministry.Store(m)
	submit := func(b *ledger.Block) {
		if err := m.Submit(b); err != nil {
			n.log.Debug("submit block to the orderer", "producer", b.Header.Producer.Short(), "height", b.Header.Height, "err", err)
		}
	}
	n.chain.setHooks(submit, func(cb *ledger.CheckpointBody, cert *ledger.Certificate) {
		if err := m.Executor.SubmitFinal(cb, cert); err != nil {
			n.log.Warn("submit final checkpoint", "seq", cb.Checkpoint.Seq, "err", err)
		}
	})
	for _, b := range n.chain.PoolBlocks() {
		submit(b)
	}
	n.startRecertify(m)
	n.metrics.raftState = func() float64 {
		switch m.Orderer.Raft().State() {
		case raft.Leader:
			return 2
		case raft.Candidate:
			return 1
		case raft.Follower:
			return 0
		}
		return -1
	}
	return nil
}

func (n *Node) startHTTP(ln net.Listener) error {
	acfg := api.DefaultConfig()
	acfg.Backend = backend{n}
	acfg.Token = n.token
	acfg.Logger = n.log.With("component", "api")
	acfg.Metrics = n.reg
	srv, err := api.NewServer(n.cfg.HTTP, acfg)
	if err != nil {
		return fmt.Errorf("build HTTP API: %w", err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", n.cfg.HTTP); err != nil {
			return fmt.Errorf("listen HTTP on %s: %w", n.cfg.HTTP, err)
		}
	}
	n.http, n.httpAddr = srv, ln.Addr().String()
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP API stopped", "err", err)
		}
	}()
	return nil
}

// committed runs after every applied checkpoint.
func (n *Node) committed(cb *ledger.CheckpointBody, res *ledger.Result, blocks []*ledger.Block) {
	if n.onCommitted != nil {
		n.onCommitted(cb, res)
	}
	n.snaps.committed(cb.Checkpoint.Seq)
	opened, moved := transferSteps(blocks, res)
	n.info.committed(cb, res, opened)
	if n.prod != nil {
		n.prod.committed(res, blocks)
	}
	n.views.refresh()
	n.processTransfers(moved)
	for _, r := range res.Receipts {
		n.metrics.applied.WithLabelValues(r.Code).Inc()
	}
	n.metrics.checkpoints.Inc()
	if n.self.Role == ledger.RoleBureau {
		n.metrics.finalTime.Set(float64(n.clock().UnixMilli()) / 1000)
	}
	// Membership changes take effect at the gate once applied.
	if reg, raw, meta, err := n.registry(); err == nil && n.p2p != nil {
		if old := n.regRaw.Load(); old == nil || !bytes.Equal(*old, raw) {
			n.regRaw.Store(&raw)
			n.p2p.SetMembers(reg, meta.Time)
		}
	}
}

// Ready reports whether the node serves current data: consensus not halted, not lagging.
func (n *Node) Ready() bool {
	if n.closing.Load() || n.p2p == nil {
		return false
	}
	if m := n.ministry.Load(); m != nil && m.Health().State == consensus.HealthHalted {
		return false
	}
	if n.witness != nil && n.witness.Health().State == consensus.HealthHalted {
		return false
	}
	return n.p2p.Health() == p2p.HealthOK
}

// HTTPAddr returns the address the API listens on.
func (n *Node) HTTPAddr() string { return n.httpAddr }

// Token returns the operator token.
func (n *Node) Token() string { return n.token }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return peer.ID(n.signer.ID()) }

// Member returns the node's genesis registry entry.
func (n *Node) Member() ledger.Member { return n.self }

// AddrInfo returns the node's libp2p addresses.
func (n *Node) AddrInfo() peer.AddrInfo { return n.p2p.AddrInfo() }

// Final returns the last final checkpoint the node serves.
func (n *Node) Final() ledger.Meta {
	n.views.mu.Lock()
	defer n.views.mu.Unlock()
	if n.views.cur == nil {
		return ledger.Meta{}
	}
	return n.views.cur.meta
}

// Registry returns the node's Prometheus registry (served at /metrics).
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// httpShutdownGrace is how long Close lets HTTP requests in flight finish.
const httpShutdownGrace = 5 * time.Second

// Close stops the node. Order, each step with its reason:
//  1. HTTP: no new submissions or reads reach parts being stopped (in-flight requests finish
//     within httpShutdownGrace; connections held beyond it are closed);
//  2. producer: no new blocks; what is in the outbox is cut after the next start;
//  3. consensus: the executor stops applying and the orderer leaves Raft, while the network is
//     still there for Raft's last messages;
//  4. p2p: gossip, sync and connections end; nothing delivers into the chain any more;
//  5. read views, then the outbox and the store: nothing uses them now.
//
// Close returns by ctx's deadline. Consensus that has not stopped by then goes on stopping,
// and steps 4 and 5 follow it in the background; p2p that has not stopped by the deadline
// leaves the stores open. Either way the error says so: a store is never closed while a
// goroutine may still read it.
func (n *Node) Close(ctx context.Context) error {
	n.once.Do(func() {
		n.closing.Store(true)
		var errs []error
		if n.http != nil {
			// Requests in flight get a bounded grace; clients that hold a connection beyond it
			// (a slow body, a stream that is never read) are cut, so that they cannot keep the
			// node from stopping.
			sctx, cancel := context.WithTimeout(ctx, httpShutdownGrace)
			if err := n.http.Shutdown(sctx); err != nil {
				n.log.Warn("HTTP API: connections still open after the grace period; closing them", "err", err)
				if err := n.http.Close(); err != nil {
					errs = append(errs, fmt.Errorf("stop HTTP API: %w", err))
				}
			}
			cancel()
		}
		if n.prod != nil {
			n.prod.Close()
		}
		// Consensus stops without the deadline. Should it still be stopping at the deadline,
		// Close returns, and the rest (witness, p2p, background work, stores) is stopped in
		// the background once consensus has stopped: a Raft goroutine reads the ledger store
		// (the transport's membership check), and a read of a closed badger can fault the
		// process on its unmapped files (a SIGSEGV at shutdown under a backlog).
		n.consensusStopped = make(chan struct{})
		if m := n.ministry.Load(); m != nil {
			done := make(chan error, 1)
			go func() { done <- m.Close(context.WithoutCancel(ctx)) }()
			select {
			case err := <-done:
				if err != nil {
					errs = append(errs, fmt.Errorf("stop consensus: %w", err))
				}
			case <-ctx.Done():
				n.log.Error("node: consensus did not stop by the deadline; p2p and the stores are stopped once it has")
				errs = append(errs, fmt.Errorf("stop consensus: %w (p2p and the stores are stopped once it has)", ctx.Err()))
				go func() {
					if err := <-done; err != nil {
						n.log.Warn("node: consensus stopped after the deadline", "err", err)
					}
					close(n.consensusStopped)
					lctx, cancel := context.WithTimeout(context.Background(), lateStopGrace)
					defer cancel()
					if err := errors.Join(n.stopRest(lctx)...); err != nil {
						n.log.Error("node: stop after consensus stopped", "err", err)
					}
				}()
				n.closeErr = errors.Join(errs...)
				return
			}
		}
		close(n.consensusStopped)
		errs = append(errs, n.stopRest(ctx)...)
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// lateStopGrace bounds the stop of p2p after a consensus that stopped only after Close's deadline.
const lateStopGrace = 30 * time.Second

// stopRest stops what Close stops after consensus: the witness, p2p and the background work,
// then closes the stores — unless p2p did not stop by the deadline, whose goroutines (sync
// serves blocks from the store) may then still read them: those stay open, and it says so.
func (n *Node) stopRest(ctx context.Context) []error {
	var errs []error
	if n.witness != nil {
		if err := n.witness.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop witness: %w", err))
		}
	}
	if n.p2p != nil {
		if err := n.p2p.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop p2p: %w", err))
			if ctx.Err() != nil {
				n.log.Error("node: p2p did not stop by the deadline; the stores are left open, since its goroutines may still read them")
				return append(errs, errors.New("stores left open: p2p goroutines may still read them"))
			}
		}
	}
	n.bg.Wait()
	return append(errs, n.closeStores()...)
}

// closeStores closes the final views, the outbox and the ledger store, under storeMu.
func (n *Node) closeStores() []error {
	n.storeMu.Lock()
	defer n.storeMu.Unlock()
	var errs []error
	if n.views != nil {
		n.views.close()
	}
	if n.outbox != nil {
		if err := n.outbox.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close outbox: %w", err))
		}
	}
	if n.st != nil {
		if err := n.st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close ledger store: %w", err))
		}
	}
	return errs
}

func (f *finalViews) seq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		return 0
	}
	return f.cur.meta.Seq
}
