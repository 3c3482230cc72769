package raftlog

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// chainFSM folds every command into a hash chain, so two replicas agree only
// if they applied the same commands in the same order.
type chainFSM struct {
	mu   sync.Mutex
	n    uint64
	hash [32]byte
}

func (f *chainFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.hash = sha256.Sum256(append(f.hash[:], l.Data...))
	return f.n
}

func (f *chainFSM) state() (uint64, [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.hash
}

func (f *chainFSM) Snapshot() (raft.FSMSnapshot, error) {
	n, h := f.state()
	b := binary.BigEndian.AppendUint64(nil, n)
	return chainSnapshot(append(b, h[:]...)), nil
}

func (f *chainFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if len(b) != 40 {
		return fmt.Errorf("snapshot of %d bytes, want 40", len(b))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n = binary.BigEndian.Uint64(b)
	copy(f.hash[:], b[8:])
	return nil
}

type chainSnapshot []byte

func (s chainSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (chainSnapshot) Release() {}

// testLogWriter forwards raft's logs to t.Log until the test ends.
type testLogWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(p))
	}
	return len(p), nil
}

type testNode struct {
	id    raft.ServerID
	dir   string
	store *Store
	fsm   *chainFSM
	trans *raft.InmemTransport
	raft  *raft.Raft
}

type testCluster struct {
	t     *testing.T
	nodes []*testNode
	logw  *testLogWriter
}

func (c *testCluster) start(n *testNode) {
	t := c.t
	store, err := Open(filepath.Join(n.dir, "raft"), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	cached, err := NewCached(store, 512)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(filepath.Join(n.dir, "snaps"), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = n.id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.BatchApplyCh = true
	conf.MaxAppendEntries = 256
	conf.SnapshotInterval = time.Hour // snapshots are taken by the test
	conf.SnapshotThreshold = 1 << 30
	conf.TrailingLogs = 50
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: string(n.id), Level: hclog.Warn, Output: c.logw})
	_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.id))
	for _, o := range c.nodes {
		if o != n && o.trans != nil {
			n.trans.Connect(raft.ServerAddress(o.id), o.trans)
			o.trans.Connect(raft.ServerAddress(n.id), n.trans)
		}
	}
	n.fsm = &chainFSM{}
	n.store = store
	n.raft, err = raft.NewRaft(conf, n.fsm, cached, store, snaps, n.trans)
	if err != nil {
		t.Fatal(err)
	}
}

func (c *testCluster) stop(n *testNode) {
	if n.raft == nil {
		return
	}
	if err := n.raft.Shutdown().Error(); err != nil {
		c.t.Errorf("shutdown %s: %v", n.id, err)
	}
	if err := n.store.Close(); err != nil {
		c.t.Errorf("close store of %s: %v", n.id, err)
	}
	n.raft = nil
}

func (c *testCluster) leader(timeout time.Duration) *testNode {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft != nil && n.raft.State() == raft.Leader {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return nil
}

func apply(t *testing.T, r *raft.Raft, from, to int) {
	t.Helper()
	futures := make([]raft.ApplyFuture, 0, to-from)
	for i := from; i < to; i++ {
		futures = append(futures, r.Apply([]byte(fmt.Sprintf("cmd-%06d", i)), 5*time.Second))
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatalf("apply %d: %v", from+i, err)
		}
	}
}

// TestRaftClusterOnStore runs a real 3-node hashicorp/raft cluster whose log
// and stable stores are this package's on-disk stores: it elects a leader,
// applies entries, snapshots (which truncates the log through DeleteRange),
// restarts a follower that then needs an InstallSnapshot because the leader
// no longer has the entries it missed, and checks that every replica folded
// the same 1000 commands in the same order.
func TestRaftClusterOnStore(t *testing.T) {
	if testing.Short() {
		t.Skip("raft cluster test in -short mode")
	}
	c := &testCluster{t: t, logw: &testLogWriter{t: t}}
	t.Cleanup(func() { c.logw.done.Store(true) })
	for i := 0; i < 3; i++ {
		c.nodes = append(c.nodes, &testNode{id: raft.ServerID(fmt.Sprintf("n%d", i)), dir: t.TempDir()})
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	var servers []raft.Server
	for _, n := range c.nodes {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: n.id, Address: raft.ServerAddress(n.id)})
	}
	if err := c.nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}

	leader := c.leader(10 * time.Second)
	apply(t, leader.raft, 0, 600)
	if err := leader.raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	// Every node snapshots, so the restarted follower restores its own
	// snapshot and replays its own log tail on start.
	for _, n := range c.nodes {
		waitFor(t, 5*time.Second, func() bool { k, _ := n.fsm.state(); return k == 600 })
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot on %s: %v", n.id, err)
		}
	}

	var follower *testNode
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}
	c.stop(follower)
	stoppedLast := follower.raftLastIndexOnDisk(t)
	if stoppedLast < 600 {
		t.Fatalf("follower's log on disk ends at %d, want ≥ 600", stoppedLast)
	}

	apply(t, leader.raft, 600, 1000)
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("second snapshot on the leader: %v", err)
	}
	first, err := leader.store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= stoppedLast+1 {
		t.Fatalf("leader log starts at %d; the test needs it past the follower's %d", first, stoppedLast)
	}

	c.start(follower)
	wantN, wantHash := leader.fsm.state()
	if wantN != 1000 {
		t.Fatalf("leader applied %d commands, want 1000", wantN)
	}
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, func() bool {
			k, h := n.fsm.state()
			return k == wantN && h == wantHash
		})
	}
	// The follower's store now holds what the leader replicated after the
	// snapshot, and raft kept its term in our stable store.
	if term, err := follower.store.GetUint64([]byte("CurrentTerm")); err != nil || term == 0 {
		t.Fatalf("follower CurrentTerm = %d, %v", term, err)
	}
	apply(t, leader.raft, 1000, 1010)
	leaderLast, _ := leader.store.LastIndex()
	waitFor(t, 5*time.Second, func() bool {
		l, err := follower.store.LastIndex()
		return err == nil && l == leaderLast
	})
}

// raftLastIndexOnDisk reopens a stopped node's store and reads its last index.
func (n *testNode) raftLastIndexOnDisk(t *testing.T) uint64 {
	t.Helper()
	s, err := Open(filepath.Join(n.dir, "raft"), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
