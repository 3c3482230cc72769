package ledger

import (
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

func (n *tnet) pool(prov, scheme string) int64 {
	raw, ok, _ := n.st.Get(keyPool(prov, scheme))
	if !ok {
		return 0
	}
	var v int64
	if err := decMode.Unmarshal(raw, &v); err != nil {
		n.t.Fatal(err)
	}
	return v
}

func TestRuleT1_TransferMovesExactAmount(t *testing.T) {
	n := newTnet(t)
	b44, b51 := n.bureau["44"], n.bureau["51"]
	w := worker(1)
	var months []rules.PooledMonth
	var items []rules.MonthlyAmount
	for m := 1; m <= 12; m++ {
		c := n.contribution(w, "440300", uint32(202300+m), int64(600000+m*1357))
		if got := codes(n.submit(b44, n.rec(b44, c))); got[0] != CodeOK {
			t.Fatalf("contribution %d: %v", m, n.results[len(n.results)-1].Receipts)
		}
		months = append(months, rules.PooledMonth{Period: civil.MustPeriod(2023, m), Base: c.Base, EmployerBP: 1600})
		items = append(items, rules.MonthlyAmount{Month: m, Amount: c.EmployeeAmount})
		n.advanceDays(31)
	}
	pool44 := n.pool("44", SchemePension)
	n.advanceDays(3*365 + 60) // to March 2026

	apply := n.rec(b51, &TransferApply{Worker: w, Scheme: SchemePension, From: "44", To: "51"})
	caseID := mustID(t, apply)
	// Out before the letter breaks the T4 order.
	if got := codes(n.submit(b51, apply)); got[0] != CodeOK {
		t.Fatalf("apply: %v", got)
	}
	if got := codes(n.submit(b44, n.rec(b44, &TransferOut{Case: caseID}))); got[0] != "T4" {
		t.Fatalf("out before letter: %v", got)
	}
	if got := codes(n.submit(b51, n.rec(b51, &TransferApply{Worker: w, Scheme: SchemePension, From: "44", To: "51"}))); got[0] != "T4" {
		t.Fatalf("second open case: %v", got)
	}
	n.submit(b51, n.rec(b51, &TransferLetter{Case: caseID}))
	// The wrong bureau cannot process the old place's step; a wrong declared amount is rejected.
	if got := codes(n.submit(b51, n.rec(b51, &TransferOut{Case: caseID}))); got[0] != CodeRole {
		t.Fatalf("out by new place: %v", got)
	}
	if got := codes(n.submit(b44, n.rec(b44, &TransferOut{Case: caseID, Pooled: 1}))); got[0] != "T1" {
		t.Fatalf("wrong pooled amount: %v", got)
	}

	wantPF, err := rules.PooledPart(months, civil.MustPeriod(1998, 1), 1200, false, false)
	if err != nil {
		t.Fatal(err)
	}
	// IA: 2023 contributions with 2023 interest (3.97%), then 2024 interest (2.62%) on the whole;
	// 2025 has no published rate in the default parameters, so nothing more.
	_, close23, err := rules.CloseYear(0, items, 397)
	if err != nil {
		t.Fatal(err)
	}
	ia24, _ := rules.YearInterest(close23, 0, 262)
	wantIA := close23 + ia24
	if got := codes(n.submit(b44, n.rec(b44, &TransferOut{Case: caseID, Individual: wantIA, Pooled: wantPF}))); got[0] != CodeOK {
		t.Fatalf("out with the right amounts: %v", n.results[len(n.results)-1].Receipts)
	}
	if got := n.pool("44", SchemePension); got != pool44-wantPF {
		t.Fatalf("old pool %d, want %d", got, pool44-wantPF)
	}
	n.submit(b51, n.rec(b51, &TransferIn{Case: caseID}))
	tr, _, err := GetTransfer(n.st, caseID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Stage != string(rules.StageCompleted) || tr.IA != wantIA || tr.Pooled != wantPF {
		t.Fatalf("transfer %+v", tr)
	}
	a51 := n.account(w, SchemePension, "51")
	if a51 == nil || a51.IA != wantIA || a51.Months != 12 || n.pool("51", SchemePension) != wantPF {
		t.Fatalf("new account %+v pool %d", a51, n.pool("51", SchemePension))
	}
	if a44 := n.account(w, SchemePension, "44"); a44.IA != 0 || a44.Status != StatusTransferred {
		t.Fatalf("old account %+v", a44)
	}
	// No relation is transferred twice.
	if got := codes(n.submit(b51, n.rec(b51, &TransferApply{Worker: w, Scheme: SchemePension, From: "44", To: "51"}))); got[0] != "T1" {
		t.Fatalf("second transfer of the same relation: %v", got)
	}
	if got := codes(n.submit(b44, n.rec(b44, &TransferOut{Case: caseID}))); got[0] == CodeOK {
		t.Fatalf("second out: %v", got)
	}
	if len(tr.Stages) != 4 || tr.Stages[3].Stage != "completed" {
		t.Fatalf("stages %+v", tr.Stages)
	}
}

func TestRuleT4_DeadlinesFollowWorkingDays(t *testing.T) {
	n := newTnet(t)
	b44, b51 := n.bureau["44"], n.bureau["51"]
	w := worker(2)
	n.submit(b44, n.rec(b44, n.contribution(w, "440300", 202301, 700000)))
	apply := n.rec(b51, &TransferApply{Worker: w, Scheme: SchemePension, From: "44", To: "51"})
	n.submit(b51, apply)
	tr, _, _ := GetTransfer(n.st, mustID(t, apply))
	day := dateOf(n.time, n) // the checkpoint's day
	want := rules.Calendars(nil).AddWorkingDays(day, 15).Int()
	if tr.Deadline != want || tr.Stage != "applied" {
		t.Fatalf("deadline %d, want %d (%+v)", tr.Deadline, want, tr)
	}
}

func TestRuleT2_TemporaryAccountAtFifty(t *testing.T) {
	n := newTnet(t)
	b := n.bureau["44"]
	old := n.contribution(worker(3), "440300", 202301, 800000)
	old.Birth = 19700510 // 55 in 2026, hukou 51, enrolling in 44
	young := n.contribution(worker(4), "440300", 202301, 800000)
	home := n.contribution(worker(5), "440300", 202301, 800000)
	home.Birth, home.Hukou = 19700510, "44"
	n.submit(b, n.rec(b, old), n.rec(b, young), n.rec(b, home))
	if !n.account(worker(3), SchemePension, "44").Temporary {
		t.Fatal("a man of 55 enrolling outside his hukou province should get a temporary account")
	}
	if n.account(worker(4), SchemePension, "44").Temporary || n.account(worker(5), SchemePension, "44").Temporary {
		t.Fatal("normal accounts marked temporary")
	}
}

func mustID(t testing.TB, raw []byte) Hash {
	r, _, err := DecodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID()
}
