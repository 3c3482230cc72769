package ledger

import (
	"slices"
	"testing"
)

func TestCorrection_ReplacesAndWithdraws(t *testing.T) {
	n := newTnet(t)
	b44 := n.bureau["44"]
	w := worker(1)
	orig := n.contribution(w, "440300", 202301, 800000)
	raw := n.rec(b44, orig)
	target := mustID(t, raw)
	n.submit(b44, raw)
	fixed := n.contribution(w, "440300", 202301, 900000)
	corr := &Correction{Target: target, Reason: ReasonWrongAmount, Replacement: encode(fixed)}
	// Another bureau may not correct it; a correction without a replacement must be a withdrawal.
	other := n.bureau["51"]
	got := codes(n.submit(other, n.rec(other, corr)))
	if got[0] != CodeRole {
		t.Fatalf("foreign correction: %v", got)
	}
	craw := n.rec(b44, corr)
	got = codes(n.submit(b44, craw, n.rec(b44, &Correction{Target: target, Reason: ReasonWithdrawn})))
	if !slices.Equal(got, []string{CodeOK, CodeCorrection}) {
		t.Fatalf("correction then second correction of the same target: %v", got)
	}
	a := n.account(w, SchemePension, "44")
	if a.IA != fixed.EmployeeAmount || a.Months != 1 {
		t.Fatalf("after correction IA %d months %d, want %d 1", a.IA, a.Months, fixed.EmployeeAmount)
	}
	// The correction itself can be withdrawn; the account is then empty.
	got = codes(n.submit(b44, n.rec(b44, &Correction{Target: mustID(t, craw), Reason: ReasonWithdrawn})))
	if got[0] != CodeOK {
		t.Fatalf("withdraw: %v", n.results[len(n.results)-1].Receipts)
	}
	if a := n.account(w, SchemePension, "44"); a.IA != 0 || a.Months != 0 || n.pool("44", SchemePension) != 0 {
		t.Fatalf("after withdrawal %+v pool %d", a, n.pool("44", SchemePension))
	}
	checkConservation(t, n)
	code, _, ok, err := RecordStatus(n.st, target)
	if err != nil || !ok || code != CodeOK {
		t.Fatalf("the original stays in history as accepted: %s %v %v", code, ok, err)
	}
}
