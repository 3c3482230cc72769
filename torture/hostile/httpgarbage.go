package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/ledger"
)

// Routes are the API's routes (api/server.go routes() and api/openapi.json), with their path
// parameters in braces. RunHTTPGarbage fills the parameters with garbage.
var Routes = []struct{ Method, Pattern string }{
	{"GET", "/"}, {"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/metrics"}, {"GET", "/v1/openapi.json"},
	{"GET", "/v1/status"}, {"GET", "/v1/network"}, {"POST", "/v1/records"}, {"GET", "/v1/records/{id}"},
	{"GET", "/v1/records/{id}/proof"}, {"GET", "/v1/workers/{worker}/account"},
	{"GET", "/v1/workers/{worker}/statement"}, {"GET", "/v1/workers/{worker}/statement/print"},
	{"GET", "/v1/workers/{worker}/access"}, {"POST", "/v1/workers/{worker}/consents"},
	{"POST", "/v1/workers/{worker}/consents/{grant}/revoke"}, {"POST", "/v1/workers/{worker}/keys"},
	{"POST", "/v1/transfers"}, {"GET", "/v1/transfers/{case}"}, {"GET", "/v1/employers/{uscc}/compliance"},
	{"GET", "/v1/checkpoints/{seq}"}, {"GET", "/v1/blocks/{hash}"}, {"GET", "/v1/events"}, {"GET", "/v1/evidence"},
	{"POST", "/v1/admin"}, {"GET", "/ui/{file}"},
}

// HTTPGarbage configures RunHTTPGarbage.
type HTTPGarbage struct {
	BaseURLs []string
	// Tokens are the nodes' operator tokens, by position in BaseURLs (optional). With a token,
	// part of the garbage is sent as the operator, so that it gets past authentication to the
	// handlers' parsing. Garbage never forms a valid admin command or record batch.
	Tokens []string
	// Signer is a registered member's key (optional): part of the garbage is correctly signed
	// with it (RFC 9421), for the same reason.
	Signer *ledger.Signer
	// Workers is the number of concurrent clients per base URL (0: 2).
	Workers int
	// Timeout bounds one request (0: 30 s).
	Timeout time.Duration
	// HugeEvery sends a body beyond the route's limit once in this many requests (0: 40).
	HugeEvery int
}

// RunHTTPGarbage sends random and malformed requests to every route of every node until ctx is
// done: bad JSON and CSV, wrong content types, bodies beyond the limits, bad operator tokens,
// bad and replayed RFC 9421 signatures, garbage in paths and queries, unknown methods, and
// malformed HTTP over a raw connection. Stats.Kinds counts responses by status class
// ("status_4xx"…) and requests by case; Stats.Errors counts a 5xx, a dropped connection where an
// answer was due, and a 2xx to a request with bad credentials, each logged with the request.
func RunHTTPGarbage(ctx context.Context, baseURLs []string, log *slog.Logger) (Stats, error) {
	return HTTPGarbage{BaseURLs: baseURLs}.Run(ctx, log)
}

// Run sends garbage until ctx is done.
func (g HTTPGarbage) Run(ctx context.Context, log *slog.Logger) (Stats, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("party", "http-garbage")
	c := newCounter()
	if g.Workers <= 0 {
		g.Workers = 2
	}
	if g.Timeout <= 0 {
		g.Timeout = 30 * time.Second
	}
	if g.HugeEvery <= 0 {
		g.HugeEvery = 40
	}
	var targets []*target
	for i, b := range g.BaseURLs {
		u, err := url.Parse(strings.TrimRight(b, "/"))
		if err != nil || u.Host == "" {
			return c.snapshot(), fmt.Errorf("http garbage: base URL %q: %v", b, err)
		}
		t := &target{base: u.String(), host: u.Host}
		if i < len(g.Tokens) {
			t.token = g.Tokens[i]
		}
		targets = append(targets, t)
	}
	hc := &http.Client{
		Timeout: g.Timeout,
		Transport: &http.Transport{
			DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return dialRetry(ctx, addr, c) },
			MaxIdleConnsPerHost: g.Workers, TLSClientConfig: &tls.Config{},
			// Redirects and compression would hide what the server said.
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	for _, t := range targets {
		for range g.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := &garbageWorker{g: &g, t: t, hc: hc, c: c, log: log}
				for n := 1; ctx.Err() == nil; n++ {
					w.one(ctx, n)
				}
			}()
		}
	}
	wg.Wait()
	return c.snapshot(), nil
}

type target struct {
	base, host, token string
}

type garbageWorker struct {
	g   *HTTPGarbage
	t   *target
	hc  *http.Client
	c   *counter
	log *slog.Logger

	lastSigned *http.Request // a correctly signed request already sent, to replay
	lastBody   []byte
}

// badAuth says whether a request carries credentials that must be refused.
type authKind int

const (
	authNone authKind = iota
	authBad           // a garbage token or signature: must never get a 2xx
	authGood          // the operator token or a valid member signature
)

// one sends one garbage request.
func (w *garbageWorker) one(ctx context.Context, n int) {
	if n%w.g.HugeEvery == 0 {
		w.huge(ctx)
		return
	}
	if mrand.IntN(8) == 0 {
		w.raw(ctx)
		return
	}
	if w.lastSigned != nil && mrand.IntN(10) == 0 {
		// A correctly signed request sent again, byte for byte: a replay.
		req := w.lastSigned.Clone(ctx)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(w.lastBody)), int64(len(w.lastBody))
		w.lastSigned = nil
		w.send(ctx, "replayed signature", req, authBad, len(w.lastBody))
		return
	}
	rt := Routes[mrand.IntN(len(Routes))]
	method := rt.Method
	if mrand.IntN(5) == 0 {
		method = pick("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "BREW", "PROPFIND", "get")
	}
	path := fillPattern(rt.Pattern)
	if mrand.IntN(4) == 0 {
		path += "?" + garbageQuery()
	}
	var body []byte
	ctype := ""
	if method != "GET" && method != "HEAD" || mrand.IntN(6) == 0 {
		body, ctype = garbageBody()
	}
	kind := "route " + rt.Pattern
	req, err := http.NewRequestWithContext(ctx, method, w.t.base+path, bytes.NewReader(body))
	if err != nil {
		// The garbage made an unparseable URL: send it raw instead.
		w.rawRequest(ctx, "raw bad url", []byte(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, path, w.t.host)), true)
		return
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	auth := w.authorize(req, body)
	w.send(ctx, kind, req, auth, len(body))
}

// authorize puts credentials on req: none, garbage, or valid ones.
func (w *garbageWorker) authorize(req *http.Request, body []byte) authKind {
	switch mrand.IntN(9) {
	case 0, 1, 2:
		return authNone
	case 3:
		req.Header.Set("Authorization", pick("Bearer", "Bearer ", "Bearer x", "Basic YWRtaW46YWRtaW4=", "bearer "+w.t.token,
			"Bearer "+strings.Repeat("0", 64), "Bearer "+w.t.token+"x", "Bearer "+strings.Repeat("A", 8000), "Token "+w.t.token,
			"Bearer "+w.t.token[:len(w.t.token)/2]))
		return authBad
	case 4:
		// Garbage signature headers.
		req.Header.Set("Signature-Input", pick(`sig1=("@method");keyid="x";alg="ed25519";created=1`, `sig1=`, `sig1=("@method" "@path");created=99999999999999999999`,
			`sig1=("@method" "@path" "@query");keyid="12D3KooWxx";alg="ed25519";created=1700000000`, `,,,`, `sig1=("@method" "@path");keyid=`+strings.Repeat("a", 3000),
			"sig1=(\"@method\" \"@path\");keyid=\""+ledger.SignerFromSeed(randBytes(32)).ID().String()+"\";alg=\"ed25519\";created=1"))
		req.Header.Set("Signature", pick("sig1=:AAAA:", "sig1=:"+strings.Repeat("A", 86)+"==:", "sig1=?1", "garbage", "sig2=:AAAA:"))
		return authBad
	case 5:
		// A correct signature by a key that is not a member, or one made long ago.
		s := ledger.SignerFromSeed(randBytes(32))
		at := time.Now()
		if w.g.Signer != nil && mrand.IntN(2) == 0 {
			s, at = w.g.Signer, time.Now().Add(-time.Hour)
		}
		if err := api.SignRequestAt(req, s, at); err != nil {
			return authNone
		}
		return authBad
	case 6, 7:
		if w.g.Signer != nil {
			if err := api.SignRequest(req, w.g.Signer); err == nil {
				w.lastSigned, w.lastBody = req, body
				return authGood
			}
		}
		return authNone
	default:
		if w.t.token != "" {
			req.Header.Set("Authorization", "Bearer "+w.t.token)
			return authGood
		}
		return authNone
	}
}

// send sends req and classifies the answer.
func (w *garbageWorker) send(ctx context.Context, kind string, req *http.Request, auth authKind, bodyLen int) {
	w.c.sent(kind)
	resp, err := w.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			w.c.err("dropped")
			w.log.Error("request dropped", "method", req.Method, "url", truncate(req.URL.String()), "body_bytes", bodyLen, "err", err)
		}
		return
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// An event stream does not end; its headers are the answer.
		w.c.kind("event_stream")
	} else if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<20)); err != nil && ctx.Err() == nil {
		w.c.err("dropped")
		w.log.Error("response cut off", "method", req.Method, "url", truncate(req.URL.String()), "status", resp.StatusCode, "err", err)
		return
	}
	w.classify(req.Method, req.URL.String(), resp.StatusCode, auth, resp.Header)
}

func (w *garbageWorker) classify(method, u string, code int, auth authKind, h http.Header) {
	w.c.kind(fmt.Sprintf("status_%dxx", code/100))
	switch {
	case code >= 500:
		w.c.err("")
		w.log.Error("server error", "method", method, "url", truncate(u), "status", code)
	case code < 300 && auth == authBad:
		w.c.err("accepted_bad_auth")
		w.log.Error("bad credentials accepted", "method", method, "url", truncate(u), "status", code)
	case code >= 400 && h != nil && !strings.HasPrefix(h.Get("Content-Type"), "application/json") && method != "HEAD":
		w.c.kind("error_not_json")
	}
}

// huge sends a body beyond the route's limit (32 MiB for records, 64 KiB elsewhere) over a raw
// connection, reading the answer while it writes: the server answers 413 before the body ends.
func (w *garbageWorker) huge(ctx context.Context) {
	path, limit := "/v1/records", 32<<20
	if mrand.IntN(2) == 0 {
		path, limit = pick("/v1/transfers", "/v1/admin", "/v1/workers/440305199003071236/consents"), 64<<10
	}
	size := limit + 1 + mrand.IntN(1<<20)
	hdr := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, w.t.host, size)
	auth := authNone
	if w.t.token != "" && mrand.IntN(2) == 0 {
		hdr += "Authorization: Bearer " + w.t.token + "\r\n"
		auth = authGood
	}
	hdr += "Connection: close\r\n\r\n"
	body := io.MultiReader(strings.NewReader(`{"records":[`), &repeatReader{unit: []byte(`{"type":"contribution","wage":1},`), n: int64(size - len(`{"records":[`))})
	w.rawExchange(ctx, "huge body "+path, []byte(hdr), body, true, auth)
}

// repeatReader yields unit again and again, n bytes in all.
type repeatReader struct {
	unit []byte
	n    int64
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && int64(k) < r.n {
		c := copy(p[k:min(len(p), k+int(min(r.n-int64(k), int64(len(r.unit)-r.off))))], r.unit[r.off:])
		r.off = (r.off + c) % len(r.unit)
		k += c
	}
	r.n -= int64(k)
	return k, nil
}

// raw sends malformed HTTP over a raw connection.
func (w *garbageWorker) raw(ctx context.Context) {
	h := w.t.host
	cases := []struct {
		name   string
		req    string
		answer bool // a conforming server answers (400, 414, 431, 501, 505…)
	}{
		{"raw garbage line", string(randPrintable(40)) + "\r\n\r\n", true},
		{"raw bad version", "GET /v1/status HTTP/9.9\r\nHost: " + h + "\r\n\r\n", true},
		{"raw no host", "GET /v1/status HTTP/1.1\r\n\r\n", true},
		{"raw bad header line", "GET /v1/status HTTP/1.1\r\nHost: " + h + "\r\nno colon here\r\n\r\n", true},
		{"raw bad content-length", "POST /v1/records HTTP/1.1\r\nHost: " + h + "\r\nContent-Length: abc\r\n\r\n", true},
		{"raw two content-lengths", "POST /v1/records HTTP/1.1\r\nHost: " + h + "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", true},
		{"raw bad chunk", "POST /v1/records HTTP/1.1\r\nHost: " + h + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", true},
		{"raw unknown transfer-encoding", "POST /v1/records HTTP/1.1\r\nHost: " + h + "\r\nTransfer-Encoding: gzip, chunked, br\r\n\r\n0\r\n\r\n", true},
		{"raw huge uri", "GET /v1/records/" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\nHost: " + h + "\r\n\r\n", true},
		{"raw huge header", "GET /v1/status HTTP/1.1\r\nHost: " + h + "\r\nX-Junk: " + strings.Repeat("j", 80<<10) + "\r\n\r\n", true},
		{"raw nul in path", "GET /v1/\x00status HTTP/1.1\r\nHost: " + h + "\r\n\r\n", true},
		{"raw absolute uri", "GET http://evil.example/v1/status HTTP/1.1\r\nHost: " + h + "\r\n\r\n", true},
		{"raw dot path", "GET /v1/../../../etc/passwd HTTP/1.1\r\nHost: " + h + "\r\n\r\n", true},
		{"raw connect", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", true},
		{"raw tls hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + string(randBytes(32)) + "\r\n\r\n", true},
		{"raw http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"raw binary", string(randBytes(256)), false},
		{"raw half request", "GET /v1/stat", false},
	}
	cs := cases[mrand.IntN(len(cases))]
	w.rawRequest(ctx, cs.name, []byte(cs.req), cs.answer)
}

func (w *garbageWorker) rawRequest(ctx context.Context, kind string, req []byte, answer bool) {
	w.rawExchange(ctx, kind, req, nil, answer, authNone)
}

// rawExchange writes head and then body (if any) on a new connection, half-closes, and reads
// one response while writing. A missing answer is an error when answer is set.
func (w *garbageWorker) rawExchange(ctx context.Context, kind string, head []byte, body io.Reader, answer bool, auth authKind) {
	w.c.sent(kind)
	conn, err := dialRetry(ctx, w.t.host, w.c)
	if err != nil {
		if ctx.Err() == nil {
			w.c.err("dropped")
			w.log.Error("dial refused", "case", kind, "err", err)
		}
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(w.g.Timeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	writeErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(head)
		if err == nil && body != nil {
			_, err = io.Copy(conn, body)
		}
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				err = tc.CloseWrite()
			}
		}
		writeErr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	conn.Close() // ends the writer
	<-writeErr
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			if answer {
				w.c.err("dropped")
				w.log.Error("no answer", "case", kind, "request", truncate(string(head)), "err", err)
			} else {
				w.c.kind("closed_without_answer")
			}
			return
		}
		w.c.err("dropped")
		w.log.Error("unreadable answer", "case", kind, "request", truncate(string(head)), "err", err)
		return
	}
	if protocolAnswers[kind] == resp.StatusCode {
		// The one right answer, given by net/http before any handler runs.
		w.c.kind(fmt.Sprintf("status_%d_protocol", resp.StatusCode))
		return
	}
	w.classify(strings.SplitN(string(head), " ", 2)[0], kind, resp.StatusCode, auth, nil)
}

// protocolAnswers are the raw cases whose right answer is a 5xx: RFC 9110 §15.6.6 (505 for a
// major version the server does not speak) and RFC 9112 §6.1 (501 for a transfer coding it
// does not understand). They are counted apart, not as server errors.
var protocolAnswers = map[string]int{
	"raw bad version":               http.StatusHTTPVersionNotSupported,
	"raw unknown transfer-encoding": http.StatusNotImplemented,
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// fillPattern replaces each {param} of a route pattern with garbage.
func fillPattern(p string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], '}')
		b.WriteString(p[:i])
		b.WriteString(garbageParam())
		p = p[i+j+1:]
	}
}

func garbageParam() string {
	switch mrand.IntN(4) {
	case 0:
		return url.PathEscape(string(randBytes(1 + mrand.IntN(64))))
	case 1:
		return url.PathEscape(string(randPrintable(1 + mrand.IntN(200))))
	}
	return pick("x", "-1", "0", "latest", "18446744073709551615", "18446744073709551616", "%00", "%ff%fe", "%2e%2e%2f%2e%2e",
		"..", "%2F", "😀", strings.Repeat("a", 5000), strings.Repeat("ab", 32), strings.Repeat("AB", 32), strings.Repeat("ab", 33),
		"440305199003071236", "44030519900307123X", "91310115MA1H8R7C6D", "12D3KooWHaN1soWBVmf6szaeCUJAYxHKauxCXanNKpCDC7nrTrR4",
		"'%20OR%201=1%20--", "%3Cscript%3E", "index.html", "..%2f..%2fgo.mod", "app.js")
}

func garbageQuery() string {
	return pick("from=x", "from=-1", "from=18446744073709551616", "limit=0", "limit=99999999999999999999", "from=1&limit=1",
		"after=%ff", "cursor="+strings.Repeat("z", 3000), "a=1&a=2&a=3", "%zz", "=&=&=", "seq=1;drop", url.QueryEscape(string(randBytes(40))))
}

// garbageBody returns a body that is not a valid request of any route, and its content type.
func garbageBody() ([]byte, string) {
	ctype := pick("application/json", "application/json", "text/csv", "application/xml", "multipart/form-data; boundary=x",
		"", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded", "application/jsonl")
	bodies := []string{
		`{"records":[{`, `{"records":{}}`, `{"records":[{"type":"contribution","wage":"lots"}]}`, `[]`, `null`, `"str"`, `{}`,
		`{"records":[{"type":"nope"}]}`, `{"records":[1,2,3]}`, `{"worker_id":7,"from":"x"}`, `{"action":1}`, `{"action":"reboot"}`,
		`{"grantee":null,"scope":[]}`, `{"key":"not-a-key"}`, `{"records":[{"type":"contribution","worker_id":"440305199003071236","wage":-1}]}`,
		strings.Repeat("[", 100000), `{"a":` + strings.Repeat(`{"a":`, 20000), "\xff\xfe\x00{", `{"records":[` + strings.Repeat(`{},`, 5000) + `{}]}`,
		"type,shoe_size\ncontribution,44\n", "\"unterminated\n,,,", "type\n" + strings.Repeat("contribution\n", 3000),
		`<?xml version="1.0"?><records/>`, "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--\r\n",
		`{"records":[{"type":"contribution","period":"2026-13","region":"999999"}]}`, `{"records":[],"records":[{}]}`,
		`{"action":"add-voter","peer":"nobody"}`, `{"action":"remove-voter","peer":""}`,
	}
	if mrand.IntN(5) == 0 {
		return randBytes(mrand.IntN(8192)), ctype
	}
	return []byte(bodies[mrand.IntN(len(bodies))]), ctype
}

func pick(s ...string) string { return s[mrand.IntN(len(s))] }

func randPrintable(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x21 + mrand.IntN(0x7e-0x21))
	}
	return b
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
