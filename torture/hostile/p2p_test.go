package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// TestRogueAndStranger lets a registered member misbehave in every way RunRogue knows, and a
// stranger dial and spam, against a real devnet under load. Afterwards: every node is up and
// agrees at the latest common checkpoint, which is beyond where the attack began; no forged
// block reached any node; at most one block of each equivocating pair is anywhere, and the
// equivocation is evidence at GET /v1/evidence; the rogue was refused (gossip rejections,
// sync penalties, a ban at the gate); the stranger got nothing through.
func TestRogueAndStranger(t *testing.T) {
	n := startNet(t)
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); n.RunLoad(loadCtx, 50, 1) }()
	t.Cleanup(func() { stopLoad(); <-loadDone })
	before := n.waitFinalAbove(t, 0, 30*time.Second)

	var mu sync.Mutex
	sent := map[string][]ledger.Hash{}
	// The stranger tries for 10 s; the rogue does two whole rounds of its misbehaviours, however
	// long the machine takes (under -race beside other packages one round took over 10 s).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rogueCtx, rogueCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rogueCancel()
	var rogue, stranger Stats
	var rogueErr, strangerErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		rogue, rogueErr = RunRogue(rogueCtx, RogueConfig{KeyFile: n.rogueKey, GenesisFile: n.genesisFile(), Peers: n.peers, Rounds: 2,
			OnBlock: func(kind string, h ledger.Hash) {
				mu.Lock()
				sent[kind] = append(sent[kind], h)
				mu.Unlock()
			}}, testLogger())
	}()
	go func() {
		defer wg.Done()
		stranger, strangerErr = RunNonMember(ctx, n.peers, testLogger())
	}()
	wg.Wait()
	if rogueErr != nil || strangerErr != nil {
		t.Fatalf("rogue: %v; stranger: %v", rogueErr, strangerErr)
	}
	t.Logf("rogue: sent %d, errors %d, %v", rogue.Sent, rogue.Errors, rogue.Kinds)
	t.Logf("stranger: sent %d, errors %d, %v", stranger.Sent, stranger.Errors, stranger.Kinds)

	for _, kind := range RogueKinds {
		if rogue.Kinds[kind] == 0 {
			t.Errorf("the rogue never got to send %s", kind)
		}
	}
	if rogue.Errors != 0 {
		t.Errorf("%d sync abuses were answered", rogue.Errors)
	}
	// Nothing forged is stored anywhere.
	for kind, hashes := range sent {
		if kind == KindReplay || kind == KindEquivocation || kind == KindSplitEquivocation {
			continue
		}
		for _, h := range hashes {
			for _, e := range n.Entries {
				if code := n.get(t, e, "/v1/blocks/"+h.String(), nil); code != http.StatusNotFound {
					t.Errorf("%s block %s: %d, want 404", kind, h, code)
				}
			}
		}
	}
	// An equivocating pair's block may be ordered a little after the attack. Wait (bounded)
	// until the first split pair is ordered somewhere: a split view must not stop the nodes that
	// first saw the other block (it once stalled three of seven nodes for good).
	eq := append(sent[KindSplitEquivocation], sent[KindEquivocation]...)
	ordered := func() (seq uint64) {
		for _, e := range n.Entries {
			for _, h := range eq {
				var b struct {
					Checkpoint uint64 `json:"checkpoint"`
				}
				if n.get(t, e, "/v1/blocks/"+h.String(), &b) == http.StatusOK {
					seq = max(seq, b.Checkpoint)
				}
			}
		}
		return seq
	}
	if len(sent[KindSplitEquivocation]) == 0 {
		t.Error("the rogue made no split equivocation")
	}
	deadline := time.Now().Add(20 * time.Second)
	orderedAt := ordered()
	for orderedAt == 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		orderedAt = ordered()
	}
	t.Logf("a block of an equivocating pair is ordered at checkpoint %d", orderedAt)
	if orderedAt == 0 {
		// Then the split did not get as far as an ordered block; TestTwinBlockIsKeptForTheCheckpoint
		// (package node) covers what would follow.
		t.Log("no block of an equivocating pair was ordered within 20 s: the split view was not put to the test this run")
	}
	// The network kept finalizing through the attack, every node got past the rogue's blocks,
	// and they agree.
	after := n.waitFinalAbove(t, max(before, orderedAt), 30*time.Second)
	n.checkAgreement(t, after)
	// Of each equivocating pair, at most one block is final anywhere.
	for i := 0; i+1 < len(eq); i += 2 {
		found := map[ledger.Hash]bool{}
		var where []string
		for _, e := range n.Entries {
			for k, h := range eq[i : i+2] {
				if n.get(t, e, "/v1/blocks/"+h.String(), nil) == http.StatusOK {
					found[h] = true
					where = append(where, fmt.Sprintf("%s:%c", e.Name, 'a'+k))
				}
			}
		}
		t.Logf("equivocating pair %d final at %v", i/2, where)
		if len(found) > 1 {
			t.Errorf("both blocks of an equivocation are final: %v", found)
		}
	}
	// The equivocation is evidence on a ministry node.
	var ministry = n.Entries[0]
	for _, e := range n.Entries {
		if e.Role == ledger.RoleMinistry {
			ministry = e
			break
		}
	}
	var ev struct {
		Evidence []struct {
			Kind     string `json:"kind"`
			Offender string `json:"offender"`
		} `json:"evidence"`
	}
	if code := n.get(t, ministry, "/v1/evidence", &ev); code != http.StatusOK {
		t.Fatalf("evidence: %d", code)
	}
	found := false
	for _, e := range ev.Evidence {
		found = found || (e.Kind == "double_block" && e.Offender == n.rogueID.String())
	}
	if !found {
		raw, _ := json.Marshal(ev)
		t.Errorf("no double_block evidence against the rogue at %s: %s", ministry.Name, raw)
	}
	// Every node refused the rogue's gossip and penalised its sync abuse; the stranger was gated.
	for _, e := range n.Entries {
		rejects := n.metric(t, e, "jaminan_p2p_gossip_validated_total", `result="reject"`)
		penalties := n.metric(t, e, "jaminan_p2p_penalties_total")
		gated := n.metric(t, e, "jaminan_p2p_gated_total")
		reasons := map[string]float64{}
		for _, r := range []string{"malformed_request", "malformed_frame", "truncated", "stall", "malformed_response", "invalid_item"} {
			if v := n.metric(t, e, "jaminan_p2p_penalties_total", `reason="`+r+`"`); v > 0 {
				reasons[r] = v
			}
		}
		t.Logf("%s: %v gossip rejections, %v sync penalties %v, %v gated", e.Name, rejects, penalties, reasons, gated)
		if rejects == 0 || penalties == 0 || gated == 0 {
			t.Errorf("%s: %v gossip rejections, %v sync penalties, %v gated connections; want each > 0", e.Name, rejects, penalties, gated)
		}
	}
	// No honest node penalised another: the rogue serves no sync, so a client-side penalty (a
	// response or an item a node found wrong) could only have hit an honest server. (A split
	// view once made every anti-entropy round cost an honest server 100 points.)
	for _, e := range n.Entries {
		for _, r := range []string{"invalid_item", "malformed_response"} {
			if v := n.metric(t, e, "jaminan_p2p_penalties_total", `reason="`+r+`"`); v > 0 {
				t.Errorf("%s penalised honest peers %v times for %s", e.Name, v, r)
			}
		}
	}
	if stranger.Errors != 0 {
		t.Errorf("the stranger got %d things through: %v", stranger.Errors, stranger.Kinds)
	}
	if stranger.Kinds["refused_dial"] == 0 || stranger.Kinds["refused_stream"] == 0 {
		t.Errorf("the stranger was never refused: %v", stranger.Kinds)
	}
}
