package browsertest

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/node/devnet"
)

//go:embed a11y.js
var a11yJS string

// The test worker, employer and what is submitted for them.
const (
	workerID     = "440305199003071236"
	gapWorkerID  = "34052419800101001X"
	employerUSCC = "91440300123456788M"
	months       = 6
)

// env is the devnet and browser shared by the tests of the package: one devnet for all keeps
// the suite fast. It is started by the first test that needs it and stopped by TestMain.
type env struct {
	d       *devnet.Devnet
	base    string // bureau 44's HTTP URL: the page under test
	token   string // bureau 44's operator token
	op44    *client.Client
	caseID  string
	browser context.Context // a chromedp context whose browser has started
	stop    func()
}

var (
	shared    env
	setupOnce sync.Once
	setupErr  error
	stopLoad  context.CancelFunc
	loadDone  = make(chan struct{})
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// chromium finds the browser (JAMINAN_CHROMIUM, else chromium on the PATH), or says why the
// tests cannot run.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("JAMINAN_SKIP_BROWSER") == "1" {
		t.Skip("JAMINAN_SKIP_BROWSER=1: browser tests skipped")
	}
	names := []string{"chromium", "chromium-browser", "/usr/bin/chromium"}
	if p := os.Getenv("JAMINAN_CHROMIUM"); p != "" {
		names = []string{p} // another build of Chromium
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `apt-get install -y chromium` (.ci/run does), or set JAMINAN_SKIP_BROWSER=1 to skip the browser tests")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile; the returned context has run once.
func newBrowser(t *testing.T, exe string) (context.Context, func(), error) {
	profile, err := os.MkdirTemp("", "jaminan-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-color-profile", "srgb"), chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	return bctx, stop, nil
}

// setup starts the devnet with a little load, submits the test worker's history, a consent, a
// transfer and a logged read, and starts the browser.
func setup(t *testing.T) *env {
	t.Helper()
	exe := chromium(t)
	setupOnce.Do(func() { setupErr = start(t, exe) })
	if setupErr != nil {
		t.Fatalf("setup: %v", setupErr)
	}
	return &shared
}

func start(t *testing.T, exe string) error {
	level := slog.LevelError
	if os.Getenv("JAMINAN_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	d, err := devnet.Start(devnet.Options{Fast: true, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	stopLoad = cancel
	go func() { defer close(loadDone); d.RunLoad(lctx, 40, 7) }()
	shared.stop = func() {
		stopLoad()
		<-loadDone
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "close devnet:", err)
		}
	}
	shared.d = d
	e44, op44, _ := d.Bureau("44")
	_, op51, _ := d.Bureau("51")
	_, op33, _ := d.Bureau("33")
	shared.base, shared.token, shared.op44 = e44.HTTP, e44.Token, op44

	ctx, cancelCtx := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelCtx()
	// The worker's last months before this one, and the employment they belong to.
	now := civil.DateOfUnixMilli(time.Now().UnixMilli(), 8*3600)
	first := now.Period().Add(-months)
	start := civil.MustDate(first.Year, first.Month, 1)
	recs := []intake.Input{{Type: "employment", WorkerID: workerID, Employer: employerUSCC, Region: "440300", Start: start.String()}}
	for i := range months {
		wage := int64(800000 + 10000*i)
		recs = append(recs, intake.Input{Type: "contribution", WorkerID: workerID, Hukou: "44", Employer: employerUSCC, Region: "440300",
			Period: first.Add(i).String(), Scheme: "pension", Wage: &wage})
	}
	// A second worker of the employer, declared employed for four months and paid for two: the
	// compliance view has a gap to show.
	second := first.Add(months - 4)
	recs = append(recs, intake.Input{Type: "employment", WorkerID: gapWorkerID, Employer: employerUSCC, Region: "440300",
		Start: civil.MustDate(second.Year, second.Month, 1).String()})
	for i := range 2 {
		wage := int64(700000)
		recs = append(recs, intake.Input{Type: "contribution", WorkerID: gapWorkerID, Hukou: "34", Employer: employerUSCC, Region: "440300",
			Period: second.Add(i).String(), Scheme: "pension", Wage: &wage})
	}
	res, err := op44.Submit(ctx, recs)
	if err != nil {
		return fmt.Errorf("submit the worker's history: %w", err)
	}
	if len(res.Rejected) > 0 || len(res.Accepted) != len(recs) {
		return fmt.Errorf("worker's history refused: %+v", res.Rejected)
	}
	var ids []string
	for _, a := range res.Accepted {
		ids = append(ids, a.ID)
	}
	if err := waitFor(ctx, "the worker's records final", func() (bool, error) {
		for _, id := range ids {
			st, err := op44.Record(ctx, id)
			if client.StatusOf(err) == 404 || (err == nil && st.Status == "pending") {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if st.Status != "final" {
				return false, fmt.Errorf("record %s: %+v", id, st)
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	if err := op44.Post(ctx, "/v1/workers/"+workerID+"/consents", map[string]string{"grantee": employerUSCC, "scope": "history"}, nil); err != nil {
		return fmt.Errorf("grant consent: %w", err)
	}
	// A read by another bureau's operator: logged in the worker's access history.
	if err := waitFor(ctx, "bureau 33 reads the account", func() (bool, error) {
		err := op33.Get(ctx, "/v1/workers/"+workerID+"/account", nil)
		return err == nil, ignore404(err)
	}); err != nil {
		return err
	}
	if shared.caseID, err = op51.ApplyTransfer(ctx, workerID, "44", "51"); err != nil {
		return fmt.Errorf("apply for a transfer: %w", err)
	}
	if err := waitFor(ctx, "the transfer completed", func() (bool, error) {
		var tr struct {
			Stage string `json:"stage"`
		}
		err := op44.Get(ctx, "/v1/transfers/"+shared.caseID, &tr)
		return err == nil && tr.Stage == "completed", ignore404(err)
	}); err != nil {
		return err
	}
	shared.browser, shared.stop, err = browserAndStop(t, exe, shared.stop)
	return err
}

func browserAndStop(t *testing.T, exe string, stopDevnet func()) (context.Context, func(), error) {
	b, stopBrowser, err := newBrowser(t, exe)
	if err != nil {
		return nil, stopDevnet, err
	}
	return b, func() { stopBrowser(); stopDevnet() }, nil
}

func ignore404(err error) error {
	if client.StatusOf(err) == 404 {
		return nil
	}
	return err
}

// waitFor polls cond every 200 ms until it holds, fails, or ctx ends.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within the time allowed: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tab opens a new tab of the shared browser at the page's view, bounded to two minutes.
func tab(t *testing.T, e *env, view string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser)
	t.Cleanup(cancel)
	tctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelT)
	// The first Run of a tab context must not carry the timeout (it would bound the tab's
	// life); the tab is created here, the timeout applies to the actions after.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	do(t, tctx, chromedp.Navigate(e.base+"/#"+view))
	return tctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is truthy (at most 30 s).
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("h1, .panel, [aria-live], [role=alert], #alarms")].filter((e) => !e.hidden).map((e) => (e.id || e.tagName) + ": " + e.textContent.slice(0, 600)).join("\n")`))
		t.Fatalf("waiting for %s: %v\npage: %s", what, err, body)
	}
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, css))
}

// setToken types the operator token into the page's token field.
func setToken(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS(`#token-form button[type=submit]`)))
	waitJS(t, ctx, "the token taken", `document.getElementById("token-state").textContent.includes("token set")`)
}

// accessible runs the accessibility check in the page and fails on any violation.
func accessible(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	if v := eval[[]string](t, ctx, a11yJS); len(v) > 0 {
		t.Errorf("%s view: accessibility check failed:\n  %s", view, strings.Join(v, "\n  "))
	}
}

// screenshot saves the viewport as <view>.png: into docs/screenshots with
// JAMINAN_SCREENSHOTS=1, else into the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := t.TempDir()
	if os.Getenv("JAMINAN_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, view+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// jsClick clicks an element by script (the page's own click handler runs as for a user).
func jsClick(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	if !eval[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true; })()`, css)) {
		t.Fatalf("no element %s to click", css)
	}
}
