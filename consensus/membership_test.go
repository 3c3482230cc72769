package consensus

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// TestVoterAddedThroughGovernance: a new ministry key is admitted by a gov.member record that a
// ministry majority signed; once the record is applied, the leader's admin call adds the node
// as a Raft voter; the new node (started without bootstrapping) catches up, applies and votes,
// and all four agree at every checkpoint. Before the record, the same admin call is refused.
func TestVoterAddedThroughGovernance(t *testing.T) {
	c := newCluster(t, 3, TestTimings(), 0, nil)
	l, _ := c.waitLeader(30*time.Second, -1)
	newcomer := ledger.SignerFromSeed(bytes.Repeat([]byte{0x1f}, 32))
	pid := peer.ID(newcomer.ID())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.node(l).Orderer.AddVoter(ctx, pid); err == nil {
		t.Fatal("a key that is not a ministry member was added as a voter")
	}

	n := c.net
	admit := &ledger.GovMember{Member: ledger.Member{ID: newcomer.ID(), Role: ledger.RoleMinistry, Name: "ministry 4"}}
	gov := n.Block(n.Ministry[0], n.Record(n.Ministry[0], admit, n.Ministry[0], n.Ministry[1]))
	c.submit(gov)
	last := c.settle([]*ledger.Block{gov}, time.Minute)
	eventually(t, 30*time.Second, "the admission applied on every node", func() bool {
		for _, cn := range c.live() {
			set, err := ledger.MinistrySet(cn.state, cn.state.Meta().Time)
			if err != nil || !slices.Contains(set, newcomer.ID()) || cn.state.Meta().Seq < last {
				return false
			}
		}
		return true
	})

	c.mu.Lock()
	c.nodes = append(c.nodes, &cnode{i: 3, signer: newcomer, joiner: true, dir: filepath.Join(t.TempDir(), "m3"), state: NewMemState(n.Genesis)})
	c.mu.Unlock()
	c.start(3)
	l, _ = c.waitLeader(30*time.Second, -1)
	if err := c.node(l).Orderer.AddVoter(ctx, pid); err != nil {
		t.Fatalf("add the admitted voter: %v", err)
	}
	voters, err := c.node(l).Orderer.Voters()
	if err != nil || len(voters) != 4 {
		t.Fatalf("voters %v %v", voters, err)
	}
	blocks := append([]*ledger.Block{gov}, c.generate(5*time.Millisecond, 40).wait()...)
	last = c.settle(blocks, 2*time.Minute)
	c.checkAgreement(blocks, last)
	eventually(t, 30*time.Second, "the newcomer applied everything and every checkpoint is final there", func() bool {
		m := c.node(3)
		return m != nil && c.nodes[3].state.Meta().Seq == last && m.Finality.Final() >= last
	})
}
