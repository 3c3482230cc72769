package node

import (
	"context"
	"testing"
	"time"
)

// TestEveryFinalCheckpointKeepsItsCertificate: a ministry node applies a checkpoint it ordered
// while the certified copy of the same checkpoint arrives from its peers. Every checkpoint up to
// the final sequence must keep its certificate, or the node serves a final checkpoint it cannot
// prove (GET /v1/checkpoints/{seq}: 404 "certificate n: not found"; the torture suite found such
// gaps on every ministry node).
func TestEveryFinalCheckpointKeepsItsCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three ministry nodes and a bureau for about 10 s")
	}
	tn := newTestNet(t, "ministry-1", "ministry-2", "ministry-3", "bureau-44")
	var ministry []*Node
	for _, name := range []string{"ministry-1", "ministry-2", "ministry-3"} {
		ministry = append(ministry, tn.start(name))
	}
	b := tn.start("bureau-44")
	gen := contributions(400, "44")
	c := c2(b)
	var last []string
	for range 60 { // many small submissions: many checkpoints
		res, err := c.Submit(context.Background(), gen.Next())
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		last = last[:0]
		for _, a := range res.Accepted {
			last = append(last, a.ID)
		}
		time.Sleep(60 * time.Millisecond)
	}
	waitFinal(t, b, last, 60*time.Second)
	for _, n := range ministry {
		waitFinal(t, n, last, 30*time.Second)
		fs, _ := n.chain.FinalSeq()
		v := n.st.View()
		missing := 0
		for s := v.Base() + 1; s <= fs; s++ {
			if _, err := v.Certificate(s); err != nil {
				missing++
				t.Logf("%s: checkpoint %d final (final sequence %d) without its certificate: %v", n.self.Name, s, fs, err)
			}
		}
		v.Release()
		if missing > 0 {
			t.Errorf("%s: %d of %d final checkpoints without a stored certificate", n.self.Name, missing, fs)
		}
	}
}
