package api

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jaminan/jaminan/intake"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the API (served at /v1/openapi.json).
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// Config configures the API.
type Config struct {
	Backend Backend
	// Token is the operator token (see LoadOrCreateToken). Empty disables operator access.
	Token  string
	Logger *slog.Logger // nil: discard
	// Metrics receives the API's metrics and is served at /metrics. nil: a registry of its own.
	Metrics *prometheus.Registry

	MaxBatchBytes int64 // JSON body of POST /v1/records
	MaxCSVBytes   int64 // CSV body of POST /v1/records
	MaxBodyBytes  int64 // every other request body

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration // per response; event streams extend it per event
	IdleTimeout       time.Duration

	SignatureWindow time.Duration // signed requests' created time must lie within ± this
	ReplayCacheSize int           // signatures remembered within the window
	Heartbeat       time.Duration // comment lines on idle event streams

	noRecover bool // tests: let a panic through, to prove handlers never rely on recovery
}

// DefaultConfig returns the limits of a node; set Backend and Token.
func DefaultConfig() Config {
	return Config{
		MaxBatchBytes: 32 << 20, MaxCSVBytes: 32 << 20, MaxBodyBytes: 64 << 10,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, WriteTimeout: 2 * time.Minute,
		IdleTimeout: 2 * time.Minute, SignatureWindow: 5 * time.Minute, ReplayCacheSize: 100_000,
		Heartbeat: 15 * time.Second,
	}
}

// Validate returns every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("backend: required"))
	}
	if c.Token != "" && len(c.Token) < 32 {
		errs = append(errs, errors.New("token: at least 32 characters"))
	}
	for _, x := range []struct {
		name string
		v    int64
	}{{"max_batch_bytes", c.MaxBatchBytes}, {"max_csv_bytes", c.MaxCSVBytes}, {"max_body_bytes", c.MaxBodyBytes}, {"replay_cache_size", int64(c.ReplayCacheSize)}} {
		if x.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", x.name))
		}
	}
	for _, x := range []struct {
		name string
		v    time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout},
		{"idle_timeout", c.IdleTimeout}, {"signature_window", c.SignatureWindow}, {"heartbeat", c.Heartbeat}} {
		if x.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", x.name))
		}
	}
	return errors.Join(errs...)
}

// API is the node's HTTP API. It is an http.Handler.
type API struct {
	cfg     Config
	b       Backend
	log     *slog.Logger
	mux     *http.ServeMux
	replay  *replayCache
	conv    *intake.Converter
	metrics *metrics
	gather  prometheus.Gatherer
}

// New builds the API.
func New(cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("api config: %w", err)
	}
	a := &API{cfg: cfg, b: cfg.Backend, log: cfg.Logger, mux: http.NewServeMux(),
		replay: newReplayCache(cfg.SignatureWindow, cfg.ReplayCacheSize)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("api metrics: %w", err)
	}
	a.metrics, a.gather = m, reg
	// The genesis parameters: the ledger recomputes every figure with the parameters in force
	// and rejects a mismatch, so a parameter changed since genesis costs a rejection receipt,
	// never a wrong figure.
	a.conv = intake.NewConverter(cfg.Backend.Genesis(), cfg.Backend.Pepper())
	a.routes()
	return a, nil
}

// NewServer returns an http.Server for the API on addr with the configured timeouts. The caller
// runs ListenAndServe (or Serve) and Shutdown.
func NewServer(addr string, cfg Config) (*http.Server, error) {
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// Requests run under a context that Shutdown cancels: an event stream (or any handler
	// waiting on its request's context) then ends, and Shutdown does not wait on it for ever.
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Addr: addr, Handler: a, ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog:    slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancel)
	return srv, nil
}

// access says who may call a route before its handler looks closer.
type access int

const (
	public   access = iota // anyone
	signedIn               // the operator or a party with a verified signature
)

// handler serves one route. p is nil on public routes.
type handler func(w http.ResponseWriter, r *http.Request, p *principal) error

type route struct {
	method  string
	pattern string
	access  access
	maxBody int64 // 0: no body accepted
	h       handler
}

func (a *API) routes() {
	body := a.cfg.MaxBodyBytes
	rs := []route{
		{"GET", "/{$}", public, 0, a.handleRoot},
		{"GET", "/ui/{file}", public, 0, a.handleUI},
		{"GET", "/v1/network", public, 0, a.handleNetwork},
		{"GET", "/healthz", public, 0, a.handleHealthz},
		{"GET", "/readyz", public, 0, a.handleReadyz},
		{"GET", "/metrics", public, 0, a.handleMetrics},
		{"GET", "/v1/openapi.json", public, 0, a.handleOpenAPI},
		{"GET", "/v1/status", public, 0, a.handleStatus},
		{"POST", "/v1/records", signedIn, max(a.cfg.MaxBatchBytes, a.cfg.MaxCSVBytes), a.handlePostRecords},
		{"GET", "/v1/records/{id}", signedIn, 0, a.handleRecord},
		{"GET", "/v1/records/{id}/proof", signedIn, 0, a.handleProof},
		{"GET", "/v1/workers/{worker}/account", signedIn, 0, a.handleAccount},
		{"GET", "/v1/workers/{worker}/statement", signedIn, 0, a.handleStatement},
		{"GET", "/v1/workers/{worker}/statement/print", signedIn, 0, a.handleStatementPrint},
		{"GET", "/v1/workers/{worker}/access", signedIn, 0, a.handleAccessList},
		{"POST", "/v1/workers/{worker}/consents", signedIn, body, a.handleGrantConsent},
		{"POST", "/v1/workers/{worker}/consents/{grant}/revoke", signedIn, body, a.handleRevokeConsent},
		{"POST", "/v1/workers/{worker}/keys", signedIn, body, a.handleWorkerKey},
		{"POST", "/v1/transfers", signedIn, body, a.handlePostTransfer},
		{"GET", "/v1/transfers/{case}", public, 0, a.handleTransfer},
		{"GET", "/v1/employers/{uscc}/compliance", signedIn, 0, a.handleCompliance},
		{"GET", "/v1/checkpoints/{seq}", public, 0, a.handleCheckpoint},
		{"GET", "/v1/blocks/{hash}", signedIn, 0, a.handleBlock},
		{"GET", "/v1/events", public, 0, a.handleEvents},
		{"GET", "/v1/evidence", public, 0, a.handleEvidence},
		{"POST", "/v1/admin", signedIn, body, a.handleAdmin},
	}
	byPattern := map[string][]route{}
	var order []string
	for _, r := range rs {
		if byPattern[r.pattern] == nil {
			order = append(order, r.pattern)
		}
		byPattern[r.pattern] = append(byPattern[r.pattern], r)
	}
	for _, p := range order {
		a.mux.Handle(p, a.dispatch(byPattern[p]))
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.metrics.observe("unknown", http.StatusNotFound, 0)
		writeError(w, notFound("no route %s %s", r.Method, truncateText(r.URL.Path)))
	})
}

// dispatch serves the methods of one path pattern, with JSON errors for the others.
func (a *API) dispatch(rs []route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, rt := range rs {
			if r.Method == rt.method || (r.Method == http.MethodHead && rt.method == http.MethodGet) {
				a.serve(w, r, rt)
				return
			}
			allow = append(allow, rt.method)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed here", truncateText(r.Method)))
	})
}

// serve runs one route: body limit, authentication, the handler, errors, metrics and logs.
func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	err := a.run(sw, r, rt)
	if err != nil {
		he, internal := toHTTPError(err)
		if internal {
			a.log.Warn("request failed", "method", r.Method, "route", rt.pattern, "status", he.status, "err", err)
		}
		if sw.status == 0 {
			writeError(sw, he)
		}
	}
	a.metrics.observe(rt.pattern, sw.code(), time.Since(start))
}

func (a *API) run(w http.ResponseWriter, r *http.Request, rt route) error {
	if rt.maxBody == 0 {
		r.Body = http.MaxBytesReader(w, r.Body, 0)
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}
	var p *principal
	if rt.access != public || r.Header.Get("Authorization") != "" || r.Header.Get("Signature-Input") != "" {
		var err error
		p, err = a.authenticate(r, rt.access == public)
		if err != nil {
			return err
		}
	}
	return rt.h(w, r, p)
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.noRecover {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.Error("handler panic", "method", r.Method, "path", truncateText(r.URL.Path), "panic", v, "stack", string(debug.Stack()))
				writeError(w, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
			}
		}()
	}
	// The mux answers an unclean path with a redirect; answer it with a JSON 404 instead.
	if p := r.URL.Path; p == "" || p[0] != '/' || cleanPath(p) != p {
		writeError(w, notFound("no route %s", truncateText(p)))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Unwrap lets http.ResponseController reach the connection (flushes, write deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// metrics of the API.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "jaminan", Subsystem: "api",
			Name: "requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "jaminan", Subsystem: "api",
			Name: "request_duration_seconds", Help: "HTTP request duration by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	if d > 0 {
		m.duration.WithLabelValues(route).Observe(d.Seconds())
	}
}

// readBody reads a request body within its route's limit.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes", mbe.Limit)
		}
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "read request body: %v", err)
	}
	return b, nil
}

func (a *API) handleMetrics(w http.ResponseWriter, r *http.Request, _ *principal) error {
	promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}).ServeHTTP(w, r)
	return nil
}
