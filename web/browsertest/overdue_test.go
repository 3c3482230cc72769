package browsertest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
	"github.com/jaminan/jaminan/node/client"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTrackerOverdue: a transfer past its deadline shows in red, marked OVERDUE, on the
// tracker, and raises the transfer_overdue alarm on the network view. A devnet runs on the real
// clock, so this test serves the page from the real API over the in-memory ledger
// (api.MemBackend) whose clock it moves a month on.
func TestTrackerOverdue(t *testing.T) {
	exe := chromium(t)
	n := ledgertest.New(t)
	clk := &clock{t: time.Date(2026, 12, 15, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	mem, err := api.NewMemBackend(api.MemConfig{Genesis: n.Genesis, Pepper: ledgertest.Pepper, Node: n.Bureau["44"], Ministry: n.Ministry, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cfg := api.DefaultConfig()
	cfg.Backend, cfg.Token = mem, token
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op := client.New(srv.URL, token)
	var recs []intake.Input
	for _, p := range []string{"2026-09", "2026-10"} {
		wage := int64(800000)
		recs = append(recs, intake.Input{Type: "contribution", WorkerID: workerID, Hukou: "44", Employer: employerUSCC, Region: "440300",
			Period: p, Scheme: "pension", Wage: &wage})
	}
	if res, err := op.Submit(ctx, recs); err != nil || len(res.Accepted) != 2 {
		t.Fatalf("contributions: %+v %v", res, err)
	}
	// The application at the new place: authored and signed by the Sichuan bureau, carried by
	// this (Guangdong) node like any record of another author.
	apply := ledger.NewRecord(n.Bureau["51"].ID(), uint64(clk.Now().UnixMilli()),
		&ledger.TransferApply{Worker: ledger.Pseudonym(ledgertest.Pepper, workerID), Scheme: ledger.SchemePension, From: "44", To: "51"})
	apply.Sign(n.Genesis.Network, n.Bureau["51"])
	if res, err := mem.Submit(ctx, []ledger.Record{apply}); err != nil || res[0].Code != "" {
		t.Fatalf("transfer application: %+v %v", res, err)
	}
	caseID := apply.ID().String()
	var tr struct {
		Stage    string `json:"stage"`
		Deadline string `json:"deadline"`
		Overdue  bool   `json:"overdue"`
	}
	if err := op.Get(ctx, "/v1/transfers/"+caseID, &tr); err != nil || tr.Stage != "applied" || tr.Overdue {
		t.Fatalf("transfer %+v %v", tr, err)
	}
	clk.Add(30 * 24 * time.Hour)

	b, stop, err := newBrowser(t, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	bctx, cancelB := context.WithTimeout(b, 2*time.Minute)
	defer cancelB()
	do(t, bctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/#tracker"))
	do(t, bctx, chromedp.SendKeys(chromedp.CSS("#case-token"), caseID), chromedp.Click(chromedp.CSS("#tracker-form button")))
	waitJS(t, bctx, "the overdue case", `document.getElementById("tracker-overdue")`)
	if got := text(t, bctx, "#tracker-overdue"); !strings.Contains(got, "Overdue") || !strings.Contains(got, tr.Deadline) {
		t.Fatalf("overdue line %q (deadline %s)", got, tr.Deadline)
	}
	next := eval[string](t, bctx, `(() => { const li = document.querySelector("#tracker-result li.overdue"); return li ? li.dataset.stage + "|" + li.textContent + "|" + getComputedStyle(li).color : ""; })()`)
	parts := strings.Split(next, "|")
	if len(parts) != 3 || parts[0] != "letter_sent" || !strings.Contains(parts[1], "OVERDUE") || parts[2] != "rgb(163, 0, 27)" {
		t.Fatalf("the overdue stage is not shown in red: %q", next)
	}
	if c := eval[string](t, bctx, `getComputedStyle(document.getElementById("tracker-overdue")).color`); c != "rgb(163, 0, 27)" {
		t.Fatalf("overdue text colour %s", c)
	}
	accessible(t, bctx, "tracker (overdue)")
	screenshot(t, bctx, "tracker-overdue")

	// The network view raises the alarm.
	do(t, bctx, chromedp.Navigate(srv.URL+"/#network"))
	waitJS(t, bctx, "the overdue alarm", `document.querySelector('#alarms li[data-kind="transfer_overdue"]')`)
	if got := text(t, bctx, `#alarms li[data-kind="transfer_overdue"]`); !strings.Contains(got, "1 transfer case is past its stage's deadline") {
		t.Fatalf("alarm %q", got)
	}
	accessible(t, bctx, "network (alarm)")
}
