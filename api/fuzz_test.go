package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// Fuzz targets, one per handler family. The harness has recovery off, so a panic fails the
// target; every response must be a JSON error or a success that matches the OpenAPI document
// (h.do validates it).

// fuzzHarness is shared by the iterations of one target: building a ledger per input would make
// fuzzing slow.
func fuzzHarness(f *testing.F) *harness {
	h := newHarness(f)
	h.submit(contribution(workerID, "2026-10", 800000))
	h.registerWorkerKey()
	return h
}

var fuzzMu sync.Mutex

func checkFuzzResponse(t *testing.T, h *harness, req *http.Request) {
	fuzzMu.Lock()
	defer fuzzMu.Unlock()
	h.t = t
	r := h.do(req)
	if r.Status >= 500 {
		t.Fatalf("%s %q → %d: %s", req.Method, req.URL, r.Status, r.Body)
	}
}

func FuzzPostRecords(f *testing.F) {
	h := fuzzHarness(f)
	f.Add([]byte(`{"records":[{"type":"contribution","worker_id":"440305199003071236","hukou":"44","employer":"91440300123456788M","region":"440300","period":"2026-10","scheme":"pension","wage":800000}]}`), "application/json")
	f.Add([]byte("type,worker_id,period\ncontribution,440305199003071236,2026-10\n"), "text/csv")
	f.Add([]byte(`{"records":[{"type":"correction","target":"00","record":{"type":"contribution"}}]}`), "application/json")
	f.Add([]byte(`{"records":[{"type":"employment","end":null}]}`), "")
	f.Add([]byte("\"\n,,,"), "text/csv; charset=utf-8")
	f.Add([]byte(`[]`), "application/json; x=\"")
	// A signed record (application/cbor): a governance record with one of three ministry
	// signatures, and garbage.
	gov := ledger.NewRecord(h.net.Ministry[0].ID(), 1, &ledger.GovParam{Param: ledger.Param{Name: ledger.ParamPensionEmployer, Scope: "44", Effective: 20270101, Value: 1500}})
	gov.Sign(h.mem.Genesis().Network, h.net.Ministry[0])
	f.Add(gov.Encode(), "application/cbor")
	f.Add([]byte{0xa5, 0x01, 0x60}, "application/cbor")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		req := newRequest("POST", "/v1/records", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+testToken)
		checkFuzzResponse(t, h, req)
	})
}

func FuzzWritesBodies(f *testing.F) {
	h := fuzzHarness(f)
	w := pseudonym(workerID).String()
	f.Add("/v1/transfers", []byte(`{"worker_id":"440305199003071236","from":"44","to":"51"}`))
	f.Add("/v1/transfers", []byte(`{"from":"44","to":"44","evidence":"zz"}`))
	f.Add("/v1/workers/"+w+"/consents", []byte(`{"grantee":"x","scope":"history","from":"2026-02-30"}`))
	f.Add("/v1/workers/"+w+"/keys", []byte(`{"key":"12D3KooW"}`))
	f.Add("/v1/workers/"+w+"/consents/"+strings.Repeat("0", 64)+"/revoke", []byte(``))
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		u, err := url.Parse(target)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return
		}
		req := httptest.NewRequest("POST", "http://node.test/", strings.NewReader(string(body)))
		req.URL.Path, req.URL.RawQuery = u.Path, u.RawQuery
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		checkFuzzResponse(t, h, req)
	})
}

func FuzzReadPaths(f *testing.F) {
	h := fuzzHarness(f)
	for _, p := range []string{"/v1/workers/" + workerID + "/account", "/v1/workers/" + workerID + "/statement",
		"/v1/workers/x/access", "/v1/records/" + strings.Repeat("a", 64), "/v1/records/%00/proof",
		"/v1/transfers/" + strings.Repeat("b", 64), "/v1/employers/91440300123456788M/compliance",
		"/v1/checkpoints/latest", "/v1/checkpoints/18446744073709551615", "/v1/blocks/zz", "/v1/events?from=99999999999999999999",
		"/v1/status", "//v1", "/v1/records/../status", "/"} {
		f.Add("GET", p, true)
	}
	f.Add("PATCH", "/v1/records", false)
	f.Fuzz(func(t *testing.T, method, target string, operator bool) {
		if method != "GET" && method != "HEAD" && method != "PATCH" && method != "DELETE" && method != "PUT" {
			return
		}
		u, err := url.Parse(target)
		if err != nil || u.Host != "" || u.Scheme != "" || u.Path == "" {
			return
		}
		if strings.HasPrefix(u.Path, "/v1/events") && method != "PATCH" {
			return // a stream does not end by itself; FuzzSignatureHeaders covers its headers' parsing path
		}
		req := httptest.NewRequest(method, "http://node.test/", nil)
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		if operator {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		checkFuzzResponse(t, h, req)
	})
}

func FuzzSignatureHeaders(f *testing.F) {
	h := fuzzHarness(f)
	req := newRequest("GET", "/v1/workers/"+pseudonym(workerID).String()+"/account", nil)
	SignRequestAt(req, workerKey, testNow)
	f.Add(req.Header.Get("Signature-Input"), req.Header.Get("Signature"), "", "", []byte(nil))
	f.Add(`sig1=("@method" "@path" "content-digest");created=1;keyid="12D3KooW"`, `sig1=:AA==:`, "sha-256=:AA==:", "Bearer x", []byte("{}"))
	f.Add(`a=(1 2);b=?0`, `a=:::`, `sha-512=:x:`, "", []byte("x"))
	f.Fuzz(func(t *testing.T, input, sig, digest, auth string, body []byte) {
		var req *http.Request
		if len(body) > 0 {
			req = newRequest("POST", "/v1/transfers", body)
		} else {
			req = newRequest("GET", "/v1/workers/"+pseudonym(workerID).String()+"/account", nil)
		}
		for k, v := range map[string]string{"Signature-Input": input, "Signature": sig, "Content-Digest": digest, "Authorization": auth} {
			if v != "" && !strings.ContainsAny(v, "\r\n") {
				req.Header.Set(k, v)
			}
		}
		checkFuzzResponse(t, h, req)
	})
}
