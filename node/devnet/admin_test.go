package devnet

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// TestAdminCommands: the operator's membership and leadership commands on a real ministry group:
// the leader hands leadership over (followers answer 409 naming the leader), a key the ledger
// has not admitted cannot be added as a voter, and a bureau is not a ministry node.
func TestAdminCommands(t *testing.T) {
	d := startDevnet(t)
	hc := &http.Client{Timeout: 20 * time.Second}
	post := func(e Entry, body string) (int, string) {
		req, _ := http.NewRequest("POST", e.HTTP+"/v1/admin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.Token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var ministry []Entry
	var bureau Entry
	for _, e := range d.Entries {
		if e.Role == ledger.RoleMinistry {
			ministry = append(ministry, e)
		} else {
			bureau = e
		}
	}
	// The leader: the one ministry node that does not answer 409.
	leader := func() (Entry, bool) {
		var found []Entry
		for _, e := range ministry {
			code, body := post(e, `{"action":"add-voter","peer":"`+ledger.SignerFromSeed(bytes.Repeat([]byte{0x7e}, 32)).ID().String()+`"}`)
			switch code {
			case http.StatusConflict:
				if !strings.Contains(body, "leader is") {
					t.Fatalf("a follower's 409 does not name the leader: %s", body)
				}
			case http.StatusUnprocessableEntity: // the leader refuses a key the ledger never admitted
				found = append(found, e)
			default:
				t.Fatalf("add-voter of a stranger at %s: %d %s", e.Name, code, body)
			}
		}
		if len(found) != 1 {
			return Entry{}, false
		}
		return found[0], true
	}
	var first Entry
	deadline := time.Now().Add(30 * time.Second)
	for ok := false; !ok; first, ok = leader() {
		if time.Now().After(deadline) {
			t.Fatal("no single leader within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := post(first, `{"action":"transfer-leadership"}`); code != http.StatusOK {
		t.Fatalf("transfer leadership at the leader %s: %d %s", first.Name, code, body)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		if next, ok := leader(); ok && next.Name != first.Name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leadership did not move within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := post(bureau, `{"action":"transfer-leadership"}`); code != http.StatusConflict || !strings.Contains(body, "not a ministry node") {
		t.Fatalf("admin at a bureau: %d %s", code, body)
	}
}
