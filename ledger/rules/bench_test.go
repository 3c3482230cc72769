package rules

import (
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

var sinkFen Fen

func BenchmarkYearInterest(b *testing.B) {
	items := make([]MonthlyAmount, 12)
	for m := range items {
		items[m] = MonthlyAmount{Month: m + 1, Amount: 80000 + int64(m)}
	}
	b.ReportAllocs()
	for b.Loop() {
		w, err := Weighted(items)
		if err != nil {
			b.Fatal(err)
		}
		v, err := YearInterest(12345678, w, 397)
		if err != nil {
			b.Fatal(err)
		}
		sinkFen += v
	}
}

func BenchmarkPooledPart(b *testing.B) {
	// A 40-year career: 480 months, half of them before the start period.
	months := make([]PooledMonth, 480)
	p := civil.MustPeriod(1978, 1)
	for i := range months {
		months[i] = PooledMonth{Period: p.Add(i), Base: 400000 + int64(i), EmployerBP: 1400}
	}
	from := civil.MustPeriod(1998, 1)
	b.ReportAllocs()
	for b.Loop() {
		v, err := PooledPart(months, from, 1200, true, false)
		if err != nil {
			b.Fatal(err)
		}
		sinkFen += v
	}
}

func BenchmarkAddWorkingDays(b *testing.B) {
	cals := Calendars{cal2024, cal2025}
	from := civil.MustDate(2024, 9, 27)
	b.ReportAllocs()
	for b.Loop() {
		_ = cals.AddWorkingDays(from, 15)
	}
}
