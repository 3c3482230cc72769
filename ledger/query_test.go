package ledger

import (
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

func TestRuleT3_BenefitPlaceFromLedger(t *testing.T) {
	n := newTnet(t)
	b44, b33 := n.bureau["44"], n.bureau["33"]
	long, short := worker(1), worker(2)
	// Ten years in 44 as one evidenced back payment, then a year in 33: 44 pays (≥ 120 months).
	bp := n.contribution(long, "440300", 201301, 800000)
	bp.Through, bp.Evidence = 202212, []byte("court ruling 2022-17")
	n.submit(b44, n.rec(b44, bp))
	n.submit(b33, n.rec(b33, n.contribution(long, "330100", 202301, 800000)))
	// Five years in 44 then 33: back to the hukou province 51.
	bp2 := n.contribution(short, "440300", 201801, 800000)
	bp2.Through, bp2.Evidence = 202212, []byte("ruling")
	n.submit(b44, n.rec(b44, bp2))
	n.submit(b33, n.rec(b33, n.contribution(short, "330100", 202301, 800000)))
	day := civil.MustDate(2023, 1, 2)
	for w, want := range map[WorkerID]string{long: "44", short: "51"} {
		got, err := BenefitPlace(n.st, w, day)
		if err != nil || got != want {
			t.Fatalf("benefit place %q (%v), want %q", got, err, want)
		}
	}
	accts, err := WorkerAccounts(n.st, long)
	if err != nil || len(accts) != 2 || accts[0].Months != 120 || accts[0].Pooled == 0 {
		t.Fatalf("accounts %+v %v", accts, err)
	}
}

func TestRuleT6_UnevidencedBackPaymentStays(t *testing.T) {
	n := newTnet(t)
	b44, b51 := n.bureau["44"], n.bureau["51"]
	w := worker(3)
	bp := n.contribution(w, "440300", 201901, 800000)
	bp.Through = 202112 // 36 months, no evidence
	n.submit(b44, n.rec(b44, bp))
	n.submit(b44, n.rec(b44, n.contribution(w, "440300", 202301, 800000)))
	apply := n.rec(b51, &TransferApply{Worker: w, Scheme: SchemePension, From: "44", To: "51"})
	id := mustID(t, apply)
	n.submit(b51, apply)
	n.submit(b51, n.rec(b51, &TransferLetter{Case: id}))
	n.submit(b44, n.rec(b44, &TransferOut{Case: id}))
	tr, _, _ := GetTransfer(n.st, id)
	if tr.Stage != "partial" || tr.NoticeBy == 0 || tr.Months != 1 {
		t.Fatalf("case %+v", tr)
	}
	a := n.account(w, SchemePension, "44")
	if a.IA == 0 || a.UnevMonths != 36 {
		t.Fatalf("the unevidenced months' money should stay: %+v", a)
	}
	if got := codes(n.submit(b51, n.rec(b51, &TransferIn{Case: id}))); got[0] != CodeOK {
		t.Fatalf("completing a partial case: %v", got)
	}
	checkConservation(t, n)
}
