package node

import (
	"context"
	"testing"
	"time"
)

// TestMinistryRestartedPastMaxAheadCatchesUp: a ministry node stopped after more checkpoints
// than the executor may apply ahead of finality (consensus.DefaultMaxAhead) applies again after
// its restart and reaches the others' final sequence (the torture suite's clock-skew scenario
// found a restarted ministry node stuck at its old sequence for good).
func TestMinistryRestartedPastMaxAheadCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three ministry nodes and a bureau for about 20 s")
	}
	tn := newTestNet(t, "ministry-1", "ministry-2", "ministry-3", "bureau-44")
	m1 := tn.start("ministry-1")
	tn.start("ministry-2")
	m3 := tn.start("ministry-3")
	b := tn.start("bureau-44")
	gen := contributions(400, "44")
	submit := func(rounds int) []string {
		var last []string
		for range rounds {
			res, err := c2(b).Submit(context.Background(), gen.Next())
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			last = last[:0]
			for _, a := range res.Accepted {
				last = append(last, a.ID)
			}
			time.Sleep(60 * time.Millisecond)
		}
		return last
	}
	// More than 64 checkpoints before the restart: how many rounds that takes depends on how
	// many records each checkpoint gathers, so submit until there are (bounded).
	for round := 0; ; round++ {
		waitFinal(t, m3, submit(30), 60*time.Second)
		fs, _ := m3.chain.FinalSeq()
		if fs > 70 {
			break
		}
		if round == 20 {
			t.Fatalf("only %d checkpoints after %d submissions; the test needs more than 64", fs, 30*(round+1))
		}
	}
	closeNode(t, m3)
	m3 = tn.start("ministry-3")
	last := submit(20)
	waitFinal(t, m1, last, 60*time.Second)
	waitFinal(t, m3, last, 60*time.Second)
}
