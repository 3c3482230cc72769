package node

import (
	"context"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/rules"
)

// TestTransferStepLostInACrash: a bureau that applied the checkpoint asking for its transfer
// step but never got the step into its outbox (a kill in between) moves the case on after a
// restart; before the restart the case waits for it.
func TestTransferStepLostInACrash(t *testing.T) {
	defer func(d time.Duration) { resumeDelay = d }(resumeDelay)
	resumeDelay = 300 * time.Millisecond
	ctx := context.Background()
	tn := newTestNet(t, "ministry-1", "bureau-44", "bureau-51")
	tn.start("ministry-1")
	b51 := tn.start("bureau-51")
	b44, err := Start(tn.cfgs["bureau-44"], Options{Logger: testLogger(), dropTransferSteps: true})
	if err != nil {
		t.Fatal(err)
	}
	gen := contributions(3, "44")
	waitFinal(t, b51, submit(t, b44, gen.Next()), 60*time.Second)
	caseText, err := c2(b51).ApplyTransfer(ctx, gen.Workers()[0].ID, "44", "51")
	if err != nil {
		t.Fatalf("apply for the transfer: %v", err)
	}
	c, err := ledger.ParseHash(caseText)
	if err != nil {
		t.Fatal(err)
	}
	stage := func() string {
		tr, found, err := ledger.GetTransfer(b51.st, c)
		if err != nil || !found {
			return ""
		}
		return tr.Stage
	}
	waitStage := func(want rules.Stage, within time.Duration) {
		t.Helper()
		for end := time.Now().Add(within); stage() != string(want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("case %s at stage %q after %v, want %q", c, stage(), within, want)
			}
		}
	}
	// Bureau 51 sends the letter; 44 applies it and drops its transfer-out, also when it looks
	// again for cases awaiting it (resumeDelay twice).
	waitStage(rules.StageLetterSent, 60*time.Second)
	time.Sleep(3 * resumeDelay)
	if s := stage(); s != string(rules.StageLetterSent) {
		t.Fatalf("the case moved to %q without bureau 44's step", s)
	}
	closeNode(t, b44)
	b44 = tn.start("bureau-44")
	waitStage(rules.StageCompleted, 60*time.Second)
}
