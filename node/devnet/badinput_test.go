package devnet

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNodeAPIRefusesBadInput is issue 6, acceptance 3, against a real node (badger store, p2p,
// consensus) rather than the API package's in-memory backend: malformed JSON, wrong types, huge
// bodies, invalid IDs, unknown records, bad signatures and unknown routes each get a 4xx JSON
// error, never a 5xx; and the node still serves afterwards.
func TestNodeAPIRefusesBadInput(t *testing.T) {
	d := startDevnet(t)
	var bureau Entry
	for _, e := range d.Entries {
		if e.Region == "44" {
			bureau = e
		}
	}
	huge := `{"records":[` + strings.Repeat(`{"type":"contribution"},`, 600000) + `{}]}`
	hex64 := strings.Repeat("ab", 32)
	cases := []struct {
		name, method, path, ctype, body string
		token                           bool
		header                          map[string]string
	}{
		{"malformed JSON", "POST", "/v1/records", "application/json", `{"records":[{`, true, nil},
		{"wrong types", "POST", "/v1/records", "application/json", `{"records":[{"type":"contribution","wage":"lots"}]}`, true, nil},
		{"records not a list", "POST", "/v1/records", "application/json", `{"records":{}}`, true, nil},
		{"huge body", "POST", "/v1/records", "application/json", huge, true, nil},
		{"garbage CSV", "POST", "/v1/records", "text/csv", "\"unterminated\n,,,", true, nil},
		{"unknown CSV column", "POST", "/v1/records", "text/csv", "type,shoe_size\ncontribution,44\n", true, nil},
		{"no token", "POST", "/v1/records", "application/json", `{"records":[]}`, false, nil},
		{"wrong token", "GET", "/v1/workers/440305199003071236/account", "", "", false, map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}},
		{"garbage signature", "GET", "/v1/blocks/" + hex64, "", "", false, map[string]string{"Signature-Input": `sig1=("@method");keyid="x";alg="ed25519";created=1`, "Signature": "sig1=:AAAA:"}},
		{"invalid record ID", "GET", "/v1/records/not-an-id", "", "", true, nil},
		{"unknown record", "GET", "/v1/records/" + hex64, "", "", true, nil},
		{"unknown proof", "GET", "/v1/records/" + hex64 + "/proof", "", "", true, nil},
		{"invalid resident ID", "GET", "/v1/workers/110105194912310021/account", "", "", true, nil},
		{"unknown worker statement", "GET", "/v1/workers/" + hex64 + "/statement", "", "", true, nil},
		{"transfer applied for at the old place", "POST", "/v1/transfers", "application/json", `{"worker_id":"440305199003071236","from":"44","to":"51"}`, true, nil},
		{"transfer with bad fields", "POST", "/v1/transfers", "application/json", `{"worker_id":7,"from":"x"}`, true, nil},
		{"unknown transfer", "GET", "/v1/transfers/" + hex64, "", "", false, nil},
		{"invalid USCC", "GET", "/v1/employers/91310115MA1H8R7C6D/compliance", "", "", true, nil},
		{"checkpoint out of range", "GET", "/v1/checkpoints/18446744073709551615", "", "", true, nil},
		{"checkpoint not a number", "GET", "/v1/checkpoints/-1", "", "", true, nil},
		{"unknown block", "GET", "/v1/blocks/" + hex64, "", "", true, nil},
		{"bad events cursor", "GET", "/v1/events?from=x", "", "", true, nil},
		{"unknown route", "GET", "/v1/nothing-here", "", "", true, nil},
		{"wrong method", "DELETE", "/v1/status", "", "", true, nil},
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(context.Background(), c.method, bureau.HTTP+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.token {
			req.Header.Set("Authorization", "Bearer "+bureau.Token)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: status %d, want 4xx: %.200s", c.name, resp.StatusCode, body)
			continue
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: status %d without a JSON error: %.200s", c.name, resp.StatusCode, body)
		}
	}
	// Still serving; and a real node lists evidence (none on an honest network).
	resp, err := hc.Get(bureau.HTTP + "/v1/status")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status after bad input: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = hc.Get(bureau.HTTP + "/v1/evidence")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"evidence":[]}` {
		t.Fatalf("evidence: %d %s", resp.StatusCode, body)
	}
}
