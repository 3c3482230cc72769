package p2p

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/jaminan/jaminan/ledger"
)

// syncCheckpointCount is how many checkpoints the empty host syncs (JAMINAN_P2P_CHECKPOINTS
// overrides).
func syncCheckpointCount(t *testing.T) int {
	if s := os.Getenv("JAMINAN_P2P_CHECKPOINTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10 {
			t.Fatalf("JAMINAN_P2P_CHECKPOINTS=%q: want an integer ≥ 10", s)
		}
		return v
	}
	if raceEnabled {
		return 1000
	}
	return 10000
}

// load stores checkpoints and their blocks in a node's store, in order.
func (tn *tnode) load(t testing.TB, cbs []*ledger.CheckpointBody, certs []*ledger.Certificate, bs []*ledger.Block) {
	t.Helper()
	for _, b := range bs {
		if err := tn.src.PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cbs {
		if err := tn.src.PutCheckpoint(cbs[i], certs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// A host started empty after 10,000 checkpoints (1,000 under the race detector;
// JAMINAN_P2P_CHECKPOINTS overrides), certified by 3 ministry keys, every tenth ordering a
// block, syncs all of them and the blocks they order, verifying every certificate.
func TestEmptyHostSyncsCheckpoints(t *testing.T) {
	n := newTnet(t)
	count := syncCheckpointCount(t)
	start := time.Now()
	cbs, certs, bs := n.checkpoints(count, n.bureaus[0])
	t.Logf("built %d checkpoints in %v", count, time.Since(start).Round(time.Millisecond))

	// The certificates' verification is counted, so the test proves every one was checked.
	var verified atomic.Int64
	src := n.start(n.ministry[0])
	start = time.Now()
	src.load(t, cbs, certs, bs)
	t.Logf("loaded the source in %v", time.Since(start).Round(time.Millisecond))
	empty := n.start(n.bureaus[1], func(c *Config) {
		inner := c.Ministry
		c.Ministry = func(seq uint64) ([]ledger.KeyID, error) {
			verified.Add(1)
			return inner(seq)
		}
	})
	n.mesh(src, empty)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	latest, _, err := empty.LatestCheckpoint(ctx, src.ID())
	if err != nil || latest.Checkpoint.Seq != uint64(count) {
		t.Fatalf("latest checkpoint: %v", err)
	}
	start = time.Now()
	if err := empty.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("synced %d checkpoints and %d blocks in %v", count, len(bs), time.Since(start).Round(time.Millisecond))
	final, _ := empty.src.FinalSeq()
	if final != uint64(count) {
		t.Fatalf("final seq %d, want %d", final, count)
	}
	for i := range cbs {
		got, gotCert, err := empty.src.Checkpoint(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint.Hash() != cbs[i].Checkpoint.Hash() || string(gotCert.Encode()) != string(certs[i].Encode()) {
			t.Fatalf("checkpoint %d differs", i+1)
		}
	}
	if !empty.has(bs) {
		t.Fatal("ordered blocks missing")
	}
	// The client checked each certificate (its ministry callback ran per checkpoint) and so
	// did the store (MemorySource verifies what it stores, through its own callback).
	if v := verified.Load(); v < int64(count) {
		t.Fatalf("the sync client verified %d certificates, want %d", v, count)
	}
	if empty.Lag() != 0 || empty.Health() != HealthOK {
		t.Fatalf("lag %d, health %s after sync", empty.Lag(), empty.Health())
	}
}

// A host that lags reports it: lag counts final checkpoints the best peer has, and the health
// state is syncing past the threshold.
func TestLagAndHealth(t *testing.T) {
	n := newTnet(t)
	cbs, certs, bs := n.checkpoints(30, n.bureaus[0])
	src := n.start(n.ministry[0])
	src.load(t, cbs, certs, bs)
	// A peer that serves statuses but no checkpoints: the lagging host learns the best seq and
	// cannot catch up.
	src.Host().SetStreamHandler(SyncProtocol(n.g.Network), src.statusOnly)
	reg := prometheus.NewRegistry()
	lagging := n.start(n.bureaus[1], func(c *Config) { c.Registerer = reg })
	n.mesh(src, lagging)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lagging.SyncNow(ctx); err == nil {
		t.Log("sync round reported no error")
	}
	if lagging.Lag() != 30 || lagging.Health() != HealthSyncing {
		t.Fatalf("lag %d, health %s; want 30, syncing", lagging.Lag(), lagging.Health())
	}
	// The same through Prometheus.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_GAUGE {
			gauges[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if gauges["jaminan_p2p_sync_lag"] != 30 || gauges["jaminan_p2p_syncing"] != 1 || gauges["jaminan_p2p_peers"] != 1 {
		t.Fatalf("gauges %v", gauges)
	}
}

// A checkpoint whose certificate is not a ministry majority stops the sync there: everything
// before it is stored, nothing after, and the peer that served it is penalised.
func TestSyncRejectsBadCertificate(t *testing.T) {
	n := newTnet(t)
	cbs, certs, bs := n.checkpoints(40, n.bureaus[0])
	// Checkpoint 25 is served with a certificate of only one signature (below a majority of 3).
	bad := *certs[24]
	bad.Sigs = bad.Sigs[:1]
	certs[24] = &bad
	src := n.start(n.ministry[0])
	// The store would refuse the bad certificate, so feed it unverified (test-only backdoor).
	for _, b := range bs {
		if err := src.src.PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	src.src.ministry = func(uint64) ([]ledger.KeyID, error) { return nil, errors.New("no check") }
	src.src.unsafeAppend(cbs, certs)
	empty := n.start(n.bureaus[1])
	n.mesh(src, empty)
	// Connecting starts a round; wait for it to fail at checkpoint 25.
	waitFor(t, 30*time.Second, "the server penalised", func() bool { return empty.Penalty(src.ID()) >= penaltyInvalid })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = empty.SyncNow(ctx) // fails again, or finds the banned peer gone
	if final, _ := empty.src.FinalSeq(); final != 24 {
		t.Fatalf("final seq %d, want 24", final)
	}
	if empty.Penalty(src.ID()) < penaltyInvalid {
		t.Fatalf("penalty %v, want ≥ %v", empty.Penalty(src.ID()), penaltyInvalid)
	}
}
