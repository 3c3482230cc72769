package api

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
	"github.com/jaminan/jaminan/web"
)

func init() {
	for _, ct := range []string{"text/javascript", "text/css", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

func TestWebPageAndAssets(t *testing.T) {
	h := newHarness(t)
	r := h.anon("GET", "/", nil)
	wantStatus(t, r, 200)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	for _, want := range []string{`<html lang="en">`, "<h1", `src="/ui/app.js"`, `href="/ui/app.css"`} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Fatalf("page lacks %s", want)
		}
	}
	// No external resource: every src and href is local or a fragment.
	for _, attr := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
		if bytes.Contains(r.Body, []byte(attr)) {
			t.Fatalf("page loads an external resource (%s)", attr)
		}
	}
	for file, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"} {
		r := h.anon("GET", "/ui/"+file, nil)
		wantStatus(t, r, 200)
		if got := r.Header.Get("Content-Type"); got != ct || len(r.Body) == 0 {
			t.Fatalf("%s: Content-Type %q, %d bytes", file, got, len(r.Body))
		}
	}
	wantError(t, h.anon("GET", "/ui/nope.js", nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/ui/.hidden", nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/ui/index.html/x", nil), 404, CodeNotFound, "")
}

// harnessWithExpiringKey is the usual harness with one more member, a supervisor whose key
// expires 10 days after the test clock.
func harnessWithExpiringKey(t *testing.T) (*harness, ledger.Member) {
	n := ledgertest.New(t)
	g := testGenesis(n)
	m := ledger.Member{ID: strangerKey.ID(), Role: ledger.RoleSupervisor, Name: "expiring supervisor",
		Until: uint64(testNow.Add(10 * 24 * time.Hour).UnixMilli())}
	g.Members = append(g.Members, m)
	g.Normalise()
	clock := &fakeClock{t: testNow}
	mem, err := NewMemBackend(MemConfig{Genesis: g, Pepper: ledgertest.Pepper, Node: n.Bureau["44"], Ministry: n.Ministry, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Backend, cfg.Token, cfg.noRecover = mem, testToken, true
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return &harness{t: t, mem: mem, api: mustAPI(t, cfg), net: n, clock: clock}, m
}

func alarmKinds(n networkJSON) map[string]int {
	out := map[string]int{}
	for _, a := range n.Alarms {
		out[a.Kind]++
	}
	return out
}

func TestNetworkOverview(t *testing.T) {
	h44, expiring := harnessWithExpiringKey(t)
	h44.submit(contribution(workerID, "2026-10", 800000), contribution(otherID, "2026-10", 800000))
	h := h44.peer("51")
	r := h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "44", "to": "51"}))
	wantStatus(t, r, 202)
	var c map[string]ledger.Hash
	r.json(t, &c)

	var n networkJSON
	r = h.anon("GET", "/v1/network", nil)
	wantStatus(t, r, 200)
	r.json(t, &n)
	if n.Node.Finalized.Seq != 2 || len(n.Members) != len(h.mem.Genesis().Members) || n.Health.State != "ok" {
		t.Fatalf("network %s", r.Body)
	}
	if len(n.Recent) != 2 || n.Recent[1].Seq != 2 || n.Recent[0].Records != 2 || n.Throughput.Checkpoints != 2 || n.Throughput.Records != 3 {
		t.Fatalf("recent %+v throughput %+v", n.Recent, n.Throughput)
	}
	selfSeen, ministryHeard := false, 0
	for _, m := range n.Members {
		if m.Self {
			selfSeen = true
		}
		if m.Role == ledger.RoleMinistry && m.Connected && m.LastSeq != nil && *m.LastSeq == 2 && *m.Lag == 0 {
			ministryHeard++
		}
	}
	if !selfSeen || ministryHeard != len(h.net.Ministry) {
		t.Fatalf("members %s", r.Body)
	}
	if len(n.Alarms) != 1 || n.Alarms[0].Kind != "member_key_expiring" || n.Alarms[0].Subject != expiring.ID.String() ||
		n.Alarms[0].Severity != "warning" || !strings.Contains(n.Alarms[0].Message, "in 10 days") {
		t.Fatalf("alarms %+v", n.Alarms)
	}
	if n.Overdue.Open != 1 || n.Overdue.Count != 0 {
		t.Fatalf("overdue %+v", n.Overdue)
	}
	if strings.Contains(string(r.Body), c["case"].String()) || strings.Contains(string(r.Body), pseudonym(workerID).String()) {
		t.Fatal("the public overview names a case or a worker")
	}

	// A month later: the letter is overdue and the key has expired.
	h.clock.Add(30 * 24 * time.Hour)
	h.anon("GET", "/v1/network", nil).json(t, &n)
	kinds := alarmKinds(n)
	if kinds["transfer_overdue"] != 1 || kinds["member_key_expired"] != 1 || kinds["member_key_expiring"] != 0 || n.Overdue.Count != 1 || len(n.Overdue.Cases) != 0 {
		t.Fatalf("a month later: %+v %+v", n.Alarms, n.Overdue)
	}
	// The operator sees which case.
	h.operator("GET", "/v1/network", nil).json(t, &n)
	if len(n.Overdue.Cases) != 1 || n.Overdue.Cases[0] != c["case"] {
		t.Fatalf("operator's overdue cases %+v, want %s", n.Overdue.Cases, c["case"])
	}
	// A wrong token on a public route is still refused, not ignored.
	req := newRequest("GET", "/v1/network", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("f", 64))
	wantError(t, h.do(req), 401, CodeUnauthorized, "")
}

func TestNetworkAlarmsFromEvidence(t *testing.T) {
	h := newHarness(t)
	h.mem.AddEvidence(Evidence{ID: ledger.Hash{1}, Kind: "double_block", Offender: h.net.Bureau["51"].ID(), Encoded: []byte{1}})
	var n networkJSON
	h.anon("GET", "/v1/network", nil).json(t, &n)
	if k := alarmKinds(n); k["evidence"] != 1 || n.Evidence != 1 {
		t.Fatalf("alarms %+v", n.Alarms)
	}
}

// TestStatementPrintQR: the printable statement decodes the verified records, and its QR codes
// carry the statement: the payloads joined back verify with the verification `jaminan verify`
// runs, and each image is the rendering of its payload.
// A worker without any account (here: only the access records of the operator's own reads)
// gets an empty printable statement, not a 500 (the benefit place of an unknown worker).
func TestStatementPrintOfWorkerWithoutAccount(t *testing.T) {
	h := newHarness(t)
	// Reading the worker's access list succeeds for an operator and logs an access record: after it,
	// the ledger has a record of the worker, and nothing else.
	wantStatus(t, h.operator("GET", "/v1/workers/"+otherID+"/access", nil), 200)
	for range 2 {
		r := h.operator("GET", "/v1/workers/"+otherID+"/statement/print", nil)
		wantStatus(t, r, 200)
		var out printableJSON
		r.json(t, &out)
		if out.BenefitPlace != "" || len(out.Regions) != 0 || len(out.Contributions) != 0 {
			t.Fatalf("statement of a worker without account: %.2000s", r.Body)
		}
	}
}

func TestStatementPrintQR(t *testing.T) {
	h44 := newHarness(t)
	var recs []map[string]any
	for m := 1; m <= 10; m++ {
		recs = append(recs, contribution(workerID, "2026-"+twoDigits(m), 800000+int64(m)*1000))
	}
	recs = append(recs, map[string]any{"type": "employment", "worker_id": workerID, "employer": employerUSCC, "region": "440300", "start": "2026-01-01"})
	h44.submit(recs...)
	h := h44.peer("51")
	r := h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "44", "to": "51"}))
	wantStatus(t, r, 202)
	var c map[string]ledger.Hash
	r.json(t, &c)

	r = h.operator("GET", "/v1/workers/"+workerID+"/statement/print", nil)
	wantStatus(t, r, 200)
	var out printableJSON
	r.json(t, &out)
	if len(out.Contributions) != 10 || len(out.Employments) != 1 || len(out.Transfers) != 1 || out.Transfers[0].Case != c["case"] ||
		out.Transfers[0].Stage != "applied" || out.BenefitPlace == "" || len(out.Regions) == 0 || out.Summary.Regions["44"].Months != 10 {
		t.Fatalf("printable statement %.3000s", r.Body)
	}
	if out.Contributions[0].Province != "44" || out.Contributions[0].Period != "2026-01" || out.Contributions[0].EmployeeAmount == 0 {
		t.Fatalf("contribution %+v", out.Contributions[0])
	}
	if len(out.QR.Codes) < 2 {
		t.Fatalf("%d QR codes for %d statement bytes: want a series, to test the series", len(out.QR.Codes), len(out.Encoded)*3/4)
	}
	var all strings.Builder
	for i, q := range out.QR.Codes {
		if q.Index != i+1 || q.Total != len(out.QR.Codes) || len(q.Payload) > len(web.QRPrefix)+12+web.QRChunk {
			t.Fatalf("code %d: %d/%d, %d characters", i, q.Index, q.Total, len(q.Payload))
		}
		png, err := base64.StdEncoding.DecodeString(q.PNG)
		if err != nil {
			t.Fatal(err)
		}
		want, err := web.QRPNG(q.Payload)
		if err != nil || !bytes.Equal(png, want) {
			t.Fatalf("code %d: the image is not the rendering of its payload (%v)", i+1, err)
		}
		all.WriteString(q.Payload + "\n")
	}
	raw, err := web.JoinQR(all.String())
	if err != nil {
		t.Fatal(err)
	}
	_, sum := verifyStatement(t, h, raw)
	if sum.Worker != pseudonym(workerID) || sum.Records != out.Records || sum.Regions["44"].Months != 10 {
		t.Fatalf("summary %+v", sum)
	}
	// The printable read is a statement read: the 51 operator is not the worker's own bureau
	// (no account in 51 yet), so it is logged; and nobody else reads it.
	var acc accessListJSON
	h.operator("GET", "/v1/workers/"+workerID+"/access", nil).json(t, &acc)
	found := false
	for _, a := range acc.Access {
		found = found || a.What == "statement"
	}
	if !found {
		t.Fatalf("printable statement read not logged: %+v", acc.Access)
	}
	wantError(t, h.anon("GET", "/v1/workers/"+workerID+"/statement/print", nil), 401, CodeUnauthorized, "")
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+pseudonym(workerID).String()+"/statement/print", nil), 403, CodeForbidden, "")
}

func twoDigits(m int) string { return string([]byte{byte('0' + m/10), byte('0' + m%10)}) }
