package consensus

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestFollowerRejoinsThroughSnapshot (acceptance 2): a follower is offline while the group
// commits many entries (JAMINAN_SNAPSHOT_ENTRIES, default 100000) with TrailingLogs small, so
// the leader no longer has the entries it missed; on restart it receives an InstallSnapshot,
// restores the ordering state, applies the retained checkpoints it missed, and agrees with the
// others at every sequence.
func TestFollowerRejoinsThroughSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("real raft")
	}
	tm := TestTimings()
	// Two nodes carry a heavy write load on two shared cores: a little more slack than the
	// in-process defaults keeps the leader from losing its lease under fsync stalls.
	tm.HeartbeatTimeout, tm.ElectionTimeout, tm.LeaderLeaseTimeout = 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
	tm.TrailingLogs = 256
	tm.SnapshotThreshold = 2048
	tm.SnapshotInterval = 200 * time.Millisecond
	c := newCluster(t, 3, tm, 50*time.Millisecond, nil)
	l, _ := c.waitLeader(10*time.Second, -1)
	gen := c.generate(2*time.Millisecond, 100)
	blocks := gen.wait()
	c.settle(blocks, 30*time.Second)
	f := (l + 1) % 3
	atStop := c.nodes[f].state.Meta().Seq
	c.stop(f)

	// Blocks keep coming while the follower is away, and the leader commits ticks: batches with
	// no references (the leader's clock only), pipelined.
	gen = c.generate(2*time.Millisecond, 400)
	def := 100000
	if raceEnabled {
		def = 10000 // still 40 × TrailingLogs
	}
	entries := envInt("JAMINAN_SNAPSHOT_ENTRIES", def)
	start := time.Now()
	const window = 1024
	futures := make([]raft.ApplyFuture, 0, window)
	lost := 0
	for done := 0; done < entries; {
		l, _ = c.waitLeader(10*time.Second, f)
		r := c.node(l).Orderer.Raft()
		k := min(window, entries-done)
		for range k {
			data, _ := (&Batch{Time: uint64(time.Now().UnixMilli())}).Encode()
			futures = append(futures, r.Apply(data, 10*time.Second))
		}
		ok := 0
		for _, fu := range futures {
			if err := fu.Error(); err != nil {
				lost++ // leadership moved under load: the ticks are proposed again on the new leader
				continue
			}
			ok++
		}
		futures = futures[:0]
		done += ok
	}
	took := time.Since(start)
	t.Logf("%d entries committed in %v (%.0f entries/s, %d proposals retried) while node %d was away", entries, took.Round(time.Millisecond), float64(entries)/took.Seconds(), lost, f)
	blocks = append(blocks, gen.wait()...)
	if err := c.node(l).Orderer.Snapshot(); err != nil {
		t.Fatal(err)
	}
	leaderIndex := c.node(l).Orderer.FSM().Status().LastIndex
	first, _ := c.node(l).Orderer.Raft().Stats()["last_snapshot_index"]
	t.Logf("leader at index %d, last snapshot at %s", leaderIndex, first)

	restart := time.Now()
	c.start(f)
	fsm := c.node(f).Orderer.FSM()
	eventually(t, 60*time.Second, "the follower to catch up", func() bool {
		return fsm.Status().LastIndex >= leaderIndex
	})
	t.Logf("node %d caught up in %v (restores: %d)", f, time.Since(restart).Round(time.Millisecond), fsm.Restores())
	if fsm.Restores() == 0 {
		t.Fatal("the follower caught up without a snapshot: TrailingLogs did not force InstallSnapshot")
	}
	last := c.settle(blocks, 60*time.Second)
	if last <= atStop {
		t.Fatalf("no checkpoint was cut while the follower was away (%d ≤ %d)", last, atStop)
	}
	c.checkAgreement(blocks, last)
}
