package consensus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// bus is an in-process Publisher: it delivers votes to the nodes attached to it and keeps what
// was published.
type bus struct {
	mu       sync.Mutex
	voters   map[string]func(ledger.Vote) error
	finals   map[string]func(*ledger.CheckpointBody, *ledger.Certificate) error
	witness  []ledger.Vote
	votes    int
	finalsIn int
}

func newBus() *bus {
	return &bus{voters: map[string]func(ledger.Vote) error{}, finals: map[string]func(*ledger.CheckpointBody, *ledger.Certificate) error{}}
}

func (b *bus) attach(name string, vote func(ledger.Vote) error, final func(*ledger.CheckpointBody, *ledger.Certificate) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if vote != nil {
		b.voters[name] = vote
	}
	if final != nil {
		b.finals[name] = final
	}
}

func (b *bus) detach(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.voters, name)
	delete(b.finals, name)
}

func (b *bus) PublishVote(_ context.Context, v ledger.Vote) error {
	b.mu.Lock()
	b.votes++
	hs := make([]func(ledger.Vote) error, 0, len(b.voters))
	for _, h := range b.voters {
		hs = append(hs, h)
	}
	b.mu.Unlock()
	for _, h := range hs {
		_ = h(v) // a refused vote is the receiver's business
	}
	return nil
}

func (b *bus) PublishWitness(_ context.Context, v ledger.Vote) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.witness = append(b.witness, v)
	return nil
}

func (b *bus) PublishFinal(_ context.Context, cb *ledger.CheckpointBody, c *ledger.Certificate) error {
	b.mu.Lock()
	b.finalsIn++
	hs := make([]func(*ledger.CheckpointBody, *ledger.Certificate) error, 0, len(b.finals))
	for _, h := range b.finals {
		hs = append(hs, h)
	}
	b.mu.Unlock()
	for _, h := range hs {
		_ = h(cb, c)
	}
	return nil
}

func (b *bus) witnessVotes() []ledger.Vote {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ledger.Vote(nil), b.witness...)
}

// eventually polls cond every few milliseconds until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// chain builds k checkpoints of valid contributions on a reference state and returns the bodies,
// their results and the blocks.
func chain(t testing.TB, n *ledgertest.Net, k int) ([]*ledger.CheckpointBody, []*ledger.Result, *MemBlocks) {
	ref := n.GenesisState()
	blocks := NewMemBlocks()
	var cbs []*ledger.CheckpointBody
	var rs []*ledger.Result
	for i := 0; i < k; i++ {
		var bs []*ledger.Block
		for j, prov := range ledgertest.Provinces {
			w := ledgertest.Worker(i*10 + j)
			rec := n.Record(n.Bureau[prov], n.Contribution(w, ledgertest.Region(prov), 202212, 800000, ledgertest.Employer(1)))
			bs = append(bs, n.Block(n.Bureau[prov], rec))
		}
		blocks.Put(bs...)
		meta, _ := ledger.ReadMeta(ref)
		cb := n.Checkpoint(meta, bs...)
		rs = append(rs, n.ApplyMem(ref, cb, bs))
		cbs = append(cbs, cb)
	}
	return cbs, rs, blocks
}

func metricValue(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
			if label == "" {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestWitnessRejectsForgedCertificates: a bureau applies only checkpoints whose certificate a
// majority of the ministry set signed over the exact (checkpoint, root); a wrong signer, too few
// signatures or an altered root is refused without applying, and a majority that certifies a
// root other than the one the bureau computes halts it before it commits.
func TestWitnessRejectsForgedCertificates(t *testing.T) {
	n := ledgertest.New(t)
	net := n.Genesis.Network
	cbs, rs, blocks := chain(t, n, 3)
	st := NewMemState(n.Genesis)
	b := newBus()
	reg := prometheus.NewRegistry()
	w, err := NewWitness(WitnessConfig{Genesis: n.Genesis, Signer: n.Bureau["51"], State: st, Blocks: blocks, Publisher: b, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	good := n.Certify(rs[0])
	sign := func(signers []*ledger.Signer, root ledger.Hash) *ledger.Certificate {
		var vs []ledger.Vote
		for _, s := range signers {
			vs = append(vs, ledger.SignVote(s, net, 1, rs[0].Checkpoint, root))
		}
		c := ledger.Certify(1, rs[0].Checkpoint, root, vs)
		return &c
	}
	altered := *good
	altered.StateRoot = hashOf("altered")
	forged := map[string]*ledger.Certificate{
		"wrong signer":  sign([]*ledger.Signer{n.Ministry[0], n.Bureau["44"]}, rs[0].StateRoot),
		"too few":       sign([]*ledger.Signer{n.Ministry[0]}, rs[0].StateRoot),
		"altered root":  &altered,
		"stranger pair": sign([]*ledger.Signer{n.Stranger, n.Bureau["11"]}, rs[0].StateRoot),
	}
	bad := 0.0
	for name, c := range forged {
		if err := w.SubmitFinal(cbs[0], c); err != nil {
			t.Fatalf("%s: refused before verification: %v", name, err)
		}
		bad++
		eventually(t, 5*time.Second, name+" to be rejected", func() bool {
			return metricValue(t, reg, "jaminan_consensus_alarms_total", AlarmBadFinal) == bad
		})
		if meta := st.Meta(); meta.Seq != 0 {
			t.Fatalf("%s: applied checkpoint %d", name, meta.Seq)
		}
	}
	if h := w.Health(); h.State != HealthDegraded {
		t.Fatalf("health after forged certificates: %+v", h)
	}
	// A certificate naming another checkpoint is refused at once.
	if err := w.SubmitFinal(cbs[1], good); err == nil {
		t.Fatal("certificate of checkpoint 1 accepted for checkpoint 2")
	}

	// The genuine certificates apply, and the witness cosigns each root.
	for i := 0; i < 2; i++ {
		if err := w.SubmitFinal(cbs[i], n.Certify(rs[i])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "two checkpoints applied", func() bool { return st.Meta().Seq == 2 })
	eventually(t, 5*time.Second, "two cosignatures", func() bool { return len(b.witnessVotes()) == 2 })
	for i, v := range b.witnessVotes() {
		if err := ledger.VerifyWitness(net, &v); err != nil || v.StateRoot != rs[i].StateRoot {
			t.Fatalf("cosignature %d: %v", i, err)
		}
	}

	// A full ministry majority signs a wrong root for checkpoint 3: the bureau computes another
	// one, raises the alarm, and stops without committing.
	wrong := *rs[2]
	wrong.StateRoot = hashOf("lie")
	if err := w.SubmitFinal(cbs[2], n.Certify(&wrong)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "root mismatch halt", func() bool { return w.Health().State == HealthHalted })
	if h := w.Health(); h.Kind != AlarmRootMismatch || h.Seq != 3 {
		t.Fatalf("health %+v", h)
	}
	if metricValue(t, reg, "jaminan_consensus_alarms_total", AlarmRootMismatch) != 1 || metricValue(t, reg, "jaminan_consensus_health", "") != 2 {
		t.Fatal("root mismatch not in metrics")
	}
	// Even the genuine certificate is not applied past the disputed checkpoint now.
	_ = w.SubmitFinal(cbs[2], n.Certify(rs[2]))
	time.Sleep(50 * time.Millisecond) // nothing to await: asserting that something does not happen
	if st.Meta().Seq != 2 {
		t.Fatal("a halted witness applied past the mismatch")
	}
	if _, err := w.Executor.Applied(); err != nil {
		t.Fatal(err)
	}
	if halted, at := w.Finality.Halted(); !halted || at != 3 {
		t.Fatalf("halted %v at %d", halted, at)
	}
	if !errors.Is(w.Finality.Gate(context.Background(), 4, 0), ErrHalted) {
		t.Fatal("gate open after halt")
	}
}
