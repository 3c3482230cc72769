package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/ledger"
)

// HealthState is a node's consensus health, worst last.
type HealthState int

const (
	// HealthOK: nothing is wrong.
	HealthOK HealthState = iota
	// HealthDegraded: an alarm was raised (a conflicting vote, evidence of misbehaviour) but the
	// local state agrees with what was certified, so the node keeps applying.
	HealthDegraded
	// HealthHalted: the node stopped applying: its state root differs from the certified one,
	// or a committed entry or checkpoint could not be applied. An operator must look.
	HealthHalted
)

func (h HealthState) String() string {
	switch h {
	case HealthOK:
		return "ok"
	case HealthDegraded:
		return "degraded"
	case HealthHalted:
		return "halted"
	}
	return fmt.Sprintf("HealthState(%d)", int(h))
}

// Alarm kinds, the "kind" label of jaminan_consensus_alarms_total.
const (
	AlarmFSMHalt      = "fsm_halt"      // a committed entry could not be decoded
	AlarmApply        = "apply_failed"  // a decided checkpoint does not apply to the local state
	AlarmRootMismatch = "root_mismatch" // the local state root differs from the certified one
	AlarmVoteMismatch = "vote_mismatch" // a ministry vote differs from the local result
	AlarmEquivocation = "equivocation"  // a ministry key signed two results at one sequence
	AlarmDoubleBlock  = "double_block"  // a producer signed two blocks at one height
	AlarmBadFinal     = "bad_final"     // a certificate or checkpoint offered as final failed verification
	AlarmCommitRetry  = "commit_retry"  // a checkpoint could not be written (disk full); retried
)

const alarmFSMHalt = AlarmFSMHalt

// Health is a snapshot of the node's consensus health.
type Health struct {
	State  HealthState
	Reason string // the last alarm's message
	Kind   string // the last alarm's kind
	Seq    uint64 // the sequence the last alarm is about (0 if none)
	Alarms uint64 // alarms raised since start
}

// Monitor holds one node's consensus health and Prometheus metrics. Components of a node share
// one Monitor. Metrics are registered with the registerer given to NewMonitor (nil: not
// registered, still counted).
type Monitor struct {
	log *slog.Logger

	mu     sync.Mutex
	health Health
	sticky HealthState            // the worst state raised by alarms that need an operator
	active map[string]HealthState // conditions that clear themselves (transientAlarms), while they last

	alarms      *prometheus.CounterVec
	healthGauge prometheus.Gauge
	decided     prometheus.Gauge
	applied     prometheus.Gauge
	final       prometheus.Gauge
	refs        *prometheus.CounterVec
	evidence    *prometheus.CounterVec
	leader      prometheus.Counter
	applySecs   prometheus.Histogram
	commitSecs  prometheus.Histogram
}

// checkpointBuckets span a small checkpoint on a fast disk (1 ms) to a large one on a slow disk
// (16 s).
var checkpointBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// Metrics is the name the FSM uses for the Monitor's metric side.
type Metrics = Monitor

// NewMonitor creates the metrics and registers them with reg (nil: not registered).
func NewMonitor(reg prometheus.Registerer, log *slog.Logger) (*Monitor, error) {
	m := &Monitor{
		log: orDiscard(log),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jaminan_consensus_alarms_total",
			Help: "Consensus alarms raised, by kind (root_mismatch, vote_mismatch, equivocation, ...)."}, []string{"kind"}),
		healthGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jaminan_consensus_health",
			Help: "Consensus health: 0 ok, 1 degraded (alarm raised, still applying), 2 halted."}),
		decided: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jaminan_consensus_decided_seq",
			Help: "Sequence of the last checkpoint cut by the ordering FSM."}),
		applied: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jaminan_consensus_applied_seq",
			Help: "Sequence of the last checkpoint applied to the local state."}),
		final: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jaminan_consensus_final_seq",
			Help: "Sequence of the last checkpoint with a ministry certificate."}),
		refs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jaminan_consensus_refs_dropped_total",
			Help: "Block references dropped by the ordering FSM, by reason."}, []string{"reason"}),
		evidence: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jaminan_consensus_evidence_total",
			Help: "Evidence objects recorded, by kind."}, []string{"kind"}),
		leader: prometheus.NewCounter(prometheus.CounterOpts{Name: "jaminan_consensus_leader_changes_total",
			Help: "Raft leadership changes observed."}),
		applySecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jaminan_consensus_checkpoint_apply_seconds",
			Help: "Time the state machine took to apply a checkpoint (reading the state, the rules, the result), before storing it.", Buckets: checkpointBuckets}),
		commitSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jaminan_consensus_checkpoint_commit_seconds",
			Help: "Time storing an applied checkpoint took (its blocks, result, indexes and state, synced to disk); failed attempts included.", Buckets: checkpointBuckets}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.alarms, m.healthGauge, m.decided, m.applied, m.final, m.refs, m.evidence, m.leader, m.applySecs, m.commitSecs} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register consensus metrics: %w", err)
			}
		}
	}
	return m, nil
}

// newMonitor returns an unregistered monitor.
func newMonitor(log *slog.Logger) *Monitor {
	m, _ := NewMonitor(nil, log) // registration is the only failure
	return m
}

// Health returns the current health.
func (m *Monitor) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

// transientAlarms are the alarms about a condition that ends by itself and that the node
// notices ending: the health they degrade recovers when resolve is called for them. Every other
// alarm (evidence of misbehaviour, a halt) stays until the node restarts: an operator must look.
var transientAlarms = map[string]bool{AlarmCommitRetry: true}

// raise records an alarm: a counter, the health state and an error log. The state never
// improves by itself, except for transientAlarms once resolved.
func (m *Monitor) raise(kind string, seq uint64, state HealthState, msg string, args ...any) {
	m.alarms.WithLabelValues(kind).Inc()
	m.mu.Lock()
	m.health.Alarms++
	m.health.Kind, m.health.Seq, m.health.Reason = kind, seq, msg
	if transientAlarms[kind] {
		if m.active == nil {
			m.active = map[string]HealthState{}
		}
		m.active[kind] = max(m.active[kind], state)
	} else {
		m.sticky = max(m.sticky, state)
	}
	m.setStateLocked()
	m.mu.Unlock()
	m.log.Error("consensus alarm: "+msg, append([]any{"kind", kind, "seq", seq, "health", state.String()}, args...)...)
}

// resolve ends the condition of a transient alarm kind: the health no longer counts it. The
// last alarm's kind, sequence and reason stay as they were, as a record of what happened.
func (m *Monitor) resolve(kind string) {
	m.mu.Lock()
	_, was := m.active[kind]
	delete(m.active, kind)
	m.setStateLocked()
	state := m.health.State
	m.mu.Unlock()
	if was {
		m.log.Info("consensus alarm resolved", "kind", kind, "health", state.String())
	}
}

// setStateLocked sets the health state from the sticky alarms and the active transient ones.
func (m *Monitor) setStateLocked() {
	st := m.sticky
	for _, s := range m.active {
		st = max(st, s)
	}
	m.health.State = st
	m.healthGauge.Set(float64(st))
}

func (m *Monitor) alarm(kind string) { m.raise(kind, 0, HealthHalted, "ordering halted") }

func (m *Monitor) checkpointCut(cb *ledger.CheckpointBody) {
	m.decided.Set(float64(cb.Checkpoint.Seq))
}

func (m *Monitor) refDropped(reason string) { m.refs.WithLabelValues(reason).Inc() }

func (m *Monitor) setApplied(seq uint64) { m.applied.Set(float64(seq)) }
func (m *Monitor) setFinal(seq uint64)   { m.final.Set(float64(seq)) }

// orDiscard returns l, or a logger that discards everything.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
