package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/node/client"
)

// TestGovDraftSignSubmit: a parameter change drafted by one ministry member, refused by the node
// while fewer than a quorum of the ministry signed it, signed by a second member, submitted to
// a bureau and made final with code ok.
func TestGovDraftSignSubmit(t *testing.T) {
	d := startSmallDevnet(t, 3)
	gen := filepath.Join(d.Dir, "genesis.json")
	key := func(name string) string { return filepath.Join(d.Dir, name+".key") }
	m1, err := keyfile.Read(key("ministry-1"))
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := d.Bureau("44")
	file := filepath.Join(t.TempDir(), "param.rec")
	body := `{"param":{"name":"pension.employer_bp","scope":"44","effective":20270101,"value":1500}}`
	if code, _, stderr := runCLI(t, "gov", "draft", "--genesis", gen, "--author", m1.ID().String(), "--type", "gov.param", "--body", body, "--out", file); code != 0 {
		t.Fatalf("draft: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gov", "draft", "--genesis", gen, "--author", m1.ID().String(), "--type", "gov.param", "--body", `{"parm":{}}`); code != 2 || !strings.Contains(stderr, "unknown field") {
		t.Fatalf("draft with a misspelt body: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gov", "draft", "--genesis", gen, "--author", m1.ID().String(), "--type", "gov.param", "--body", `{"param":{"name":"pension.employer_bp","scope":"44","effective":20271301,"value":1500}}`); code != 2 || !strings.Contains(stderr, "YYYYMMDD") {
		t.Fatalf("draft with a month 13: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gov", "sign", "--genesis", gen, "--key", key("ministry-1"), file); code != 0 {
		t.Fatalf("sign: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gov", "sign", "--genesis", gen, "--key", key("ministry-1"), file); code != 1 || !strings.Contains(stderr, "already signed") {
		t.Fatalf("sign twice: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "gov", "submit", "--node", e.HTTP, "--token", e.Token, file); code != 1 || !strings.Contains(stderr, "needs 2 of 3") {
		t.Fatalf("submit with one ministry signature: %d %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "gov", "sign", "--genesis", gen, "--key", key("ministry-3"), file)
	if code != 0 || !strings.Contains(stdout, "signed by 2 of the 3 genesis ministry members") {
		t.Fatalf("second signature: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "gov", "submit", "--node", e.HTTP, "--token", e.Token, file)
	if code != 0 || !strings.HasPrefix(stdout, "accepted ") {
		t.Fatalf("submit: %d %s %s", code, stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	cl := client.New(e.HTTP, e.Token)
	var st struct {
		Status  string `json:"status"`
		Receipt *struct {
			Code string `json:"code"`
		} `json:"receipt"`
	}
	for i := 0; i < 300 && st.Status != "final" && st.Status != "rejected"; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := cl.Do(ctx, "GET", "/v1/records/"+id, "", nil, &st); err != nil && i%50 == 0 {
			t.Logf("record status: %v", err)
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	if st.Status != "final" || st.Receipt == nil || st.Receipt.Code != "ok" {
		t.Fatalf("the parameter change is %s (%+v)", st.Status, st.Receipt)
	}
}
