package consensus

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// fullDisk is a MemState whose Commit fails with ErrRetry while fails > 0, as a node's state
// does while its disk is below the free-space floor.
type fullDisk struct {
	*MemState
	fails atomic.Int32
}

func (s *fullDisk) Commit(cb *ledger.CheckpointBody, res *ledger.Result) error {
	if s.fails.Add(-1) >= 0 {
		return fmt.Errorf("commit checkpoint %d: the disk is full: %w", cb.Checkpoint.Seq, ErrRetry)
	}
	return s.MemState.Commit(cb, res)
}

// A commit that fails with ErrRetry (a full disk) is retried, not a halt: the executor raises
// commit_retry once, keeps the checkpoint, and applies it and the next ones when the state
// takes writes again. Any other commit failure still halts (TestWitnessRejectsForgedCertificates
// and the ministry tests cover the halts).
func TestCommitRetriedWhileTheDiskIsFull(t *testing.T) {
	n := ledgertest.New(t)
	cbs, rs, blocks := chain(t, n, 2)
	st := &fullDisk{MemState: NewMemState(n.Genesis)}
	st.fails.Store(3)
	reg := prometheus.NewRegistry()
	w, err := NewWitness(WitnessConfig{Genesis: n.Genesis, Signer: n.Bureau["51"], State: st, Blocks: blocks, Publisher: newBus(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range cbs {
		if err := w.SubmitFinal(cbs[i], n.Certify(rs[i])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "both checkpoints applied after the retries", func() bool { return st.Meta().Seq == 2 })
	if st.fails.Load() >= 0 {
		t.Fatalf("the executor did not retry the failed commits (%d left)", st.fails.Load())
	}
	if halted, _ := w.Finality.Halted(); halted {
		t.Fatal("a full disk halted the executor")
	}
	// The condition ended: the health is ok again, and the last alarm is still on record.
	if h := w.Health(); h.State != HealthOK || h.Kind != AlarmCommitRetry || h.Alarms != 1 {
		t.Fatalf("health %+v, want ok again after %s", h, AlarmCommitRetry)
	}
	if got := metricValue(t, reg, "jaminan_consensus_health", ""); got != 0 {
		t.Fatalf("health gauge %v after the retries succeeded, want 0", got)
	}
	if got := metricValue(t, reg, "jaminan_consensus_alarms_total", AlarmCommitRetry); got != 1 {
		t.Fatalf("%v commit_retry alarms for one episode, want 1", got)
	}
	if st.Meta().Checkpoint != rs[1].Checkpoint {
		t.Fatal("the applied checkpoint is not the certified one")
	}
}

// A transient alarm degrades the health while its condition lasts; resolving it restores the
// health the other alarms leave, never better: evidence of misbehaviour stays until an operator
// restarts the node.
func TestMonitorResolvesOnlyTransientAlarms(t *testing.T) {
	m := newMonitor(nil)
	m.raise(AlarmCommitRetry, 3, HealthDegraded, "disk full")
	if h := m.Health(); h.State != HealthDegraded {
		t.Fatalf("health %+v during commit_retry", h)
	}
	m.resolve(AlarmCommitRetry)
	if h := m.Health(); h.State != HealthOK || h.Kind != AlarmCommitRetry {
		t.Fatalf("health %+v after resolving commit_retry", h)
	}
	m.raise(AlarmEquivocation, 4, HealthDegraded, "two results")
	m.raise(AlarmCommitRetry, 5, HealthDegraded, "disk full")
	m.resolve(AlarmCommitRetry)
	m.resolve(AlarmEquivocation) // not transient: no effect
	if h := m.Health(); h.State != HealthDegraded || h.Alarms != 3 {
		t.Fatalf("health %+v: the equivocation's degradation went", h)
	}
	m.raise(AlarmRootMismatch, 6, HealthHalted, "root")
	m.resolve(AlarmCommitRetry)
	if h := m.Health(); h.State != HealthHalted {
		t.Fatalf("health %+v after a halt", h)
	}
}
