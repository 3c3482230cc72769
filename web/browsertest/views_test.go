package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/web"
)

// TestA11yCheckFails: the accessibility check is able to fail: a fragment with an unlabelled
// field, an image without alt, low-contrast text, two h1 and no lang, title or landmarks gets
// each of those reported.
func TestA11yCheckFails(t *testing.T) {
	exe := chromium(t)
	b, stop, err := newBrowser(t, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	bad := `<!doctype html><html><head></head><body>
<h1>One</h1><h1>Two</h1>
<p style="color:#aaaaaa;background:#ffffff">faint text</p>
<div style="background:#222222"><span style="color:#444444">dark on dark</span></div>
<input id="q"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button></button></body></html>`
	do(t, b, chromedp.Navigate("data:text/html;base64,"+base64.StdEncoding.EncodeToString([]byte(bad))))
	got := strings.Join(eval[[]string](t, b, a11yJS), "\n")
	for _, want := range []string{"no lang", "no title", "2 visible h1", "no main landmark", "no navigation landmark",
		"form field without a label: input#q", "image without alt", `below 4.5:1 on p "faint text"`, `below 4.5:1 on span "dark on dark"`,
		"button or link without a name"} {
		if !strings.Contains(got, want) {
			t.Errorf("the check did not report %q; it reported:\n%s", want, got)
		}
	}
	// And a good fragment passes: the check is not failing everything.
	good := `<!doctype html><html lang="en"><head><title>ok</title></head><body><header><nav><a href="#x">Home</a></nav></header>
<main><h1>Fine</h1><label for="q">Query</label> <input id="q"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<p style="color:#595959">grey at 7:1</p><button>Go</button></main></body></html>`
	do(t, b, chromedp.Navigate("data:text/html;base64,"+base64.StdEncoding.EncodeToString([]byte(good))))
	if v := eval[[]string](t, b, a11yJS); len(v) != 0 {
		t.Fatalf("a good fragment fails: %v", v)
	}
}

// TestNetworkView: the final sequence shown lies between /v1/status before and after the load,
// the members are listed, and the sequence rises through the event stream without a reload.
func TestNetworkView(t *testing.T) {
	e := setup(t)
	// The status before the page loads: what the page shows cannot be older.
	before, err := e.op44.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t, e, "network")
	waitJS(t, ctx, "the network overview", `document.querySelectorAll("#members tbody tr").length > 0 && document.getElementById("net-final-seq")`)
	shown, err := strconv.ParseUint(text(t, ctx, "#net-final-seq"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	after, err := e.op44.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if shown < before.Finalized.Seq || shown > after.Finalized.Seq {
		t.Fatalf("final sequence shown %d, /v1/status %d before and %d after", shown, before.Finalized.Seq, after.Finalized.Seq)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#members tbody tr").length`); n != len(e.d.Entries) {
		t.Fatalf("%d members listed, want %d", n, len(e.d.Entries))
	}
	members := text(t, ctx, "#members")
	for _, want := range []string{"Guangdong social insurance bureau", "ministry-1", "bureau", "ministry", "this node"} {
		if !strings.Contains(members, want) {
			t.Fatalf("members table lacks %q:\n%s", want, members)
		}
	}
	if got := text(t, ctx, "#net-node"); !strings.Contains(got, "Guangdong") {
		t.Fatalf("this node shown as %q", got)
	}
	if !strings.Contains(text(t, ctx, "#alarms"), "No alarms") && eval[int](t, ctx, `document.querySelectorAll("#alarms li.critical").length`) > 0 {
		t.Fatalf("critical alarms on a healthy devnet: %s", text(t, ctx, "#alarms"))
	}
	if eval[int](t, ctx, `document.querySelectorAll("#chart-throughput svg rect").length`) == 0 {
		t.Fatal("no throughput chart")
	}
	// Live: the shown sequence rises without a reload.
	eval[bool](t, ctx, `window.__sameDocument = true`)
	live, _ := strconv.ParseUint(text(t, ctx, "#live-seq"), 10, 64)
	waitJS(t, ctx, "a new final checkpoint from /v1/events", fmt.Sprintf(`Number(document.getElementById("live-seq").textContent) > %d && document.getElementById("live-state").textContent === "live"`, live))
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Fatal("the page reloaded")
	}
	waitJS(t, ctx, "the overview refreshed", fmt.Sprintf(`Number(document.getElementById("net-final-seq").textContent) > %d`, live))
	// Every other node has been heard voting or cosigning and is connected.
	waitJS(t, ctx, "every node heard and connected", `[...document.querySelectorAll("#members tbody tr")].filter((r) => !r.classList.contains("self")).every((r) => /^\d+$/.test(r.cells[6].textContent) && r.cells[5].textContent === "yes")`)
	accessible(t, ctx, "network")
	screenshot(t, ctx, "network")
}

// TestExplorerView: checkpoints listed with their certificates, a checkpoint opened, its block
// opened with the operator token, a record's proof fetched and verified the way `jaminan
// verify` does.
func TestExplorerView(t *testing.T) {
	e := setup(t)
	ctx := tab(t, e, "explorer")
	waitJS(t, ctx, "checkpoints listed", `document.querySelectorAll("#checkpoints tbody tr").length >= 2`)
	top, _ := strconv.ParseUint(eval[string](t, ctx, `document.querySelector("#checkpoints tbody tr").dataset.seq`), 10, 64)
	st, err := e.op44.Status(ctx)
	if err != nil || top == 0 || top > st.Finalized.Seq {
		t.Fatalf("newest checkpoint listed %d, status %d (%v)", top, st.Finalized.Seq, err)
	}
	// A new checkpoint is added at the top as it becomes final.
	waitJS(t, ctx, "a live checkpoint row", fmt.Sprintf(`Number(document.querySelector("#checkpoints tbody tr").dataset.seq) > %d`, top))
	setToken(t, ctx, e.token)
	screenshot(t, ctx, "explorer")
	// Open a checkpoint that has blocks.
	seq := eval[int](t, ctx, `(() => { for (const r of document.querySelectorAll("#checkpoints tbody tr")) if (Number(r.cells[2].textContent) > 0) return Number(r.dataset.seq); return 0; })()`)
	if seq == 0 {
		t.Fatal("no listed checkpoint has blocks")
	}
	// The list grows at the top as checkpoints become final, so its rows move: click by script
	// rather than at coordinates. The panels sit above the list and stay put.
	jsClick(t, ctx, fmt.Sprintf(`#checkpoints tr[data-seq="%d"] td:last-child a:last-child`, seq))
	waitJS(t, ctx, "the checkpoint opened", fmt.Sprintf(`document.getElementById("checkpoint-title") && document.getElementById("checkpoint-title").textContent === "Checkpoint %d"`, seq))
	var cp struct {
		Hash      string `json:"hash"`
		StateRoot string `json:"state_root"`
	}
	if err := e.op44.Get(ctx, fmt.Sprintf("/v1/checkpoints/%d", seq), &cp); err != nil {
		t.Fatal(err)
	}
	if out := text(t, ctx, "#checkpoint-out"); !strings.Contains(out, cp.Hash) || !strings.Contains(out, cp.StateRoot) {
		t.Fatalf("checkpoint %d shown without its hash and state root:\n%s", seq, out)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#checkpoint-out a[data-block]`)))
	waitJS(t, ctx, "the block's records", `document.querySelectorAll("#block-out tbody tr").length > 0`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#block-out tbody tr a`)))
	waitJS(t, ctx, "the record's proof", `document.getElementById("record-status") && document.getElementById("proof-download")`)
	if s := text(t, ctx, "#record-status"); s != "final" {
		t.Fatalf("record status %q", s)
	}
	// The proof the page offers verifies as `jaminan verify` checks it.
	id := eval[string](t, ctx, `document.getElementById("record-id").value`)
	var proof struct {
		Encoded string `json:"encoded"`
	}
	if err := e.op44.Get(ctx, "/v1/records/"+id+"/proof", &proof); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(proof.Encoded)
	p, err := ledger.DecodeRecordProof(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Verify(e.d.Genesis); err != nil {
		t.Fatalf("the record's proof does not verify: %v", err)
	}
	// A malformed ID gets a clear message.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#record-id"), "not-an-id"), chromedp.Click(chromedp.CSS(`#record-form button`)))
	waitJS(t, ctx, "the malformed ID message", `document.getElementById("record-out").textContent.includes("64 hexadecimal")`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#record-id"), id), chromedp.Click(chromedp.CSS(`#record-form button`)))
	waitJS(t, ctx, "the record again", `document.getElementById("record-status")`)
	accessible(t, ctx, "explorer")
	screenshot(t, ctx, "explorer-record")
}

// TestTrackerView: the public tracker shows the stages of the case the test created, no
// personal data, and clear messages for an unknown or malformed token; it needs no token.
func TestTrackerView(t *testing.T) {
	e := setup(t)
	ctx := tab(t, e, "tracker")
	if eval[string](t, ctx, `sessionStorage.getItem("jaminan.operatorToken") || ""`) != "" {
		t.Fatal("a new tab has a token")
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#case-token"), strings.Repeat("0", 64)), chromedp.Click(chromedp.CSS("#tracker-form button")))
	waitJS(t, ctx, "the unknown-case message", `document.getElementById("tracker-error") && document.getElementById("tracker-error").textContent.includes("No transfer case")`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#case-token"), "12345"), chromedp.Click(chromedp.CSS("#tracker-form button")))
	waitJS(t, ctx, "the malformed-token message", `document.getElementById("tracker-error") && document.getElementById("tracker-error").textContent.includes("64 hexadecimal")`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#case-token"), e.caseID), chromedp.Click(chromedp.CSS("#tracker-form button")))
	waitJS(t, ctx, "the case", `document.getElementById("tracker-result")`)
	var tr struct {
		Stage  string `json:"stage"`
		Stages []struct {
			Stage string  `json:"stage"`
			At    *string `json:"at"`
		} `json:"stages"`
	}
	if err := client.New(e.base, "").Get(ctx, "/v1/transfers/"+e.caseID, &tr); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#tracker-stage"); got != tr.Stage {
		t.Fatalf("stage shown %q, API %q", got, tr.Stage)
	}
	done := eval[[]string](t, ctx, `[...document.querySelectorAll("#tracker-result li.done")].map((li) => li.dataset.stage + " " + li.textContent)`)
	if len(done) != len(tr.Stages) || len(done) < 4 {
		t.Fatalf("stages shown %q, API %+v", done, tr.Stages)
	}
	for i, s := range tr.Stages {
		if !strings.HasPrefix(done[i], s.Stage+" ") || s.At == nil || !strings.Contains(done[i], *s.At) {
			t.Fatalf("stage %d shown %q, API %s at %v", i, done[i], s.Stage, s.At)
		}
	}
	page := text(t, ctx, "main")
	pseudonym := ledger.Pseudonym(e.d.Pepper, workerID).String()
	for _, personal := range []string{workerID, pseudonym, pseudonym[:12], employerUSCC} {
		if strings.Contains(page, personal) {
			t.Fatalf("the public tracker shows personal data %q", personal)
		}
	}
	if strings.Contains(text(t, ctx, "#tracker-result"), "OVERDUE") {
		t.Fatal("a completed transfer shown overdue")
	}
	accessible(t, ctx, "tracker")
	screenshot(t, ctx, "tracker")
}

// TestStatementView: the operator's statement lists the contributions submitted, the
// transfer, the consent and the logged read; its QR codes carry the statement, which verifies
// as `jaminan verify` verifies it; the ID number is never in the address or in storage; the
// print style hides everything but the statement.
func TestStatementView(t *testing.T) {
	e := setup(t)
	ctx := tab(t, e, "statement")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#worker-id"), workerID), chromedp.Click(chromedp.CSS(`#statement-form button[type=submit]`)))
	waitJS(t, ctx, "the no-token message", `document.getElementById("statement-out").textContent.includes("operator token")`)
	setToken(t, ctx, e.token)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#statement-form button[type=submit]`)))
	waitJS(t, ctx, "the statement", `document.getElementById("qr-codes") && !document.getElementById("statement-print").disabled`)
	st := text(t, ctx, "#statement")
	for _, want := range []string{"Guangdong (44)", "Sichuan (51)", "completed", "consent to " + employerUSCC, "account", employerUSCC} {
		if !strings.Contains(st, want) {
			t.Fatalf("statement lacks %q:\n%.3000s", want, st)
		}
	}
	rows := eval[int](t, ctx, `[...document.querySelectorAll("#statement table")].find((t) => t.caption.textContent === "Contributions by month").tBodies[0].rows.length`)
	if rows != months {
		t.Fatalf("%d contribution rows, want %d", rows, months)
	}
	// The QR codes: each image is the rendering of its payload, and the payloads joined give a
	// statement that verifies against the genesis.
	type code struct {
		Src     string `json:"src"`
		Payload string `json:"payload"`
		Alt     string `json:"alt"`
	}
	codes := eval[[]code](t, ctx, `[...document.querySelectorAll("#qr-codes img")].map((i) => ({src: i.src, payload: i.dataset.payload, alt: i.alt}))`)
	if len(codes) == 0 {
		t.Fatal("no QR code")
	}
	var all []string
	for i, c := range codes {
		png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Src, "data:image/png;base64,"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := web.QRPNG(c.Payload)
		if err != nil || !bytes.Equal(png, want) {
			t.Fatalf("QR code %d is not the rendering of its payload (%v)", i+1, err)
		}
		if c.Alt != fmt.Sprintf("Statement proof, QR code %d of %d", i+1, len(codes)) {
			t.Fatalf("alt %q", c.Alt)
		}
		all = append(all, c.Payload)
	}
	raw, err := web.JoinQR(strings.Join(all, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := ledger.DecodeStatement(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := stmt.Verify(e.d.Genesis)
	if err != nil {
		t.Fatalf("the QR codes' statement does not verify: %v", err)
	}
	if sum.Regions["44"].Months != months || sum.Worker != ledger.Pseudonym(e.d.Pepper, workerID) {
		t.Fatalf("verified summary %+v", sum)
	}
	t.Logf("statement of %d records, %d bytes, in %d QR codes (%d payload characters)", sum.Records, len(raw), len(codes), len(strings.Join(all, "")))
	// Personal data stays out of the address and out of storage.
	loc := eval[string](t, ctx, `location.href`)
	storage := eval[string](t, ctx, `JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)
	if strings.Contains(loc, workerID) || strings.Contains(storage, workerID) || eval[int](t, ctx, `localStorage.length`) != 0 {
		t.Fatalf("the ID number leaked: location %q, storage %q", loc, storage)
	}
	accessible(t, ctx, "statement")
	screenshot(t, ctx, "statement")
	// Printing shows the statement only.
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if eval[string](t, ctx, `getComputedStyle(document.querySelector("header.top")).display`) != "none" ||
		eval[string](t, ctx, `getComputedStyle(document.getElementById("statement-form")).display`) != "none" ||
		eval[string](t, ctx, `getComputedStyle(document.getElementById("statement")).display`) == "none" {
		t.Fatal("the print style does not show the statement alone")
	}
	if os.Getenv("JAMINAN_SCREENSHOTS") == "1" {
		screenshot(t, ctx, "statement-print")
	}
}

// TestComplianceView: the employer's declared and paid months as the API computes them, and a
// clear message for a malformed code.
func TestComplianceView(t *testing.T) {
	e := setup(t)
	ctx := tab(t, e, "compliance")
	setToken(t, ctx, e.token)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#uscc"), "123"), chromedp.Click(chromedp.CSS("#compliance-form button")))
	waitJS(t, ctx, "the malformed-code message", `document.getElementById("compliance-out").textContent.includes("18 letters and digits")`)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#uscc"), employerUSCC), chromedp.Click(chromedp.CSS("#compliance-form button")))
	waitJS(t, ctx, "the compliance result", `document.getElementById("compliance-result")`)
	var c struct {
		Workers        int `json:"workers"`
		MonthsDeclared int `json:"months_declared"`
		MonthsPaid     int `json:"months_paid"`
		Gaps           []struct {
			Worker string `json:"worker"`
			From   string `json:"from"`
			To     string `json:"to"`
			Months int    `json:"months"`
		} `json:"gaps"`
	}
	if err := e.op44.Get(ctx, "/v1/employers/"+employerUSCC+"/compliance", &c); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int{"#comp-workers": c.Workers, "#comp-declared": c.MonthsDeclared, "#comp-paid": c.MonthsPaid} {
		if got := text(t, ctx, id); got != strconv.Itoa(want) {
			t.Fatalf("%s shows %q, API %d", id, got, want)
		}
	}
	if c.MonthsPaid < months+2 || c.Workers < 2 || len(c.Gaps) == 0 {
		t.Fatalf("compliance %+v: want both workers' months and the second one's gap", c)
	}
	gaps := eval[[]string](t, ctx, `[...document.querySelectorAll("#compliance-result tbody tr.overdue")].map((r) => [...r.cells].map((c) => c.textContent).join(" "))`)
	if len(gaps) != len(c.Gaps) {
		t.Fatalf("gaps shown %q, API %+v", gaps, c.Gaps)
	}
	for i, g := range c.Gaps {
		if want := fmt.Sprintf("%s… %s %s %d", g.Worker[:16], g.From, g.To, g.Months); gaps[i] != want {
			t.Fatalf("gap %d shown %q, want %q", i, gaps[i], want)
		}
	}
	accessible(t, ctx, "compliance")
	screenshot(t, ctx, "compliance")
}
