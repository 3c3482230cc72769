package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

func TestStatusHealthReadyMetricsRoot(t *testing.T) {
	h := newHarness(t)
	r := h.anon("GET", "/v1/status", nil)
	wantStatus(t, r, 200)
	var s Status
	r.json(t, &s)
	if s.NodeID != h.net.Bureau["44"].ID() || s.Role != "bureau" || s.Region != "44" || s.Network != h.mem.Genesis().Network || s.Finalized.Seq != 0 {
		t.Fatalf("status %+v", s)
	}
	h.submit(contribution(workerID, "2026-10", 800000))
	h.anon("GET", "/v1/status", nil).json(t, &s)
	if s.Finalized.Seq != 1 || s.Finalized.Hash.IsZero() || s.Finalized.StateRoot.IsZero() {
		t.Fatalf("after one submission: %+v", s.Finalized)
	}
	wantStatus(t, h.anon("GET", "/healthz", nil), 200)
	wantStatus(t, h.anon("GET", "/readyz", nil), 200)
	wantStatus(t, h.anon("GET", "/", nil), 200)
	m := h.anon("GET", "/metrics", nil)
	wantStatus(t, m, 200)
	if !strings.Contains(string(m.Body), `jaminan_api_requests_total{code="202",route="/v1/records"} 1`) {
		t.Fatalf("metrics miss the submission:\n%s", m.Body)
	}
	o := h.anon("GET", "/v1/openapi.json", nil)
	wantStatus(t, o, 200)
	if string(o.Body) != string(openAPIDoc) {
		t.Fatal("served OpenAPI document differs from the embedded one")
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.anon("GET", "/v1/nothing", nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/v1/../v1/status", nil), 404, CodeNotFound, "")
	r := h.anon("DELETE", "/v1/status", nil)
	wantError(t, r, 405, CodeMethodNotAllowed, "")
	if r.Header.Get("Allow") != "GET" {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
}

func TestPostRecords(t *testing.T) {
	h := newHarness(t)
	bad := contribution(workerID, "2026-10", 800000)
	bad["worker_id"] = "110105194912310021" // checksum
	r := h.operator("POST", "/v1/records", mustJSON(map[string]any{"records": []any{contribution(workerID, "2026-10", 800000), bad}}))
	wantStatus(t, r, 202)
	var out submitResponse
	r.json(t, &out)
	if len(out.Accepted) != 1 || out.Accepted[0].Index != 0 || len(out.Rejected) != 1 || out.Rejected[0].Index != 1 ||
		out.Rejected[0].Field != "worker_id" || out.Rejected[0].Code != "I1" {
		t.Fatalf("response %s", r.Body)
	}
	// The accepted record is final at once in the MemBackend.
	var st recordStatusJSON
	h.operator("GET", "/v1/records/"+out.Accepted[0].ID.String(), nil).json(t, &st)
	if st.Status != "final" || st.Type != "contribution" || st.Receipt.Code != "ok" || st.Checkpoint != 1 {
		t.Fatalf("status %+v", st)
	}

	t.Run("csv", func(t *testing.T) {
		csv := "type,worker_id,hukou,employer,region,period,scheme,wage\n" +
			"contribution," + workerID + ",44," + employerUSCC + ",440300,2026-09,pension,800000\n" +
			"contribution," + workerID + ",44," + employerUSCC + ",440300,2026-13,pension,800000\n"
		req := newRequest("POST", "/v1/records", []byte(csv))
		req.Header.Set("Content-Type", "text/csv; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+testToken)
		r := h.do(req)
		wantStatus(t, r, 202)
		var out submitResponse
		r.json(t, &out)
		if len(out.Accepted) != 1 || len(out.Rejected) != 1 || out.Rejected[0].Line != 3 || out.Rejected[0].Field != "period" {
			t.Fatalf("csv response %s", r.Body)
		}
	})
	t.Run("bad json names the field", func(t *testing.T) {
		wantError(t, h.operator("POST", "/v1/records", []byte(`{"records":[{"type":"contribution","wage":"lots"}]}`)), 400, CodeBadRequest, "records")
		wantError(t, h.operator("POST", "/v1/records", []byte(`{"records":[{"typo":1}]}`)), 400, CodeBadRequest, "records")
		wantError(t, h.operator("POST", "/v1/records", []byte(`{"records":`)), 400, CodeBadRequest, "records")
	})
	t.Run("bad csv header", func(t *testing.T) {
		req := newRequest("POST", "/v1/records", []byte("kind,who\nx,y\n"))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+testToken)
		wantError(t, h.do(req), 400, CodeBadRequest, "csv")
	})
	t.Run("media type", func(t *testing.T) {
		req := newRequest("POST", "/v1/records", []byte(`x`))
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set("Authorization", "Bearer "+testToken)
		wantError(t, h.do(req), 415, CodeUnsupportedType, "")
	})
	t.Run("auth", func(t *testing.T) {
		body := mustJSON(map[string]any{"records": []any{contribution(workerID, "2026-08", 800000)}})
		wantError(t, h.anon("POST", "/v1/records", body), 401, CodeUnauthorized, "")
		req := newRequest("POST", "/v1/records", body)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("0", 64))
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
		req = newRequest("POST", "/v1/records", body)
		req.Header.Set("Authorization", "Basic "+testToken)
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
		wantError(t, h.signed(employerKey, "POST", "/v1/records", body), 403, CodeForbidden, "")
	})
}

func TestPostRecordsBodyLimit(t *testing.T) {
	h := newHarness(t)
	h.api.cfg.MaxBatchBytes = 500
	h.api = mustAPI(t, h.api.cfg)
	big := mustJSON(map[string]any{"records": []any{contribution(workerID, "2026-10", 800000), contribution(workerID, "2026-09", 800000),
		contribution(workerID, "2026-08", 800000), contribution(workerID, "2026-07", 800000), contribution(workerID, "2026-06", 800000)}})
	if len(big) <= 500 {
		t.Fatalf("test body of %d bytes is not over the limit", len(big))
	}
	wantError(t, h.operator("POST", "/v1/records", big), 413, CodeTooLarge, "")
}

func mustAPI(t testing.TB, cfg Config) *API {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRecordStatus(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.operator("GET", "/v1/records/xyz", nil), 400, CodeBadRequest, "id")
	wantError(t, h.operator("GET", "/v1/records/"+strings.Repeat("ab", 32), nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/v1/records/"+strings.Repeat("ab", 32), nil), 401, CodeUnauthorized, "")

	h.mem.Hold()
	id := h.submit(contribution(workerID, "2026-10", 800000))[0]
	var st recordStatusJSON
	h.operator("GET", "/v1/records/"+id.String(), nil).json(t, &st)
	if st.Status != "pending" || st.Receipt != nil {
		t.Fatalf("held record: %+v", st)
	}
	if err := h.mem.Finalize(); err != nil {
		t.Fatal(err)
	}
	h.signed(employerKey, "GET", "/v1/records/"+id.String(), nil).json(t, &st)
	if st.Status != "final" {
		t.Fatalf("finalised record: %+v", st)
	}

	// A record the ledger rejects: a correction of a record that does not exist.
	rej := h.submit(map[string]any{"type": "correction", "target": strings.Repeat("cd", 32), "reason": "withdrawn"})[0]
	h.operator("GET", "/v1/records/"+rej.String(), nil).json(t, &st)
	if st.Status != "rejected" || st.Receipt == nil || st.Receipt.Code == "ok" || st.Receipt.Message == "" {
		t.Fatalf("rejected record: %+v", st)
	}
}

func TestProof(t *testing.T) {
	h := newHarness(t)
	id := h.submit(contribution(workerID, "2026-10", 800000))[0]
	r := h.operator("GET", "/v1/records/"+id.String()+"/proof", nil)
	wantStatus(t, r, 200)
	var out proofJSON
	r.json(t, &out)
	raw, err := base64.StdEncoding.DecodeString(out.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ledger.DecodeRecordProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := p.Verify(h.mem.Genesis())
	if err != nil || rec.ID() != id || p.Code != "ok" {
		t.Fatalf("proof does not verify for %s: %v", id, err)
	}
	// Tampering with the served proof breaks it: the check above is not vacuous.
	p.Code = "format"
	if _, _, err := p.Verify(h.mem.Genesis()); err == nil {
		t.Fatal("tampered proof verifies")
	}
	wantError(t, h.operator("GET", "/v1/records/"+strings.Repeat("ab", 32)+"/proof", nil), 404, CodeNotFound, "")
	wantError(t, h.operator("GET", "/v1/records/00/proof", nil), 400, CodeBadRequest, "id")
	// The record is a worker's: a supervisor may not read it.
	wantError(t, h.signed(supervisorKey, "GET", "/v1/records/"+id.String()+"/proof", nil), 403, CodeForbidden, "")
}

func TestAccount(t *testing.T) {
	h := newHarness(t)
	h.submit(contribution(workerID, "2026-09", 800000), contribution(workerID, "2026-10", 800000))
	r := h.operator("GET", "/v1/workers/"+workerID+"/account", nil)
	wantStatus(t, r, 200)
	var acc accountJSON
	r.json(t, &acc)
	if acc.Worker != pseudonym(workerID) || len(acc.Regions) != 1 || acc.Regions[0].Months != 2 || acc.Regions[0].Region != "44" ||
		acc.Regions[0].IA != 2*64000 || acc.BenefitPlace != "44" {
		t.Fatalf("account %s", r.Body)
	}
	// By pseudonym, the same answer.
	var acc2 accountJSON
	h.operator("GET", "/v1/workers/"+pseudonym(workerID).String()+"/account", nil).json(t, &acc2)
	if acc2.Worker != acc.Worker || acc2.Regions[0].IA != acc.Regions[0].IA {
		t.Fatalf("by pseudonym %+v", acc2)
	}
	wantError(t, h.operator("GET", "/v1/workers/"+otherID+"/account", nil), 404, CodeNotFound, "")
	wantError(t, h.operator("GET", "/v1/workers/110105194912310021/account", nil), 400, CodeBadRequest, "worker")
	wantError(t, h.operator("GET", "/v1/workers/abc/account", nil), 400, CodeBadRequest, "worker")
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+workerID+"/account", nil), 403, CodeForbidden, "")
	wantError(t, h.signed(supervisorKey, "GET", "/v1/workers/"+pseudonym(workerID).String()+"/account", nil), 403, CodeForbidden, "")
	// The bureau of 44 is this worker's own bureau: its operator's reads are not logged.
	if n := len(h.accessList(pseudonym(workerID))); n != 0 {
		t.Fatalf("%d access records after the own bureau's reads", n)
	}
}

// accessList reads a worker's access log as the operator of the harness node.
func (h *harness) accessList(w ledger.WorkerID) []accessEntryJSON {
	h.t.Helper()
	r := h.operator("GET", "/v1/workers/"+w.String()+"/access", nil)
	wantStatus(h.t, r, 200)
	var out accessListJSON
	r.json(h.t, &out)
	return out.Access
}

func TestOtherBureauOperatorReadIsLogged(t *testing.T) {
	h := newHarness(t) // bureau of 44, the worker's own bureau
	h.submit(contribution(workerID, "2026-10", 800000))
	h51 := h.peer("51")
	wantStatus(t, h51.operator("GET", "/v1/workers/"+workerID+"/account", nil), 200)
	acc := h51.accessList(pseudonym(workerID))
	if len(acc) != 1 || acc[0].Reader != h.net.Bureau["51"].ID().String() || acc[0].What != "account" {
		t.Fatalf("access records %+v", acc)
	}
	// Reading the access list is itself a logged read (it shows in the next read).
	if acc = h51.accessList(pseudonym(workerID)); len(acc) != 2 || acc[1].What != "access" {
		t.Fatalf("access records %+v", acc)
	}
	// A failed read is not logged: it read nothing.
	wantError(t, h51.operator("GET", "/v1/workers/"+otherID+"/account", nil), 404, CodeNotFound, "")
	if n := len(h51.accessList(pseudonym(otherID))); n != 0 {
		t.Fatalf("%d access records of an unknown worker", n)
	}
}

// peer returns a harness for the bureau of prov holding the same ledger as h (replayed).
func (h *harness) peer(prov string) *harness {
	h.t.Helper()
	mem, err := NewMemBackend(MemConfig{Genesis: h.mem.Genesis(), Pepper: h.mem.Pepper(), Node: h.net.Bureau[prov], Ministry: h.net.Ministry, Clock: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	replay(h.t, h.mem, mem)
	cfg := h.api.cfg
	cfg.Backend = mem
	return &harness{t: h.t, mem: mem, api: mustAPI(h.t, cfg), net: h.net, clock: h.clock}
}

func TestStatementVerifiesOffline(t *testing.T) {
	h := newHarness(t)
	h.submit(contribution(workerID, "2026-09", 800000), contribution(workerID, "2026-10", 1000000),
		contribution(otherID, "2026-10", 800000),
		map[string]any{"type": "employment", "worker_id": workerID, "employer": employerUSCC, "region": "440300", "start": "2026-09-01"})
	r := h.operator("GET", "/v1/workers/"+workerID+"/statement", nil)
	wantStatus(t, r, 200)
	var out statementJSON
	r.json(t, &out)
	raw, err := base64.StdEncoding.DecodeString(out.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	st, sum := verifyStatement(t, h, raw)
	if sum.Worker != pseudonym(workerID) || sum.Records != 3 || sum.Regions["44"].Months != 2 ||
		sum.Regions["44"].EmployeeAmount != 64000+80000 || out.Records != 3 {
		t.Fatalf("summary %+v (served %+v)", sum, out.Summary)
	}
	// Against another network's genesis it fails: the verification is real.
	g2 := *h.mem.Genesis()
	g2.Network = "other"
	if _, err := st.Verify(&g2); err == nil {
		t.Fatal("statement verifies against another genesis")
	}
	wantError(t, h.operator("GET", "/v1/workers/"+strings.Repeat("0", 64)+"/statement", nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/v1/workers/"+workerID+"/statement", nil), 401, CodeUnauthorized, "")
}

func TestTransfers(t *testing.T) {
	h := newHarnessAs(t, "51") // the new place
	r := h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "44", "to": "51"}))
	wantStatus(t, r, 202)
	var c map[string]ledger.Hash
	r.json(t, &c)
	caseID := c["case"]
	// The ledger has no pension relation of this worker in 44: the application is applied
	// (stage applied) or rejected; check what the ledger says and what the tracker shows.
	var st recordStatusJSON
	h.operator("GET", "/v1/records/"+caseID.String(), nil).json(t, &st)
	if st.Status == "pending" || st.Type != "transfer.apply" {
		t.Fatalf("application %+v", st)
	}
	tr := h.anon("GET", "/v1/transfers/"+caseID.String(), nil)
	if st.Status == "rejected" {
		wantError(t, tr, 404, CodeNotFound, "")
	} else {
		wantStatus(t, tr, 200)
		var out transferJSON
		tr.json(t, &out)
		if out.Stage != "applied" || out.From != "44" || out.To != "51" || out.Deadline == nil || out.Overdue || len(out.Stages) != 1 {
			t.Fatalf("transfer %s", tr.Body)
		}
		if strings.Contains(string(tr.Body), pseudonym(workerID).String()) {
			t.Fatal("the public tracker shows the worker")
		}
		h.clock.Add(60 * 24 * time.Hour)
		h.anon("GET", "/v1/transfers/"+caseID.String(), nil).json(t, &out)
		if !out.Overdue {
			t.Fatalf("60 days later the letter is not overdue: %+v", out)
		}
	}
	wantError(t, h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "44", "to": "33"})), 400, CodeBadRequest, "to")
	wantError(t, h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "4", "to": "51"})), 400, CodeBadRequest, "from")
	wantError(t, h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "51", "to": "51"})), 400, CodeBadRequest, "to")
	wantError(t, h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"from": "44", "to": "51"})), 400, CodeBadRequest, "worker_id")
	wantError(t, h.operator("POST", "/v1/transfers", []byte(`{"worker_id":1}`)), 400, CodeBadRequest, "worker_id")
	wantError(t, h.operator("POST", "/v1/transfers", []byte(`{"colour":"red"}`)), 400, CodeBadRequest, "colour")
	wantError(t, h.signed(employerKey, "POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": pseudonym(workerID).String(), "from": "44", "to": "51"})), 403, CodeForbidden, "")
	wantError(t, h.anon("GET", "/v1/transfers/"+strings.Repeat("ab", 32), nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/v1/transfers/nope", nil), 400, CodeBadRequest, "case")
}

func TestTransferTrackerAfterContributions(t *testing.T) {
	// A worker with a pension relation in 44 applies at 51: the application is accepted and the
	// tracker shows the applied stage with its deadline (DOMAIN T4: 15 working days).
	n44 := newHarness(t)
	n44.submit(contribution(workerID, "2026-10", 800000))
	h := n44.peer("51")
	r := h.operator("POST", "/v1/transfers", mustJSON(map[string]any{"worker_id": workerID, "from": "44", "to": "51"}))
	wantStatus(t, r, 202)
	var c map[string]ledger.Hash
	r.json(t, &c)
	var out transferJSON
	tr := h.anon("GET", "/v1/transfers/"+c["case"].String(), nil)
	wantStatus(t, tr, 200)
	tr.json(t, &out)
	// Applied on Tue 2026-12-15; 15 working days (no calendar for 2026: weekdays) → 2027-01-05.
	if out.Stage != "applied" || out.Deadline == nil || *out.Deadline != "2027-01-05" || out.Overdue || len(out.Stages) != 1 || *out.Stages[0].At != "2026-12-15" {
		t.Fatalf("transfer %s", tr.Body)
	}
	h.clock.Add(30 * 24 * time.Hour)
	tr = h.anon("GET", "/v1/transfers/"+c["case"].String(), nil)
	tr.json(t, &out)
	if !out.Overdue {
		t.Fatalf("30 days later not overdue: %s", tr.Body)
	}
}

// replay applies every checkpoint of from to to (which must be fresh), keeping to's own chain
// tip untouched: both nodes then hold the same state.
func replay(t testing.TB, from, to *MemBackend) {
	t.Helper()
	from.mu.RLock()
	cps := append([]memCheckpoint(nil), from.cps...)
	blocks := map[ledger.Hash]memBlock{}
	for k, v := range from.blocks {
		blocks[k] = v
	}
	from.mu.RUnlock()
	to.mu.Lock()
	defer to.mu.Unlock()
	for _, c := range cps {
		var bs []*ledger.Block
		for _, bh := range c.body.Blocks {
			bs = append(bs, blocks[bh].b)
		}
		res, err := to.machine.Apply(to.st, c.body, bs)
		if err != nil {
			t.Fatal(err)
		}
		to.st.Commit(res.Writes)
		res.Writes = nil
		to.cps = append(to.cps, memCheckpoint{body: c.body, cert: c.cert, res: res})
		to.index(c.body, bs, res)
	}
}

func TestCompliance(t *testing.T) {
	h := newHarness(t)
	h.submit(map[string]any{"type": "employment", "worker_id": workerID, "employer": employerUSCC, "region": "440300", "start": "2026-06-01"},
		contribution(workerID, "2026-08", 800000), contribution(workerID, "2026-09", 800000))
	r := h.signed(supervisorKey, "GET", "/v1/employers/"+employerUSCC+"/compliance", nil)
	wantStatus(t, r, 200)
	var out complianceJSON
	r.json(t, &out)
	// Declared 2026-06..2026-11 (the month before today), paid 08 and 09: gaps 06–07 and 10–11.
	if out.Workers != 1 || out.MonthsDeclared != 6 || out.MonthsPaid != 2 || len(out.Gaps) != 2 ||
		out.Gaps[0].From != "2026-06" || out.Gaps[0].To != "2026-07" || out.Gaps[1].From != "2026-10" || out.Gaps[1].To != "2026-11" || out.Through != "2026-11" {
		t.Fatalf("compliance %s", r.Body)
	}
	wantStatus(t, h.operator("GET", "/v1/employers/"+employerUSCC+"/compliance", nil), 200)
	wantError(t, h.signed(employerKey, "GET", "/v1/employers/"+employerUSCC+"/compliance", nil), 403, CodeForbidden, "")
	wantError(t, h.anon("GET", "/v1/employers/"+employerUSCC+"/compliance", nil), 401, CodeUnauthorized, "")
	wantError(t, h.operator("GET", "/v1/employers/91350100M000100Y4Z/compliance", nil), 400, CodeBadRequest, "uscc")
	wantError(t, h.operator("GET", "/v1/employers/91350100M000100Y43/compliance", nil), 404, CodeNotFound, "")
}

func TestCheckpointsAndBlocks(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.anon("GET", "/v1/checkpoints/latest", nil), 404, CodeNotFound, "")
	h.submit(contribution(workerID, "2026-10", 800000))
	h.submit(contribution(workerID, "2026-09", 800000))
	var latest, first checkpointJSON
	h.anon("GET", "/v1/checkpoints/latest", nil).json(t, &latest)
	h.anon("GET", "/v1/checkpoints/1", nil).json(t, &first)
	if latest.Seq != 2 || latest.Prev != first.Hash || len(first.Blocks) != 1 {
		t.Fatalf("latest %+v first %+v", latest, first)
	}
	raw, _ := base64.StdEncoding.DecodeString(latest.Encoded)
	cb, err := ledger.DecodeCheckpointBody(raw, h.mem.Genesis().Network)
	if err != nil || cb.Checkpoint.Hash() != latest.Hash {
		t.Fatalf("encoded checkpoint: %v", err)
	}
	craw, _ := base64.StdEncoding.DecodeString(latest.CertEncoded)
	cert, err := ledger.DecodeCertificate(craw)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Verify(h.mem.Genesis().Network, ledger.GenesisMinistry(h.mem.Genesis(), cb.Checkpoint.Time)); err != nil {
		t.Fatalf("certificate: %v", err)
	}
	wantError(t, h.anon("GET", "/v1/checkpoints/3", nil), 404, CodeNotFound, "")
	wantError(t, h.anon("GET", "/v1/checkpoints/0", nil), 400, CodeBadRequest, "seq")
	wantError(t, h.anon("GET", "/v1/checkpoints/-1", nil), 400, CodeBadRequest, "seq")

	bh := first.Blocks[0].String()
	r := h.operator("GET", "/v1/blocks/"+bh, nil)
	wantStatus(t, r, 200)
	var b blockJSON
	r.json(t, &b)
	if b.Checkpoint != 1 || len(b.Records) != 1 || b.Records[0].Type != "contribution" || b.Header.Producer != h.net.Bureau["44"].ID() {
		t.Fatalf("block %s", r.Body)
	}
	wantStatus(t, h.signed(h.net.Bureau["51"], "GET", "/v1/blocks/"+bh, nil), 200)
	wantError(t, h.signed(employerKey, "GET", "/v1/blocks/"+bh, nil), 403, CodeForbidden, "")
	wantError(t, h.operator("GET", "/v1/blocks/"+strings.Repeat("ef", 32), nil), 404, CodeNotFound, "")
	wantError(t, h.operator("GET", "/v1/blocks/zz", nil), 400, CodeBadRequest, "hash")
}

// readEvents reads n server-sent events from resp, validating the stream against the document.
func readEvents(t *testing.T, srv *httptest.Server, target string, header map[string]string) []Event {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body strings.Builder
	var out []Event
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		body.WriteString(line + "\n")
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var ev Event
			if err := json.Unmarshal([]byte(d), &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	if err := validateResponse(req, &resp{Status: res.StatusCode, Header: res.Header, Body: []byte(body.String())}); err != nil {
		t.Fatalf("event stream: %v", err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body.String())
	}
	return out
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.api)
	defer srv.Close()
	for i := 0; i < 3; i++ {
		h.submit(contribution(workerID, fmt.Sprintf("2026-%02d", 7+i), 800000))
	}
	evs := readEvents(t, srv, "/v1/events?from=1&limit=3", nil)
	if len(evs) != 3 || evs[0].Seq != 1 || evs[2].Seq != 3 || evs[0].Blocks != 1 {
		t.Fatalf("events %+v", evs)
	}
	evs = readEvents(t, srv, "/v1/events?limit=1", map[string]string{"Last-Event-ID": "1"})
	if len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("resumed events %+v", evs)
	}
	// Live: a stream from the tip gets the next checkpoint when it is final.
	done := make(chan []Event)
	go func() { done <- readEvents(t, srv, "/v1/events?from=4&limit=1", nil) }()
	time.Sleep(100 * time.Millisecond)
	h.submit(contribution(workerID, "2026-10", 800000))
	select {
	case evs := <-done:
		if len(evs) != 1 || evs[0].Seq != 4 {
			t.Fatalf("live events %+v", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no live event")
	}
	wantError(t, h.anon("GET", "/v1/events?from=x", nil), 400, CodeBadRequest, "from")
	wantError(t, h.anon("GET", "/v1/events?limit=0", nil), 400, CodeBadRequest, "limit")
	r := newRequest("GET", "/v1/events", nil)
	r.Header.Set("Last-Event-ID", "abc")
	wantError(t, h.do(r), 400, CodeBadRequest, "Last-Event-ID")
}

func TestEvidenceList(t *testing.T) {
	h := newHarness(t)
	var out struct {
		Evidence []evidenceJSON `json:"evidence"`
	}
	h.anon("GET", "/v1/evidence", nil).json(t, &out)
	if len(out.Evidence) != 0 {
		t.Fatalf("evidence on a fresh node: %+v", out)
	}
	e := Evidence{ID: ledger.Hash{1}, Kind: "double_block", Offender: h.mem.Signer().ID(), Encoded: []byte{1, 0xa0}}
	h.mem.AddEvidence(e)
	h.anon("GET", "/v1/evidence", nil).json(t, &out)
	if len(out.Evidence) != 1 || out.Evidence[0].ID != e.ID || out.Evidence[0].Kind != e.Kind || out.Evidence[0].Offender != e.Offender ||
		out.Evidence[0].Encoded != base64.StdEncoding.EncodeToString(e.Encoded) {
		t.Fatalf("evidence %+v", out)
	}
}

func TestAdminCommands(t *testing.T) {
	h := newHarness(t)
	peer := h.mem.Signer().ID().String()
	// The in-memory backend is not a ministry node: a well-formed command gets 409.
	wantError(t, h.operator("POST", "/v1/admin", []byte(`{"action":"add-voter","peer":"`+peer+`"}`)), 409, CodeConflict, "")
	wantError(t, h.operator("POST", "/v1/admin", []byte(`{"action":"transfer-leadership"}`)), 409, CodeConflict, "")
	wantError(t, h.operator("POST", "/v1/admin", []byte(`{"action":"promote"}`)), 400, CodeBadRequest, "action")
	wantError(t, h.operator("POST", "/v1/admin", []byte(`{"action":"add-voter","peer":"nobody"}`)), 400, CodeBadRequest, "peer")
	wantError(t, h.operator("POST", "/v1/admin", []byte(`{"action":"add-voter"}`)), 400, CodeBadRequest, "peer")
	wantError(t, h.anon("POST", "/v1/admin", []byte(`{"action":"transfer-leadership"}`)), 401, CodeUnauthorized, "")
}

// TestStatementCarriesMinistryChanges: after the ministry admits a member (and a bureau), the
// served statement carries the proof of the ministry admission, not the bureau's, and verifies.
func TestStatementCarriesMinistryChanges(t *testing.T) {
	h := newHarness(t)
	m0, m1 := h.net.Ministry[0], h.net.Ministry[1]
	newMinistry := ledger.SignerFromSeed(bytes.Repeat([]byte{0x71}, 32))
	newBureau := ledger.SignerFromSeed(bytes.Repeat([]byte{0x72}, 32))
	var recs []ledger.Record
	for _, m := range []ledger.Member{
		{ID: newMinistry.ID(), Role: ledger.RoleMinistry, Name: "ministry 4"},
		{ID: newBureau.ID(), Role: ledger.RoleBureau, Region: "440300", Name: "bureau 2 of 44"},
	} {
		r := ledger.NewRecord(m0.ID(), uint64(h.clock.Now().UnixMilli()), &ledger.GovMember{Member: m})
		r.Sign(h.mem.Genesis().Network, m0)
		r.Sign(h.mem.Genesis().Network, m1)
		recs = append(recs, r)
	}
	res, err := h.mem.Submit(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Code != "" {
			t.Fatalf("submit governance record: %+v", r)
		}
	}
	h.submit(contribution(workerID, "2026-09", 800000))
	var out statementJSON
	h.operator("GET", "/v1/workers/"+workerID+"/statement", nil).json(t, &out)
	raw, err := base64.StdEncoding.DecodeString(out.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := verifyStatement(t, h, raw)
	if len(st.Ministry) != 1 {
		t.Fatalf("statement carries %d ministry changes, want the admission only", len(st.Ministry))
	}
	rec, _, err := ledger.DecodeRecord(st.Ministry[0].Record)
	if err != nil || rec.ID() != recs[0].ID() {
		t.Fatalf("ministry change %v is not the admission %s (%v)", rec.ID(), recs[0].ID(), err)
	}
	// A proof of the worker's record, which travels alone, carries the change too.
	var pj proofJSON
	h.operator("GET", "/v1/records/"+recordIDOf(t, st.Proofs[0].Record).String()+"/proof", nil).json(t, &pj)
	raw, err = base64.StdEncoding.DecodeString(pj.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ledger.DecodeRecordProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ministry) != 1 {
		t.Fatalf("the proof carries %d ministry changes", len(p.Ministry))
	}
	if _, _, err := p.Verify(h.mem.Genesis()); err != nil {
		t.Fatalf("the proof does not verify offline: %v", err)
	}
}

func recordIDOf(t *testing.T, raw []byte) ledger.Hash {
	t.Helper()
	rec, _, err := ledger.DecodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID()
}

// TestPostSignedRecord: POST /v1/records with application/cbor takes one record built and
// signed elsewhere; garbage, a record whose author did not sign it, a bad signature and a
// governance record short of a ministry quorum are refused with 400 before anything is stored.
func TestPostSignedRecord(t *testing.T) {
	h := newHarness(t)
	m0, m1 := h.net.Ministry[0], h.net.Ministry[1]
	net := h.mem.Genesis().Network
	post := func(b []byte) *resp {
		req := newRequest("POST", "/v1/records", b)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/cbor")
		return h.do(req)
	}
	param := &ledger.GovParam{Param: ledger.Param{Name: ledger.ParamPensionEmployer, Scope: "44", Effective: 20270101, Value: 1500}}
	rec := ledger.NewRecord(m0.ID(), uint64(h.clock.Now().UnixMilli()), param)
	wantError(t, post([]byte("not a record")), 400, CodeBadRequest, "record")
	wantError(t, post(rec.Encode()), 400, CodeBadRequest, "sigs") // the author's signature is missing
	rec.Sign(net, m0)
	wantError(t, post(rec.Encode()), 400, CodeBadRequest, "sigs") // one of three ministry members
	bad := rec
	bad.Sigs = append([]ledger.Sig(nil), rec.Sigs...)
	bad.Sigs[0].Sig = bytes.Repeat([]byte{1}, 64)
	wantError(t, post(bad.Encode()), 400, CodeBadRequest, "sigs")
	rec.Sign(net, m1)
	r := post(rec.Encode())
	wantStatus(t, r, 202)
	var out submitResponse
	r.json(t, &out)
	if len(out.Accepted) != 1 || out.Accepted[0].ID != rec.ID() {
		t.Fatalf("signed governance record: %s", r.Body)
	}
	var st recordStatusJSON
	h.operator("GET", "/v1/records/"+rec.ID().String(), nil).json(t, &st)
	if st.Status != "final" || st.Receipt == nil || st.Receipt.Code != ledger.CodeOK {
		t.Fatalf("the parameter change: %+v", st)
	}
}
