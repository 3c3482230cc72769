package node

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestMetricsOfApplyStoreAndRaft: after records become final, a ministry node's registry shows
// how long checkpoints took to apply and to store, its store's size and its Raft positions.
func TestMetricsOfApplyStoreAndRaft(t *testing.T) {
	tn := newTestNet(t, "ministry-1", "bureau-44")
	m := tn.start("ministry-1")
	b := tn.start("bureau-44")
	ids := submit(t, b, contributions(20, "44").Next())
	waitFinal(t, b, ids, 60*time.Second)
	waitFinal(t, m, ids, 60*time.Second)

	families := map[string]*dto.MetricFamily{}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}
	for _, name := range []string{"jaminan_consensus_checkpoint_apply_seconds", "jaminan_consensus_checkpoint_commit_seconds"} {
		mf := families[name]
		if mf == nil || mf.Metric[0].GetHistogram().GetSampleCount() == 0 {
			t.Errorf("%s: no observation after a final checkpoint (%v)", name, mf)
		}
	}
	gauge := func(name string) float64 {
		mf := families[name]
		if mf == nil {
			t.Errorf("%s not registered", name)
			return -1
		}
		return mf.Metric[0].GetGauge().GetValue()
	}
	if v := gauge("jaminan_raft_commit_index"); v < 1 {
		t.Errorf("jaminan_raft_commit_index %v after checkpoints were ordered", v)
	}
	if v, c := gauge("jaminan_raft_applied_index"), gauge("jaminan_raft_commit_index"); v < 1 || v > c {
		t.Errorf("jaminan_raft_applied_index %v, commit index %v", v, c)
	}
	if v := gauge("jaminan_raft_last_contact_seconds"); v != 0 {
		t.Errorf("jaminan_raft_last_contact_seconds %v on the only voter, the leader: want 0", v)
	}
	for _, name := range []string{"jaminan_store_lsm_bytes", "jaminan_store_vlog_bytes", "jaminan_store_index_bytes"} {
		if v := gauge(name); v < 0 {
			t.Errorf("%s %v", name, v)
		}
	}
	if v := gauge("jaminan_store_state_bytes"); v <= 0 { // the genesis state at least
		t.Errorf("jaminan_store_state_bytes %v: want > 0", v)
	}
	// Both engines, labelled; the state engine holds the genesis and the applied checkpoints.
	engine := func(name, label string) *dto.Metric {
		for _, m := range families[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "engine" && l.GetValue() == label {
					return m
				}
			}
		}
		t.Errorf("%s{engine=%q} not exported", name, label)
		return &dto.Metric{}
	}
	for _, label := range []string{"state", "index"} {
		for _, name := range []string{"jaminan_store_engine_runs", "jaminan_store_engine_memtable_bytes"} {
			if v := engine(name, label).GetGauge().GetValue(); v < 0 {
				t.Errorf("%s{engine=%q} %v", name, label, v)
			}
		}
		for _, name := range []string{"jaminan_store_engine_flushes_total", "jaminan_store_engine_merges_total"} {
			if v := engine(name, label).GetCounter().GetValue(); v < 0 {
				t.Errorf("%s{engine=%q} %v", name, label, v)
			}
		}
		if v := engine("jaminan_store_engine_flush_failing", label).GetGauge().GetValue(); v != 0 {
			t.Errorf("jaminan_store_engine_flush_failing{engine=%q} %v with room on disk", label, v)
		}
	}
	if v := engine("jaminan_store_engine_memtable_bytes", "state").GetGauge().GetValue(); v <= 0 {
		t.Errorf("state memtable %v bytes after checkpoints: want > 0", v)
	}
	// A bureau applies checkpoints too, and has no Raft node.
	bm, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range bm {
		if mf.GetName() == "jaminan_raft_commit_index" {
			t.Error("a bureau exposes Raft metrics")
		}
	}
}
