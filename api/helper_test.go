package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// Test fixtures: the ledgertest network (3 ministry members, bureaus of 44, 51, 33, 11) plus an
// employer of 44 and a supervisor. The node is the bureau of 44 unless a test says otherwise.
const (
	testToken    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	workerID     = "440305199003071236"
	otherID      = "34052419800101001X"
	employerUSCC = "91440300123456788M"
)

var (
	employerKey   = ledger.SignerFromSeed(bytes.Repeat([]byte{0x40}, 32))
	supervisorKey = ledger.SignerFromSeed(bytes.Repeat([]byte{0x41}, 32))
	workerKey     = ledger.SignerFromSeed(bytes.Repeat([]byte{0x42}, 32))
	strangerKey   = ledger.SignerFromSeed(bytes.Repeat([]byte{0x43}, 32))
	// testNow is the fake clock: contributions up to 2026-11 are in the past.
	testNow = time.Date(2026, 12, 15, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
)

// spec is the embedded OpenAPI document, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return legacy.NewRouter(doc)
})

func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

type harness struct {
	t     testing.TB
	mem   *MemBackend
	api   *API
	net   *ledgertest.Net
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testGenesis(n *ledgertest.Net) *ledger.Genesis {
	g := *n.Genesis
	g.Members = append(append([]ledger.Member(nil), g.Members...),
		ledger.Member{ID: employerKey.ID(), Role: ledger.RoleEmployer, Region: "44", Name: employerUSCC},
		ledger.Member{ID: supervisorKey.ID(), Role: ledger.RoleSupervisor, Name: "market supervision 44"})
	g.Normalise()
	return &g
}

// newHarness builds a MemBackend and the API over it with recovery off, so that a panic in a
// handler fails the test instead of turning into a 500.
func newHarness(t testing.TB) *harness {
	return newHarnessAs(t, "44")
}

func newHarnessAs(t testing.TB, prov string) *harness {
	t.Helper()
	n := ledgertest.New(t)
	g := testGenesis(n)
	clock := &fakeClock{t: testNow}
	mem, err := NewMemBackend(MemConfig{Genesis: g, Pepper: ledgertest.Pepper, Node: n.Bureau[prov], Ministry: n.Ministry, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Backend, cfg.Token, cfg.noRecover = mem, testToken, true
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Heartbeat = 50 * time.Millisecond
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, mem: mem, api: a, net: n, clock: clock}
}

// resp is a response that has been validated against the OpenAPI document.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorCode returns the error code and field of an error response.
func (r *resp) errorCode(t testing.TB) (code, field string) {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	return e.Error.Code, e.Error.Field
}

// do serves req and checks the response against the OpenAPI document: every test request goes
// through here, so no response escapes validation.
func (h *harness) do(req *http.Request) *resp {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	r := &resp{Status: rec.Code, Header: rec.Result().Header, Body: rec.Body.Bytes()}
	if err := validateResponse(req, r); err != nil {
		h.t.Fatalf("%s %s → %d: response does not match the OpenAPI document: %v\nbody: %.2000s", req.Method, req.URL, r.Status, err, r.Body)
	}
	return r
}

// validateResponse checks a response against the operation of the document that req matches;
// a request matching no operation must have been answered with the JSON error shape.
func validateResponse(req *http.Request, r *resp) error {
	doc, err := spec()
	if err != nil {
		return err
	}
	router, err := specRouter()
	if err != nil {
		return err
	}
	if r.Status >= 400 || r.Status < 200 {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			return &validationError{"error response with Content-Type " + ct}
		}
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			return err
		}
		return doc.Components.Schemas["Error"].Value.VisitJSON(v)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if req.Method == http.MethodHead {
		return nil
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(r.Body)), Options: opts})
}

type validationError struct{ s string }

func (e *validationError) Error() string { return e.s }

func newRequest(method, target string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://node.test"+target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// operator sends a request with the operator token.
func (h *harness) operator(method, target string, body []byte) *resp {
	h.t.Helper()
	req := newRequest(method, target, body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	return h.do(req)
}

// signed sends a request signed by s at the harness's clock.
func (h *harness) signed(s *ledger.Signer, method, target string, body []byte) *resp {
	h.t.Helper()
	req := newRequest(method, target, body)
	if err := SignRequestAt(req, s, h.clock.Now()); err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) anon(method, target string, body []byte) *resp {
	h.t.Helper()
	return h.do(newRequest(method, target, body))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func wantStatus(t testing.TB, r *resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

func wantError(t testing.TB, r *resp, status int, code, field string) {
	t.Helper()
	wantStatus(t, r, status)
	c, f := r.errorCode(t)
	if c != code || (field != "" && f != field) {
		t.Fatalf("error %q field %q, want %q field %q: %s", c, f, code, field, r.Body)
	}
}

// contribution returns a valid contribution input for worker id in period.
func contribution(id, period string, wage int64) map[string]any {
	return map[string]any{"type": "contribution", "worker_id": id, "hukou": "44", "employer": employerUSCC,
		"region": "440300", "period": period, "scheme": "pension", "wage": wage}
}

// submit posts records as the operator and returns the accepted IDs, failing on any rejection.
func (h *harness) submit(records ...map[string]any) []ledger.Hash {
	h.t.Helper()
	r := h.operator("POST", "/v1/records", mustJSON(map[string]any{"records": records}))
	wantStatus(h.t, r, http.StatusAccepted)
	var out submitResponse
	r.json(h.t, &out)
	if len(out.Rejected) != 0 || len(out.Accepted) != len(records) {
		h.t.Fatalf("submission: %s", r.Body)
	}
	ids := make([]ledger.Hash, len(out.Accepted))
	for i, a := range out.Accepted {
		ids[i] = a.ID
	}
	return ids
}

// pseudonym of a resident ID number with the test pepper.
func pseudonym(id string) ledger.WorkerID {
	return ledger.Pseudonym(ledgertest.Pepper, strings.ToUpper(id))
}

// verifyStatement decodes a served statement and verifies it offline against the genesis, as
// `jaminan verify` does.
func verifyStatement(t *testing.T, h *harness, raw []byte) (*ledger.Statement, *ledger.StatementSummary) {
	t.Helper()
	st, err := ledger.DecodeStatement(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := st.Verify(h.mem.Genesis())
	if err != nil {
		t.Fatalf("statement does not verify offline: %v", err)
	}
	return st, sum
}
