package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

func testLogger() *slog.Logger {
	level := slog.LevelError + 4 // raft's harmless shutdown errors would drown the output
	if os.Getenv("JAMINAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// testNet is a small network on loopback: one ministry node and one bureau (44), real parts.
type testNet struct {
	t    *testing.T
	dir  string
	cfgs map[string]Config
}

func newTestNet(t *testing.T, names ...string) *testNet {
	t.Helper()
	tn := &testNet{t: t, dir: t.TempDir(), cfgs: map[string]Config{}}
	g := &ledger.Genesis{Network: "jaminan-nodetest", Time: uint64(time.Now().Add(-time.Hour).UnixMilli()), Params: ledger.DefaultParams(), UTCOffset: 8 * 3600}
	signers := map[string]*ledger.Signer{}
	for _, name := range names {
		s, err := keyfile.Generate(filepath.Join(tn.dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		signers[name] = s
		m := ledger.Member{ID: s.ID(), Name: name, Role: ledger.RoleMinistry}
		if name[:6] == "bureau" {
			m.Role, m.Region = ledger.RoleBureau, name[len(name)-2:]
		}
		g.Members = append(g.Members, m)
	}
	g.Normalise()
	raw, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tn.dir, "genesis.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := keyfile.GeneratePepper(filepath.Join(tn.dir, "pepper")); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, name := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	for _, name := range names {
		cfg := DefaultConfig()
		cfg.DataDir = filepath.Join(tn.dir, name)
		cfg.Key = filepath.Join(tn.dir, name+".key")
		cfg.Genesis = filepath.Join(tn.dir, "genesis.json")
		cfg.Pepper = filepath.Join(tn.dir, "pepper")
		cfg.HTTP = "127.0.0.1:0"
		cfg.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", ports[name])}
		for _, o := range names {
			if o != name {
				cfg.Peers = append(cfg.Peers, fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", ports[o], signers[o].ID()))
			}
		}
		cfg.RaftTimings = "fast"
		cfg.BlockInterval = Duration{50 * time.Millisecond}
		cfg.CheckpointInterval = Duration{50 * time.Millisecond}
		cfg.SyncInterval = Duration{time.Second}
		tn.cfgs[name] = cfg
	}
	return tn
}

func (tn *testNet) start(name string) *Node {
	tn.t.Helper()
	n, err := Start(tn.cfgs[name], Options{Logger: testLogger()})
	if err != nil {
		tn.t.Fatalf("start %s: %v", name, err)
	}
	tn.t.Cleanup(func() { closeNode(tn.t, n) })
	return n
}

func closeNode(t *testing.T, n *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close %s: %v", n.self.Name, err)
	}
}

func contributions(n int, region string) *workload.Generator {
	var regs []workload.Region
	for _, r := range workload.DefaultRegions() {
		if r.Province == region {
			regs = append(regs, r)
		}
	}
	return workload.New(7, regs, n, civil.MustPeriod(2025, 1))
}

// submit submits batch at n and returns the IDs of the records it acknowledged (at least one).
func submit(t *testing.T, n *Node, batch []intake.Input) []string {
	t.Helper()
	res, err := c2(n).Submit(context.Background(), batch)
	if err != nil || len(res.Accepted) == 0 {
		t.Fatalf("submit to %s: %v", n.self.Name, err)
	}
	ids := make([]string, 0, len(res.Accepted))
	for _, a := range res.Accepted {
		ids = append(ids, a.ID)
	}
	return ids
}

// waitFinal waits until every ID is final at n, and returns how often each was applied in n's
// stored checkpoints, with the receipt codes seen.
func waitFinal(t *testing.T, n *Node, ids []string, within time.Duration) {
	t.Helper()
	c := client.New("http://"+n.HTTPAddr(), n.Token())
	deadline := time.Now().Add(within)
	for _, id := range ids {
		for {
			st, err := c.Record(context.Background(), id)
			if err == nil && st.Status == "final" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record %s not final within %v (%+v, %v)", id, within, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func receiptsByID(t *testing.T, n *Node) map[ledger.Hash][]string {
	t.Helper()
	v := n.st.View()
	defer v.Release()
	meta, err := v.Meta()
	if err != nil {
		t.Fatal(err)
	}
	out := map[ledger.Hash][]string{}
	for s := uint64(1); s <= meta.Seq; s++ {
		res, err := v.Result(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Receipts {
			out[r.ID] = append(out[r.ID], r.Code)
		}
	}
	return out
}

// TestOutboxReplayAfterCrashHasNoDuplicates: a bureau stops after its block is on disk but
// before the outbox knows; after the restart the outbox offers the same records again, and
// each record is still carried in exactly one block and applied exactly once.
func TestOutboxReplayAfterCrashHasNoDuplicates(t *testing.T) {
	tn := newTestNet(t, "ministry-1", "bureau-44")
	tn.start("ministry-1")
	b := tn.start("bureau-44")
	b.prod.crashAfterFile.Store(true)
	gen := contributions(50, "44")
	var inputs = gen.Next()
	for len(inputs) < 40 {
		inputs = append(inputs, gen.Next()...)
	}
	c := client.New("http://"+b.HTTPAddr(), b.Token())
	res, err := c.Submit(context.Background(), inputs)
	if err != nil || len(res.Accepted) != len(inputs) {
		t.Fatalf("submit: %v %+v", err, res.Rejected)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(tn.cfgs["bureau-44"].DataDir, "produced", "*.blk"))
		if len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no block file written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeNode(t, b) // the "crash": the block file exists, the outbox was not marked
	b2 := tn.start("bureau-44")
	if got := b2.prod.PendingCount(); got != len(inputs) {
		t.Errorf("after restart %d records pending, want %d", got, len(inputs))
	}
	var ids []string
	for _, a := range res.Accepted {
		ids = append(ids, a.ID)
	}
	waitFinal(t, b2, ids, 30*time.Second)
	// A record submitted after the restart comes after the replayed ones in the outbox: once it
	// is final, any block the replay could have produced is applied too.
	more := gen.Next()
	res2, err := c2(b2).Submit(context.Background(), more)
	if err != nil || len(res2.Accepted) != len(more) {
		t.Fatalf("submit after restart: %v", err)
	}
	var later []string
	for _, a := range res2.Accepted {
		later = append(later, a.ID)
	}
	waitFinal(t, b2, later, 30*time.Second)
	ids = append(ids, later...)
	rs := receiptsByID(t, b2)
	for _, id := range ids {
		h, err := ledger.ParseHash(id)
		if err != nil {
			t.Fatal(err)
		}
		if codes := rs[h]; len(codes) != 1 || codes[0] != ledger.CodeOK {
			t.Errorf("record %s applied as %v, want exactly once, ok", id[:12], codes)
		}
	}
	if len(rs) != len(ids) {
		t.Errorf("%d records applied, want %d", len(rs), len(ids))
	}
}

func c2(n *Node) *client.Client { return client.New("http://"+n.HTTPAddr(), n.Token()) }
