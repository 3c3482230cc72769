package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// tarpit accepts TCP connections and never answers: a peer whose libp2p handshake hangs.
func tarpit(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// TestCloseLeavesStoreOpenWhileConsensusStops: a ministry node whose Raft cannot stop by the
// deadline of Close (its pre-vote dials hang on two ministry peers that never answer the
// handshake) returns from Close at the deadline with an error, but does not close its stores
// until consensus has stopped — a Raft goroutine reads the ledger store, and a read of a closed
// badger can fault the process (SIGSEGV under a backlog at shutdown, docs/PERFORMANCE.md).
// Once consensus has stopped, the stores are closed.
func TestCloseLeavesStoreOpenWhileConsensusStops(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a ministry node for up to about 15 s")
	}
	tn := newTestNet(t, "ministry-1", "ministry-2", "ministry-3")
	cfg := tn.cfgs["ministry-1"]
	for i, p := range cfg.Peers {
		// Same peer IDs, at tarpits: Raft's dials to them hang until the transport's timeout.
		rest := p[strings.Index(p, "/p2p/"):]
		cfg.Peers[i] = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d%s", tarpit(t), rest)
	}
	n, err := Start(cfg, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m := n.ministry.Load()
	if m == nil {
		t.Fatal("no consensus on a ministry node")
	}
	// Wait (bounded) for an election: its pre-vote dials are what hang.
	for deadline := time.Now().Add(20 * time.Second); m.Orderer.Raft().State() != raft.Candidate; {
		if time.Now().After(deadline) {
			t.Fatalf("raft state %v after 20 s, want candidate", m.Orderer.Raft().State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cerr := n.Close(ctx)
	if cerr == nil {
		t.Skip("consensus stopped within the deadline: the case under test did not arise")
	}
	if !strings.Contains(cerr.Error(), "stop consensus") || !strings.Contains(cerr.Error(), "once it has") {
		t.Fatalf("close: %v", cerr)
	}
	// Under storeMu, the stores are closed only after consensusStopped: either consensus has
	// stopped, or the ledger store still answers.
	n.storeMu.Lock()
	stopped := isClosed(n.consensusStopped)
	_, merr := n.st.Meta()
	n.storeMu.Unlock()
	if !stopped && merr != nil {
		t.Fatalf("ledger store closed while consensus was still stopping: %v", merr)
	}
	t.Logf("close returned %q; consensus stopped then: %v", cerr, stopped)
	select {
	case <-n.consensusStopped:
	case <-time.After(2 * time.Minute):
		t.Fatal("consensus did not stop within 2 minutes of Close")
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := n.st.Meta(); err != nil {
			break // closed after consensus stopped
		}
		if time.Now().After(deadline) {
			t.Fatal("ledger store still open a minute after consensus stopped")
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
