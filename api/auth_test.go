package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// registerWorkerKey registers workerKey for workerID through the operator route.
func (h *harness) registerWorkerKey() {
	h.t.Helper()
	r := h.operator("POST", "/v1/workers/"+workerID+"/keys", mustJSON(map[string]any{"key": workerKey.ID().String()}))
	wantStatus(h.t, r, 202)
}

func TestSignedWorkerReadsOwnData(t *testing.T) {
	h := newHarness(t)
	h.submit(contribution(workerID, "2026-10", 800000), contribution(otherID, "2026-10", 800000))
	w := pseudonym(workerID).String()
	wantError(t, h.signed(workerKey, "GET", "/v1/workers/"+w+"/account", nil), 401, CodeUnauthorized, "")
	h.registerWorkerKey()
	wantStatus(t, h.signed(workerKey, "GET", "/v1/workers/"+w+"/account", nil), 200)
	wantStatus(t, h.signed(workerKey, "GET", "/v1/workers/"+w+"/statement", nil), 200)
	// Another worker's data, or a resident ID number in the path: refused.
	wantError(t, h.signed(workerKey, "GET", "/v1/workers/"+pseudonym(otherID).String()+"/account", nil), 403, CodeForbidden, "")
	wantError(t, h.signed(workerKey, "GET", "/v1/workers/"+workerID+"/account", nil), 403, CodeForbidden, "")
	// The worker's own reads are not logged.
	if acc := h.accessList(pseudonym(workerID)); len(acc) != 0 {
		t.Fatalf("worker's own reads logged: %+v", acc)
	}
	// Registering keys is the operator's.
	wantError(t, h.signed(workerKey, "POST", "/v1/workers/"+w+"/keys", mustJSON(map[string]any{"key": strangerKey.ID().String()})), 403, CodeForbidden, "")
	wantError(t, h.operator("POST", "/v1/workers/"+w+"/keys", mustJSON(map[string]any{"key": "nokey"})), 400, CodeBadRequest, "key")
	wantError(t, h.operator("POST", "/v1/workers/"+w+"/keys", mustJSON(map[string]any{"key": employerKey.ID().String()})), 400, CodeBadRequest, "key")
}

func TestSignatureFailures(t *testing.T) {
	h := newHarness(t)
	h.submit(contribution(workerID, "2026-10", 800000))
	target := "/v1/employers/" + employerUSCC + "/compliance"
	wantStatus(t, h.signed(supervisorKey, "GET", target, nil), 200)

	t.Run("expired", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		if err := SignRequestAt(req, supervisorKey, h.clock.Now().Add(-6*time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
	})
	t.Run("future", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		SignRequestAt(req, supervisorKey, h.clock.Now().Add(6*time.Minute))
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
	})
	t.Run("inside the window", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		SignRequestAt(req, supervisorKey, h.clock.Now().Add(-4*time.Minute))
		wantStatus(t, h.do(req), 200)
	})
	t.Run("replayed", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		SignRequestAt(req, supervisorKey, h.clock.Now())
		wantStatus(t, h.do(req), 200)
		again := newRequest("GET", target, nil)
		again.Header = req.Header.Clone()
		r := h.do(again)
		wantError(t, r, 401, CodeUnauthorized, "")
		if !strings.Contains(string(r.Body), "replayed") {
			t.Fatalf("replay refused for another reason: %s", r.Body)
		}
	})
	t.Run("tampered path", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		SignRequestAt(req, supervisorKey, h.clock.Now())
		other := newRequest("GET", "/v1/employers/91110000600037341L/compliance", nil)
		other.Header = req.Header.Clone()
		wantError(t, h.do(other), 401, CodeUnauthorized, "")
	})
	t.Run("tampered signature", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		SignRequestAt(req, supervisorKey, h.clock.Now())
		sig := req.Header.Get("Signature")
		m := regexp.MustCompile(`:(.*):`).FindStringSubmatch(sig)
		raw, _ := base64.StdEncoding.DecodeString(m[1])
		raw[0] ^= 1
		req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(raw)+":")
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
	})
	t.Run("tampered body", func(t *testing.T) {
		h.registerWorkerKey()
		body := mustJSON(map[string]any{"grantee": employerKey.ID().String(), "scope": "history"})
		req := newRequest("POST", "/v1/workers/"+pseudonym(workerID).String()+"/consents", body)
		SignRequestAt(req, workerKey, h.clock.Now())
		evil := mustJSON(map[string]any{"grantee": strangerKey.ID().String(), "scope": "history"})
		forged := newRequest("POST", req.URL.Path, evil)
		forged.Header = req.Header.Clone()
		r := h.do(forged)
		wantError(t, r, 401, CodeUnauthorized, "")
		if !strings.Contains(string(r.Body), "content-digest") {
			t.Fatalf("refused for another reason: %s", r.Body)
		}
		// Digest recomputed by the forger: the signature no longer verifies.
		forged = newRequest("POST", req.URL.Path, evil)
		forged.Header = req.Header.Clone()
		forged.Header.Set("Content-Digest", ContentDigest(evil))
		wantError(t, h.do(forged), 401, CodeUnauthorized, "")
	})
	t.Run("body not covered", func(t *testing.T) {
		req := newRequest("POST", "/v1/transfers", []byte(`{}`))
		SignRequestAt(req, workerKey, h.clock.Now())
		req.Header.Set("Signature-Input", strings.Replace(req.Header.Get("Signature-Input"), ` "content-digest"`, "", 1))
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
	})
	t.Run("unknown key", func(t *testing.T) {
		wantError(t, h.signed(strangerKey, "GET", target, nil), 401, CodeUnauthorized, "")
	})
	t.Run("garbage headers", func(t *testing.T) {
		req := newRequest("GET", target, nil)
		req.Header.Set("Signature-Input", `sig1=("@method");created=x`)
		req.Header.Set("Signature", `sig1=:AAAA:`)
		wantError(t, h.do(req), 401, CodeUnauthorized, "")
	})
	t.Run("expired member", func(t *testing.T) {
		g := h.mem.Genesis()
		mem, err := NewMemBackend(MemConfig{Genesis: withExpiredSupervisor(t, g), Pepper: h.mem.Pepper(), Node: h.net.Bureau["44"], Ministry: h.net.Ministry, Clock: h.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		cfg := h.api.cfg
		cfg.Backend = mem
		h2 := &harness{t: t, mem: mem, api: mustAPI(t, cfg), net: h.net, clock: h.clock}
		wantError(t, h2.signed(supervisorKey, "GET", target, nil), 403, CodeForbidden, "")
	})
}

func withExpiredSupervisor(t *testing.T, g *ledger.Genesis) *ledger.Genesis {
	g2 := *g
	g2.Members = append([]ledger.Member(nil), g.Members...)
	for i := range g2.Members {
		if g2.Members[i].ID == supervisorKey.ID() {
			g2.Members[i].Until = uint64(testNow.Add(-24 * time.Hour).UnixMilli())
		}
	}
	if err := g2.Validate(); err != nil {
		t.Fatal(err)
	}
	return &g2
}

func TestEmployerNeedsConsent(t *testing.T) {
	h := newHarness(t)
	h.submit(contribution(workerID, "2026-10", 800000))
	h.registerWorkerKey()
	w := pseudonym(workerID).String()
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/statement", nil), 403, CodeForbidden, "")
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/account", nil), 403, CodeForbidden, "")

	// An account-scope consent allows the account, not the history.
	r := h.signed(workerKey, "POST", "/v1/workers/"+w+"/consents", mustJSON(map[string]any{"grantee": employerKey.ID().String(), "scope": "account"}))
	wantStatus(t, r, 202)
	wantStatus(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/account", nil), 200)
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/statement", nil), 403, CodeForbidden, "")

	// The worker grants history to the employer, by the USCC its registry entry carries.
	r = h.signed(workerKey, "POST", "/v1/workers/"+w+"/consents", mustJSON(map[string]any{"grantee": employerUSCC, "scope": "history"}))
	wantStatus(t, r, 202)
	var grant map[string]ledger.Hash
	r.json(t, &grant)
	wantStatus(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/statement", nil), 200)

	acc := h.accessList(pseudonym(workerID))
	if len(acc) != 2 || acc[0].Reader != employerKey.ID().String() || acc[0].What != "account" || acc[1].What != "statement" {
		t.Fatalf("access list %+v", acc)
	}
	// The logged access record names the consent relied on.
	raw, _, err := mustView(t, h).Record(acc[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := ledger.DecodeRecord(raw)
	if a, ok := body.(*ledger.Access); !ok || a.Consent != grant["id"] {
		t.Fatalf("access record %+v, want consent %s", body, grant["id"])
	}
	// The worker sees it too, with their own key.
	r = h.signed(workerKey, "GET", "/v1/workers/"+w+"/access", nil)
	wantStatus(t, r, 200)

	// Revoked: refused again.
	wantStatus(t, h.signed(workerKey, "POST", "/v1/workers/"+w+"/consents/"+grant["id"].String()+"/revoke", nil), 202)
	wantError(t, h.signed(employerKey, "GET", "/v1/workers/"+w+"/statement", nil), 403, CodeForbidden, "")

	// Bad consent requests name the field.
	wantError(t, h.signed(workerKey, "POST", "/v1/workers/"+w+"/consents", mustJSON(map[string]any{"grantee": "x", "scope": "all"})), 400, CodeBadRequest, "scope")
	wantError(t, h.signed(workerKey, "POST", "/v1/workers/"+w+"/consents", mustJSON(map[string]any{"grantee": "x", "scope": "history", "until": "2020-01-01"})), 400, CodeBadRequest, "until")
	wantError(t, h.signed(employerKey, "POST", "/v1/workers/"+w+"/consents", mustJSON(map[string]any{"grantee": "x", "scope": "history"})), 403, CodeForbidden, "")
}

func mustView(t testing.TB, h *harness) View {
	v, err := h.mem.View(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Release)
	return v
}

func TestTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "operator.token")
	tok, err := LoadOrCreateToken(p)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(tok) {
		t.Fatalf("token %q", tok)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", fi.Mode(), err)
	}
	again, err := LoadOrCreateToken(p)
	if err != nil || again != tok {
		t.Fatalf("second load %q, %v", again, err)
	}
	os.WriteFile(p, []byte("short\n"), 0o600)
	if _, err := LoadOrCreateToken(p); err == nil {
		t.Fatal("a short token is accepted")
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(5*time.Minute, 100)
	now := testNow
	for i := 0; i < 1000; i++ {
		if c.check([]byte{byte(i), byte(i >> 8)}, now, now) {
			t.Fatalf("fresh signature %d seen as a replay", i)
		}
	}
	if len(c.seen) > 100 {
		t.Fatalf("cache holds %d entries, bound 100", len(c.seen))
	}
	if !c.check([]byte{byte(999 % 256), byte(999 >> 8)}, now, now) {
		t.Fatal("recent signature not detected as a replay")
	}
	// Entries that left the window are forgotten.
	c2 := newReplayCache(time.Minute, 100)
	c2.check([]byte("a"), now, now)
	c2.check([]byte("b"), now.Add(2*time.Minute), now.Add(2*time.Minute))
	if _, ok := c2.seen[sha256Of("a")]; ok {
		t.Fatal("expired entry kept")
	}
}

func TestRecoverAnswers500(t *testing.T) {
	h := newHarness(t)
	cfg := h.api.cfg
	cfg.noRecover = false
	cfg.Backend = panicky{h.mem}
	a := mustAPI(t, cfg)
	h2 := &harness{t: t, mem: h.mem, api: a, net: h.net, clock: h.clock}
	wantError(t, h2.anon("GET", "/v1/status", nil), http.StatusInternalServerError, CodeInternal, "")
}

// panicky is a backend whose Status panics, to exercise the last-resort recovery.
type panicky struct{ *MemBackend }

func (panicky) Status(context.Context) (Status, error) { panic("boom") }

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }
