package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/ledger"
)

// MinistryConfig configures a ministry node's consensus: ordering, execution and finality.
type MinistryConfig struct {
	Genesis *ledger.Genesis
	Host    host.Host
	// Signer signs finality votes; its key is the host's identity (member ID = peer ID).
	Signer *ledger.Signer
	Dir    string // Raft log and snapshots
	// WriteGuard, when set, is asked before every append to the Raft log: an error fails the
	// append (the node passes its free-space floor).
	WriteGuard func() error
	Voters     []peer.ID // initial Raft voters on a first start
	State      State
	Blocks     Blocks
	// Publisher sends votes and final checkpoints (nil: nothing is published).
	Publisher  Publisher
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	Timings     RaftTimings
	CutInterval time.Duration
	CutBlocks   int
	MaxAhead    uint64
	Clock       func() time.Time

	voteHook func(*ledger.Vote)
}

// Ministry is one ministry node's consensus: an Orderer (Raft, FSM, proposer), an Executor that
// applies what the FSM decides and votes, and a Finality collector.
type Ministry struct {
	Orderer  *Orderer
	Executor *Executor
	Finality *Finality
	Monitor  *Monitor
	Evidence *EvidenceLog

	cfg    MinistryConfig
	log    *slog.Logger
	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// NewMinistry starts a ministry node's consensus.
func NewMinistry(cfg MinistryConfig) (*Ministry, error) {
	if cfg.Genesis == nil || cfg.Host == nil || cfg.Signer == nil || cfg.State == nil || cfg.Blocks == nil {
		return nil, errors.New("new ministry: genesis, host, signer, state and blocks are required")
	}
	if ledger.KeyID(cfg.Host.ID()) != cfg.Signer.ID() {
		return nil, fmt.Errorf("new ministry: host %s and signer %s differ", cfg.Host.ID(), cfg.Signer.ID())
	}
	log := orDiscard(cfg.Logger).With("node", cfg.Signer.ID().Short())
	mon, err := NewMonitor(cfg.Registerer, log)
	if err != nil {
		return nil, fmt.Errorf("new ministry: %w", err)
	}
	m := &Ministry{cfg: cfg, log: log, Monitor: mon, Evidence: NewEvidenceLog(mon), kick: make(chan struct{}, 1)}
	m.Finality = NewFinality(cfg.Genesis.Network, mon, m.Evidence, log, m.onFinal)
	m.Executor, err = NewExecutor(ExecutorConfig{Genesis: cfg.Genesis, Role: RoleMinistry, State: cfg.State, Blocks: cfg.Blocks,
		Signer: cfg.Signer, Publisher: cfg.Publisher, Finality: m.Finality, Monitor: mon, Logger: log, MaxAhead: cfg.MaxAhead,
		voteHook: cfg.voteHook})
	if err != nil {
		return nil, fmt.Errorf("new ministry: %w", err)
	}
	m.Orderer, err = NewOrderer(OrdererConfig{Genesis: cfg.Genesis, Host: cfg.Host, Dir: cfg.Dir, WriteGuard: cfg.WriteGuard, Voters: cfg.Voters,
		Allow: m.IsMember, Sink: m.Executor, Timings: cfg.Timings, CutInterval: cfg.CutInterval, CutBlocks: cfg.CutBlocks,
		Clock: cfg.Clock, Logger: log, Monitor: mon, Evidence: m.Evidence})
	if err != nil {
		_ = m.Executor.Close()
		return nil, fmt.Errorf("new ministry: %w", err)
	}
	if cfg.Registerer != nil {
		if err := registerRaftMetrics(cfg.Registerer, m.Orderer.Raft()); err != nil {
			_ = m.Orderer.Close(context.Background())
			_ = m.Executor.Close()
			return nil, fmt.Errorf("new ministry: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go m.reconcile(ctx)
	return m, nil
}

// registerRaftMetrics exposes the Raft node's positions, read from raft.Stats when scraped: the
// leader's commit index running ahead of a follower's applied index, or a growing time since
// the last contact, is a ministry node falling behind or cut off.
func registerRaftMetrics(reg prometheus.Registerer, r *raft.Raft) error {
	c := &raftCollector{r: r}
	for _, g := range []struct{ name, key, help string }{
		{"jaminan_raft_last_log_index", "last_log_index", "Index of the last entry in this node's Raft log."},
		{"jaminan_raft_commit_index", "commit_index", "Index of the last Raft entry this node knows committed."},
		{"jaminan_raft_applied_index", "applied_index", "Index of the last Raft entry applied to the ordering FSM."},
		{"jaminan_raft_fsm_pending", "fsm_pending", "Committed Raft entries waiting for the ordering FSM."},
		{"jaminan_raft_last_contact_seconds", "last_contact", "Seconds since a follower last heard from the leader (0 on the leader, -1 never)."},
	} {
		c.keys = append(c.keys, g.key)
		c.descs = append(c.descs, prometheus.NewDesc(g.name, g.help, nil, nil))
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("register raft metrics: %w", err)
	}
	return nil
}

// raftCollector reads raft.Stats once per scrape (it builds a map of some twenty strings) and
// reports the gauges named by descs from the values under keys.
type raftCollector struct {
	r     *raft.Raft
	keys  []string
	descs []*prometheus.Desc
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.r.Stats()
	for i, key := range c.keys {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, raftStat(stats[key]))
	}
}

// raftStat is a raft.Stats value as a number: an index, or a duration in seconds; -1 for
// "never" (no contact yet) or anything else.
func raftStat(v string) float64 {
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return float64(n)
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d.Seconds()
	}
	return -1
}

// IsMember reports whether p is an active ministry member in the applied state: the transport's
// membership check.
func (m *Ministry) IsMember(p peer.ID) bool {
	set, err := m.ministrySet()
	return err == nil && slices.Contains(set, ledger.KeyID(p))
}

func (m *Ministry) ministrySet() ([]ledger.KeyID, error) {
	meta, err := ledger.ReadMeta(m.cfg.State)
	if err != nil {
		return nil, err
	}
	return ledger.MinistrySet(m.cfg.State, meta.Time)
}

// onFinal publishes a certified checkpoint and lets the leader reconcile the Raft voters.
func (m *Ministry) onFinal(seq uint64, cert *ledger.Certificate) {
	if m.cfg.Publisher != nil {
		if cb, ok := m.Executor.Body(seq); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := m.cfg.Publisher.PublishFinal(ctx, cb, cert); err != nil {
				m.log.Warn("consensus: publish final checkpoint", "seq", seq, "err", err)
			}
			cancel()
		}
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// reconcile removes revoked ministry members from the Raft voters, on the leader.
func (m *Ministry) reconcile(ctx context.Context) {
	defer m.wg.Done()
	var last []ledger.KeyID
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		set, err := m.ministrySet()
		if err != nil || slices.Equal(set, last) || !m.Orderer.IsLeader() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.Orderer.ReconcileVoters(rctx, set); err != nil {
			m.log.Warn("consensus: reconcile raft voters with the ministry set", "err", err)
		} else {
			last = set
		}
		cancel()
	}
}

// Submit hands a validated block to the orderer.
func (m *Ministry) Submit(b *ledger.Block) error { return m.Orderer.Submit(b) }

// HandleVote takes a finality vote from the network.
func (m *Ministry) HandleVote(v ledger.Vote) error { return m.Finality.HandleVote(v) }

// Health returns the node's consensus health.
func (m *Ministry) Health() Health { return m.Monitor.Health() }

// EvidenceList returns the evidence recorded.
func (m *Ministry) EvidenceList() []*Evidence { return m.Evidence.List() }

// Close stops the node: the membership loop, then the orderer (no more decisions reach the
// executor), then the executor.
func (m *Ministry) Close(ctx context.Context) error {
	m.once.Do(func() {
		m.cancel()
		m.wg.Wait()
		m.err = errors.Join(m.Orderer.Close(ctx), m.Executor.Close())
	})
	return m.err
}

// WitnessConfig configures a bureau's witness role.
type WitnessConfig struct {
	Genesis    *ledger.Genesis
	Signer     *ledger.Signer // cosigns; nil: verify and apply only
	State      State
	Blocks     Blocks
	Publisher  Publisher
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Witness is a bureau's consensus: it applies certified checkpoints, compares state roots and
// cosigns, and watches ministry votes.
type Witness struct {
	Executor *Executor
	Finality *Finality
	Monitor  *Monitor
	Evidence *EvidenceLog
}

// NewWitness starts a witness.
func NewWitness(cfg WitnessConfig) (*Witness, error) {
	if cfg.Genesis == nil {
		return nil, errors.New("new witness: genesis required")
	}
	log := orDiscard(cfg.Logger)
	if cfg.Signer != nil {
		log = log.With("node", cfg.Signer.ID().Short())
	}
	mon, err := NewMonitor(cfg.Registerer, log)
	if err != nil {
		return nil, fmt.Errorf("new witness: %w", err)
	}
	w := &Witness{Monitor: mon, Evidence: NewEvidenceLog(mon)}
	w.Finality = NewFinality(cfg.Genesis.Network, mon, w.Evidence, log, nil)
	w.Executor, err = NewExecutor(ExecutorConfig{Genesis: cfg.Genesis, Role: RoleWitness, State: cfg.State, Blocks: cfg.Blocks,
		Signer: cfg.Signer, Publisher: cfg.Publisher, Finality: w.Finality, Monitor: mon, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new witness: %w", err)
	}
	return w, nil
}

// SubmitFinal queues a checkpoint with its certificate.
func (w *Witness) SubmitFinal(cb *ledger.CheckpointBody, cert *ledger.Certificate) error {
	return w.Executor.SubmitFinal(cb, cert)
}

// HandleVote takes a ministry finality vote from the network.
func (w *Witness) HandleVote(v ledger.Vote) error { return w.Finality.HandleVote(v) }

// Health returns the witness's health.
func (w *Witness) Health() Health { return w.Monitor.Health() }

// Close stops the witness.
func (w *Witness) Close() error { return w.Executor.Close() }
