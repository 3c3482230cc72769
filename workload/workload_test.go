package workload

import (
	"reflect"
	"testing"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// TestEveryGeneratedRecordIsValid: over 24 months of a 500-worker population, every record the
// generator makes passes intake with the default parameters, and identifiers are valid.
func TestEveryGeneratedRecordIsValid(t *testing.T) {
	g := New(7, DefaultRegions(), 500, civil.MustPeriod(2023, 1))
	conv := &intake.Converter{Params: ledger.NewParams(ledger.DefaultParams()), Pepper: []byte("p")}
	today := civil.MustDate(2026, 12, 31)
	seen := map[string]bool{}
	for _, w := range g.Workers() {
		if _, err := ids.ParseResidentID(w.ID, today); err != nil {
			t.Fatalf("worker ID %s: %v", w.ID, err)
		}
		if seen[w.ID] {
			t.Logf("duplicate ID %s (possible, rare)", w.ID)
		}
		seen[w.ID] = true
	}
	n, schemes, moves, consents, jobs := 0, map[string]int{}, 0, 0, 0
	for g.Month().Compare(civil.MustPeriod(2025, 1)) < 0 {
		for _, in := range g.Next() {
			if _, err := conv.Body(&in, today); err != nil {
				t.Fatalf("record %d %+v: %v", n, in, err)
			}
			if in.Type == "employment" {
				jobs++
			} else {
				schemes[in.Scheme]++
			}
			n++
		}
		moves += len(g.Transfers())
		for _, c := range g.Consents() {
			if c.Grantee == "" || c.Scope != "history" {
				t.Fatalf("consent %+v", c)
			}
			consents++
		}
	}
	if len(schemes) != 4 || n < 500*24*3 {
		t.Fatalf("%d records, schemes %v", n, schemes)
	}
	if moves == 0 || consents == 0 {
		t.Fatalf("in 24 months: %d moves, %d consents", moves, consents)
	}
	// Every employee starts with an employment record, and every mover of an employee with another.
	if jobs < 475 {
		t.Fatalf("%d employment records for about 475 employees", jobs)
	}
}

func TestDeterministic(t *testing.T) {
	a := New(3, DefaultRegions(), 50, civil.MustPeriod(2024, 1))
	b := New(3, DefaultRegions(), 50, civil.MustPeriod(2024, 1))
	for range 300 {
		if x, y := a.Next(), b.Next(); !reflect.DeepEqual(x, y) {
			t.Fatalf("streams differ: %+v %+v", x, y)
		}
	}
}
