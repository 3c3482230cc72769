package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/node/devnet"
)

// tnet is a devnet with a registered rogue member that runs no node.
type tnet struct {
	*devnet.Devnet
	rogueKey string
	rogueID  ledger.KeyID
	peers    []string // the honest nodes' full multiaddrs
	hc       *http.Client
}

// rogueRegion is the rogue bureau's province (Shanghai; no honest bureau has it).
const rogueRegion = "31"

func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("JAMINAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startNet starts a devnet (3 ministry, 4 bureaus, real nodes) whose genesis also names a rogue
// bureau, and writes the rogue's key with the keyfile package.
func startNet(t *testing.T) *tnet {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "rogue.key")
	rogue, err := keyfile.Generate(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := devnet.Start(devnet.Options{Dir: filepath.Join(dir, "devnet"), Logger: testLogger(),
		ExtraMembers: []ledger.Member{{ID: rogue.ID(), Role: ledger.RoleBureau, Region: rogueRegion, Name: "rogue bureau"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close devnet: %v", err)
		}
	})
	n := &tnet{Devnet: d, rogueKey: keyPath, rogueID: rogue.ID(), hc: &http.Client{Timeout: 20 * time.Second}}
	for _, nd := range d.Nodes {
		ai := nd.AddrInfo()
		for _, a := range ai.Addrs {
			if strings.Contains(a.String(), "/tcp/") {
				n.peers = append(n.peers, fmt.Sprintf("%s/p2p/%s", a, ai.ID))
			}
		}
	}
	return n
}

func (n *tnet) genesisFile() string { return filepath.Join(n.Dir, "genesis.json") }

func (n *tnet) urls() []string {
	var out []string
	for _, e := range n.Entries {
		out = append(out, e.HTTP)
	}
	return out
}

// get fetches path from a node's API (with its operator token) into out; it returns the status.
func (n *tnet) get(t *testing.T, e devnet.Entry, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest("GET", e.HTTP+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Token)
	resp, err := n.hc.Do(req)
	if err != nil {
		t.Fatalf("%s GET %s: %v", e.Name, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s GET %s: %v", e.Name, path, err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s GET %s: %v: %.200s", e.Name, path, err, body)
		}
	}
	return resp.StatusCode
}

type statusJSON struct {
	Finalized struct {
		Seq       uint64 `json:"seq"`
		Hash      string `json:"hash"`
		StateRoot string `json:"state_root"`
	} `json:"finalized"`
}

// lowestFinal returns the lowest final seq over every node (each must answer).
func (n *tnet) lowestFinal(t *testing.T) uint64 {
	t.Helper()
	low := ^uint64(0)
	for _, e := range n.Entries {
		var s statusJSON
		if code := n.get(t, e, "/v1/status", &s); code != http.StatusOK {
			t.Fatalf("%s status: %d", e.Name, code)
		}
		low = min(low, s.Finalized.Seq)
	}
	return low
}

// waitFinalAbove waits (bounded) until every node is final beyond seq, and returns the lowest.
func (n *tnet) waitFinalAbove(t *testing.T, seq uint64, within time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		low := n.lowestFinal(t)
		if low > seq {
			return low
		}
		if time.Now().After(deadline) {
			var at []string
			for _, e := range n.Entries {
				var s statusJSON
				n.get(t, e, "/v1/status", &s)
				at = append(at, fmt.Sprintf("%s:%d", e.Name, s.Finalized.Seq))
			}
			t.Fatalf("not every node final beyond %d within %v: %v", seq, within, at)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkAgreement checks that every node has the same checkpoint hash and state root at seq.
func (n *tnet) checkAgreement(t *testing.T, seq uint64) {
	t.Helper()
	var cp struct {
		Hash      string `json:"hash"`
		StateRoot string `json:"state_root"`
	}
	seen := map[string][]string{}
	for _, e := range n.Entries {
		if code := n.get(t, e, "/v1/checkpoints/"+strconv.FormatUint(seq, 10), &cp); code != http.StatusOK {
			var st statusJSON
			n.get(t, e, "/v1/status", &st)
			t.Fatalf("%s checkpoint %d: %d (status: final %d)", e.Name, seq, code, st.Finalized.Seq)
		}
		k := cp.Hash + " " + cp.StateRoot
		seen[k] = append(seen[k], e.Name)
	}
	if len(seen) != 1 {
		t.Fatalf("nodes disagree at checkpoint %d: %v", seq, seen)
	}
}

// metric sums the samples of a Prometheus counter on a node's /metrics whose labels contain
// every one of labels (as name="value").
func (n *tnet) metric(t *testing.T, e devnet.Entry, name string, labels ...string) float64 {
	t.Helper()
	resp, err := n.hc.Get(e.HTTP + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", e.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s metrics: %v", e.Name, err)
	}
	sum := 0.0
next:
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("%s metrics: %q: %v", e.Name, line, err)
		}
		sum += v
	}
	return sum
}

func peerID(s *ledger.Signer) peer.ID { return peer.ID(s.ID()) }
