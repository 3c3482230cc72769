package devnet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/node"
	"github.com/jaminan/jaminan/node/client"
)

// TestFastJoinFromSnapshot: a real ministry group (3 nodes) and 2 bureaus on 127.0.0.1 with
// snapshots every 5 checkpoints. Once the ministry has attested a snapshot, the last bureau is
// wiped; it joins from the snapshot instead of replaying, reaches the same state root and
// full-state digest as the ministry, serves records submitted afterwards as final, and answers a
// record from before its history with a clear error.
func TestFastJoinFromSnapshot(t *testing.T) {
	d, early, quiet := attestedDevnet(t)
	last := len(d.Nodes) - 1
	region := d.Entries[last].Region

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := d.Wipe(ctx, last)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	joined := d.Nodes[last]
	waitFor(t, 60*time.Second, "the wiped bureau at the network's final checkpoint", func() bool {
		return joined.Final().Seq >= quiet
	})
	from := joined.JoinedFrom()
	if from == 0 || from > quiet || joined.HistoryStart() != from {
		t.Fatalf("joined from %d, history starts at %d (network at %d): not a fast join", from, joined.HistoryStart(), quiet)
	}
	t.Logf("joined from the snapshot at %d; network at %d", from, quiet)
	sameState(t, d.Nodes[0], joined)
	e := d.Entries[last]
	cl := client.New(e.HTTP, e.Token)
	st, err := cl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.HistoryStart != from {
		t.Errorf("status says history_start %d, want %d", st.HistoryStart, from)
	}
	// A record from before the snapshot: a clear error, not "not found".
	_, err = cl.Record(context.Background(), early[0])
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != "before_history" {
		t.Errorf("record %s from before the history: %v, want the code before_history", early[0], err)
	}
	for _, path := range []string{"/v1/records/" + early[0] + "/proof", "/v1/checkpoints/1"} {
		err := cl.Get(context.Background(), path, nil)
		if !errors.As(err, &ae) || ae.Code != "before_history" || ae.Status != 404 {
			t.Errorf("GET %s on the joined bureau: %v, want 404 before_history", path, err)
		}
	}
	// A worker's statement and access list, built from the indexes, would miss their
	// beginning without saying so: refused too.
	worker := ledger.Pseudonym([]byte("fast join"), "a worker").String()
	for _, path := range []string{"/v1/workers/" + worker + "/statement", "/v1/workers/" + worker + "/access"} {
		err := cl.Get(context.Background(), path, nil)
		if !errors.As(err, &ae) || ae.Code != "before_history" || ae.Status != 404 {
			t.Errorf("GET %s on the joined bureau: %v, want 404 before_history", path, err)
		}
	}

	// New records, some submitted to the joined bureau, become final there.
	acc0 := d.Accepted(region)
	n0, last0 := len(acc0), acc0[len(acc0)-1]
	stop := startLoad(d, 200, 8)
	waitFor(t, 30*time.Second, "records accepted by the joined bureau", func() bool {
		acc := d.Accepted(region)
		return len(acc) > n0+5 || (len(acc) == 1000 && acc[len(acc)-1] != last0)
	})
	stop()
	acc := d.Accepted(region)
	id := acc[len(acc)-1]
	waitFor(t, 30*time.Second, "a new record final at the joined bureau", func() bool {
		r, err := cl.Record(context.Background(), id)
		return err == nil && r.Status == "final"
	})
	waitFor(t, 30*time.Second, "the joined bureau and the ministry at one checkpoint with one state", func() bool {
		m0, d0, err0 := d.Nodes[0].StateDigest()
		m1, d1, err1 := joined.StateDigest()
		return err0 == nil && err1 == nil && m0.Seq > quiet && m0 == m1 && d0 == d1
	})

	// Restarted, the node keeps its history's start and follows the network from where it was.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	err = joined.Close(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := node.Start(d.cfgs[last], d.opts[last])
	if err != nil {
		t.Fatal(err)
	}
	d.Nodes[last] = restarted
	if restarted.HistoryStart() != from || restarted.JoinedFrom() != 0 {
		t.Fatalf("restarted: history starts at %d, joined from %d in this run", restarted.HistoryStart(), restarted.JoinedFrom())
	}
	stop = startLoad(d, 200, 9)
	head := d.Nodes[0].Final().Seq
	waitFor(t, 30*time.Second, "the restarted bureau past the head it was stopped at", func() bool {
		return restarted.Final().Seq > head
	})
	stop()
	waitFor(t, 30*time.Second, "the restarted bureau and the ministry at one checkpoint with one state", func() bool {
		m0, d0, err0 := d.Nodes[0].StateDigest()
		m1, d1, err1 := restarted.StateDigest()
		return err0 == nil && err1 == nil && m0 == m1 && d0 == d1
	})
}

// attestedDevnet starts 3 ministry nodes and 2 bureaus with snapshots every 5 checkpoints,
// loads them until every ministry node holds an attested snapshot at ≥ 10, stops the load and
// waits for a quiet network. It returns the first record the last bureau accepted and the
// network's final sequence.
func attestedDevnet(t *testing.T) (*Devnet, []string, uint64) {
	d := startDevnetWith(t, Options{Ministry: 3, Bureaus: 2, HTTPPort: 0, Fast: true,
		Configure: func(name string, cfg *node.Config, _ *node.Options) {
			cfg.SnapshotInterval = 5
			cfg.FastJoinLag = 3
			cfg.SyncInterval = node.Duration{Duration: time.Second}
		}})
	last := len(d.Nodes) - 1
	if d.Entries[last].Role != ledger.RoleBureau {
		t.Fatalf("the last node is a %s", d.Entries[last].Role)
	}
	region := d.Entries[last].Region

	// Load until every ministry node holds a complete attestation of a snapshot at ≥ 10.
	stop := startLoad(d, 300, 7)
	defer stop()
	// The first record the bureau accepted: in one of the first checkpoints, long before the
	// snapshot the bureau will join from.
	var first string
	waitFor(t, 30*time.Second, "a record accepted by the last bureau", func() bool {
		if acc := d.Accepted(region); len(acc) > 0 {
			first = acc[0]
			return true
		}
		return false
	})
	attested := func(i int) uint64 {
		ents, _ := os.ReadDir(filepath.Join(d.cfgs[i].DataDir, "snapshots"))
		var best uint64
		for _, e := range ents {
			var (
				seq uint64
				err error
			)
			if name, ok := strings.CutSuffix(e.Name(), ".att"); ok {
				if seq, err = strconv.ParseUint(name, 10, 64); err == nil {
					best = max(best, seq)
				}
			}
		}
		return best
	}
	waitFor(t, 120*time.Second, "an attested snapshot ≥ 10 on every ministry node", func() bool {
		for i, e := range d.Entries {
			if e.Role == ledger.RoleMinistry && attested(i) < 10 {
				return false
			}
		}
		return true
	})
	early := []string{first}
	stop()
	// A quiet network: every node at the same final checkpoint.
	var quiet uint64
	waitFor(t, 30*time.Second, "every node at one final checkpoint", func() bool {
		s := d.Nodes[0].Final().Seq
		for _, n := range d.Nodes {
			if n.Final().Seq != s {
				return false
			}
		}
		time.Sleep(300 * time.Millisecond)
		if d.Nodes[0].Final().Seq != s {
			return false
		}
		quiet = s
		return true
	})

	return d, early, quiet
}

// sameState fails unless a and b are at the same checkpoint with the same state root and
// full-state digest.
func sameState(t *testing.T, a, b *node.Node) {
	t.Helper()
	// Records still on their way when the load stopped may make a checkpoint or two more:
	// compare once both nodes are at the same one.
	var ma, mb ledger.Meta
	var da, db ledger.Hash
	waitFor(t, 30*time.Second, "both nodes at one checkpoint", func() bool {
		var erra, errb error
		ma, da, erra = a.StateDigest()
		mb, db, errb = b.StateDigest()
		return erra == nil && errb == nil && ma.Seq == mb.Seq
	})
	if ma != mb || da != db {
		t.Fatalf("at %d root %s digest %s; the other at %d root %s digest %s", ma.Seq, ma.StateRoot, da, mb.Seq, mb.StateRoot, db)
	}
}

// spoilSnapshots damages the latest snapshot file of each given ministry node: truncate cuts
// it in half, otherwise one byte in the middle is flipped. The attestation stays as it was.
func spoilSnapshots(t *testing.T, d *Devnet, nodes []int, truncate bool) {
	t.Helper()
	for _, i := range nodes {
		dir := filepath.Join(d.cfgs[i].DataDir, "snapshots")
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var path string
		var best uint64
		for _, e := range ents {
			head, _, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".snap"), "-")
			if !ok || !strings.HasSuffix(e.Name(), ".snap") {
				continue
			}
			if seq, err := strconv.ParseUint(head, 10, 64); err == nil && seq >= best {
				best, path = seq, filepath.Join(dir, e.Name())
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if truncate {
			raw = raw[:len(raw)/2]
		} else {
			raw[len(raw)/2] ^= 0x40
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFastJoinRefusesBadSnapshots: ministry nodes that serve a truncated or a corrupted
// snapshot are refused and the bureau joins from the one that serves it intact; when every
// snapshot is bad, the join fails without touching the store and the bureau replays the
// history from checkpoint 1 instead.
func TestFastJoinRefusesBadSnapshots(t *testing.T) {
	d, _, quiet := attestedDevnet(t)
	last := len(d.Nodes) - 1
	var ministry []int
	for i, e := range d.Entries {
		if e.Role == ledger.RoleMinistry {
			ministry = append(ministry, i)
		}
	}
	time.Sleep(500 * time.Millisecond) // an export of the quiet checkpoint finishes
	spoilSnapshots(t, d, ministry[:1], true)
	spoilSnapshots(t, d, ministry[1:2], false)

	wipe := func() *node.Node {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Wipe(ctx, last); err != nil {
			t.Fatal(err)
		}
		return d.Nodes[last]
	}
	joined := wipe()
	waitFor(t, 60*time.Second, "the wiped bureau at the network's final checkpoint", func() bool {
		return joined.Final().Seq >= quiet
	})
	if joined.JoinedFrom() == 0 {
		t.Fatalf("did not join from the intact snapshot (history starts at %d)", joined.HistoryStart())
	}
	sameState(t, d.Nodes[ministry[2]], joined)

	// Every snapshot bad: the join fails cleanly, and the history is replayed.
	spoilSnapshots(t, d, ministry[2:], false)
	replayed := wipe()
	waitFor(t, 90*time.Second, "the wiped bureau, replaying, at the network's final checkpoint", func() bool {
		return replayed.Final().Seq >= quiet
	})
	if replayed.JoinedFrom() != 0 || replayed.HistoryStart() != 0 {
		t.Fatalf("joined from %d (history starts at %d) although every snapshot is bad", replayed.JoinedFrom(), replayed.HistoryStart())
	}
	sameState(t, d.Nodes[ministry[2]], replayed)
	if n := counterSum(t, replayed, "jaminan_p2p_penalties_total", "invalid_snapshot"); n < 1 {
		t.Errorf("no peer penalised for a bad snapshot (%v)", n)
	}
}

// counterSum sums a labelled counter of a node's registry over the series with label value v.
func counterSum(t *testing.T, n *node.Node, name, v string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == v {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// startLoad runs the devnet's workload until the returned function is called (once or more).
func startLoad(d *Devnet, rate float64, seed uint64) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.RunLoad(ctx, rate, seed) }()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
