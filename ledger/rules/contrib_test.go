package rules

import (
	"errors"
	"math"
	"testing"
)

const yuan = 100 // fen per yuan, for readable test vectors

func TestRoundDiv(t *testing.T) {
	cases := []struct{ num, den, want int64 }{
		{0, 7, 0},
		{4, 10, 0}, {5, 10, 1}, {6, 10, 1}, {15, 10, 2}, {14, 10, 1},
		{-4, 10, 0}, {-5, 10, -1}, {-6, 10, -1}, {-15, 10, -2}, {-14, 10, -1},
		{1, 3, 0}, {2, 3, 1}, {-2, 3, -1},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64, 1, math.MinInt64},
		{math.MaxInt64, 2, 1 << 62}, // 2^62 − ½ rounds up
		{math.MinInt64, 2, -(1 << 62)},
		{math.MaxInt64, math.MaxInt64, 1},
		{math.MinInt64, math.MaxInt64, -1},
		{math.MaxInt64 / 2, math.MaxInt64, 0},       // just under ½
		{math.MaxInt64/2 + 1, math.MaxInt64, 1},     // just over ½
		{-(math.MaxInt64/2 + 1), math.MaxInt64, -1}, // symmetric
	}
	for _, c := range cases {
		if got := RoundDiv(c.num, c.den); got != c.want {
			t.Errorf("RoundDiv(%d, %d) = %d, want %d", c.num, c.den, got, c.want)
		}
	}
	for _, den := range []int64{0, -1, math.MinInt64} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RoundDiv(1, %d) did not panic", den)
				}
			}()
			RoundDiv(1, den)
		}()
	}
}

func TestMulDivRound(t *testing.T) {
	cases := []struct {
		a, b, den, want int64
		err             error
	}{
		{1000000, 1600, 10000, 160000, nil},
		{3, 5000, 10000, 2, nil},   // 1.5 → 2
		{-3, 5000, 10000, -2, nil}, // −1.5 → −2
		{3, -5000, 10000, -2, nil},
		{-3, -5000, 10000, 2, nil},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, nil},
		{math.MinInt64, math.MinInt64, math.MinInt64 + 1, 0, ErrInvalidParam},
		{math.MinInt64, math.MaxInt64, math.MaxInt64, math.MinInt64, nil},
		{math.MinInt64, 1, 1, math.MinInt64, nil},
		{math.MinInt64, -1, 1, 0, ErrOverflow},
		{math.MaxInt64, 2, 1, 0, ErrOverflow},
		{math.MaxInt64, 2, 2, math.MaxInt64, nil},
		{math.MaxInt64, math.MaxInt64, 1, 0, ErrOverflow},
		{1, 1, 0, 0, ErrInvalidParam},
		{1, 1, -5, 0, ErrInvalidParam},
	}
	for _, c := range cases {
		got, err := MulDivRound(c.a, c.b, c.den)
		if !errors.Is(err, c.err) || (c.err != nil) != (err != nil) {
			t.Errorf("MulDivRound(%d, %d, %d) error = %v, want %v", c.a, c.b, c.den, err, c.err)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("MulDivRound(%d, %d, %d) = %d, want %d", c.a, c.b, c.den, got, c.want)
		}
	}
}

func TestRuleC1_Base(t *testing.T) {
	l, err := Limits(7000*yuan, 60, 300)
	if err != nil {
		t.Fatal(err)
	}
	if l != (BaseLimits{Floor: 4200 * yuan, Ceiling: 21000 * yuan}) {
		t.Fatalf("Limits(7,000 yuan) = %+v", l)
	}
	for _, c := range []struct{ wage, want Fen }{
		{3000 * yuan, 4200 * yuan},
		{10000 * yuan, 10000 * yuan},
		{30000 * yuan, 21000 * yuan},
		{4200 * yuan, 4200 * yuan},
		{21000 * yuan, 21000 * yuan},
		{0, 4200 * yuan},
		{4200*yuan + 1, 4200*yuan + 1}, // the base itself is not rounded, only the limits
	} {
		if got := Base(c.wage, l); got != c.want {
			t.Errorf("Base(%d) = %d, want %d", c.wage, got, c.want)
		}
	}

	// Average 7,123 yuan: 60% = 4,273.80 → floor 4,274 yuan.
	l, err = Limits(7123*yuan, 60, 300)
	if err != nil {
		t.Fatal(err)
	}
	if l.Floor != 4274*yuan || l.Ceiling != 21369*yuan {
		t.Errorf("Limits(7,123 yuan) = %+v, want floor 427400 ceiling 2136900", l)
	}
	// Average 7,123.45 yuan: 4,274.07 → 4,275; 21,370.35 → 21,371 (up, never down).
	l, err = Limits(712345, 60, 300)
	if err != nil {
		t.Fatal(err)
	}
	if l.Floor != 4275*yuan || l.Ceiling != 21371*yuan {
		t.Errorf("Limits(7,123.45 yuan) = %+v", l)
	}
	// Exactly whole yuan stays.
	if l, _ := Limits(10000*yuan, 60, 300); l.Floor != 6000*yuan || l.Ceiling != 30000*yuan {
		t.Errorf("Limits(10,000 yuan) = %+v", l)
	}
	// Rounding is on the exact value: 1 fen × 60% = 0.006 yuan → 1 yuan.
	if l, _ := Limits(1, 60, 300); l.Floor != 100 || l.Ceiling != 100 {
		t.Errorf("Limits(1 fen) = %+v", l)
	}

	for _, c := range []struct {
		avg        Fen
		floor, cap int64
		err        error
	}{
		{0, 60, 300, ErrInvalidParam},
		{-1, 60, 300, ErrInvalidParam},
		{7000 * yuan, 300, 60, ErrInvalidParam},
		{7000 * yuan, -1, 300, ErrInvalidParam},
		{7000 * yuan, 0, 0, ErrInvalidParam},
		{math.MaxInt64, 60, 300, ErrOverflow},
	} {
		if _, err := Limits(c.avg, c.floor, c.cap); !errors.Is(err, c.err) {
			t.Errorf("Limits(%d, %d, %d) error = %v, want %v", c.avg, c.floor, c.cap, err, c.err)
		}
	}

	// Flexible workers: the declared base must already be in range, limits inclusive.
	l, _ = Limits(7000*yuan, 60, 300)
	for _, c := range []struct {
		base Fen
		ok   bool
	}{
		{4200 * yuan, true}, {21000 * yuan, true}, {10000 * yuan, true},
		{4200*yuan - 1, false}, {21000*yuan + 1, false}, {0, false},
	} {
		err := CheckDeclaredBase(c.base, l)
		if c.ok && err != nil {
			t.Errorf("CheckDeclaredBase(%d) = %v, want nil", c.base, err)
		}
		if !c.ok && !errors.Is(err, ErrBaseOutOfRange) {
			t.Errorf("CheckDeclaredBase(%d) = %v, want ErrBaseOutOfRange", c.base, err)
		}
	}
}

func TestRuleC2_PensionSplit(t *testing.T) {
	base := Fen(10000 * yuan)
	for _, c := range []struct {
		name string
		bp   int64
		want Fen
	}{
		{"employer pension 16%", 1600, 1600 * yuan},
		{"employee pension 8%", 800, 800 * yuan},
		{"employee medical 2%", 200, 200 * yuan},
		{"zero rate", 0, 0},
		{"whole", 10000, base},
	} {
		got, err := Share(base, c.bp)
		if err != nil || got != c.want {
			t.Errorf("%s: Share = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	for _, c := range []struct {
		base Fen
		bp   int64
		want Fen
	}{
		{12345, 800, 988},    // 987.6
		{12345, 200, 247},    // 246.9
		{1, 5000, 1},         // 0.5 → 1 (half-up)
		{3, 5000, 2},         // 1.5 → 2
		{1, 4999, 0},         // 0.4999
		{427400, 831, 35517}, // 35,516.94
	} {
		if got, err := Share(c.base, c.bp); err != nil || got != c.want {
			t.Errorf("Share(%d, %d) = %d, %v; want %d", c.base, c.bp, got, err, c.want)
		}
	}
	if _, err := Share(-1, 800); !errors.Is(err, ErrNegative) {
		t.Errorf("negative base: %v", err)
	}
	for _, bp := range []int64{-1, 10001} {
		if _, err := Share(100, bp); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("rate %d: %v", bp, err)
		}
	}
	if _, err := Share(math.MaxInt64, 10000); err != nil {
		t.Errorf("Share(MaxInt64, 100%%) = %v", err)
	}

	// The ledger recomputes the amounts and rejects a mismatch.
	if err := CheckShare(base, 800, 800*yuan); err != nil {
		t.Errorf("CheckShare exact: %v", err)
	}
	if err := CheckShare(base, 800, 800*yuan+1); !errors.Is(err, ErrShareMismatch) {
		t.Errorf("CheckShare off by one fen: %v", err)
	}
	if err := CheckShare(base, 20000, 0); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("CheckShare bad rate: %v", err)
	}
}

func TestRuleC3_Interest(t *testing.T) {
	// Month convention: months remaining after the contribution month.
	for m, want := range map[int]int64{1: 11, 6: 6, 11: 1, 12: 0} {
		if got := Weight(m); got != want {
			t.Errorf("Weight(%d) = %d, want %d", m, got, want)
		}
	}
	for _, m := range []int{0, 13, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Weight(%d) did not panic", m)
				}
			}()
			Weight(m)
		}()
	}

	// Opening 10,000.00 at 2023's 3.97%, no contributions: 397.00.
	if got, err := YearInterest(10000*yuan, 0, 397); err != nil || got != 397*yuan {
		t.Errorf("opening only: %d, %v", got, err)
	}

	// Opening 10,000.00 and 800.00 every month at 3.97%:
	// opening 397.00; contributions 800 × (11+10+…+0)/12 = 4,400.00 × 3.97% = 174.68; total 571.68.
	var monthly []MonthlyAmount
	for m := 1; m <= 12; m++ {
		monthly = append(monthly, MonthlyAmount{Month: m, Amount: 800 * yuan})
	}
	w, err := Weighted(monthly)
	if err != nil || w != 800*yuan*66 {
		t.Fatalf("Weighted = %d, %v", w, err)
	}
	if got, err := YearInterest(10000*yuan, w, 397); err != nil || got != 57168 {
		t.Errorf("monthly contributions: %d, %v; want 57168", got, err)
	}
	interest, closing, err := CloseYear(10000*yuan, monthly, 397)
	if err != nil || interest != 57168 || closing != 1000000+960000+57168 {
		t.Errorf("CloseYear = %d, %d, %v", interest, closing, err)
	}

	// 2016's 8.31% on 123,456.78: 10,259.258418 → 10,259.26.
	if got, _ := YearInterest(12345678, 0, 831); got != 1025926 {
		t.Errorf("8.31%% on 123,456.78 = %d, want 1025926", got)
	}
	// A December contribution earns nothing in its year.
	if w, _ := Weighted([]MonthlyAmount{{12, 5000 * yuan}}); w != 0 {
		t.Errorf("December weight: %d", w)
	}
	// 2019's 7.61%: 1,000.00 in March earns 1,000 × 9/12 × 7.61% = 57.075 → 57.08.
	w, _ = Weighted([]MonthlyAmount{{3, 1000 * yuan}})
	if got, _ := YearInterest(0, w, 761); got != 5708 {
		t.Errorf("March 1,000 at 7.61%% = %d, want 5708", got)
	}
	// Rounding once: twelve 1.00 contributions at 6.12%: exact Σ = 100×66×612/120000 = 33.66 fen →
	// 34, while rounding each month (5.61→6, 5.1→5, …) would give a different total.
	w, _ = Weighted([]MonthlyAmount{{1, 100}, {2, 100}, {3, 100}, {4, 100}, {5, 100}, {6, 100},
		{7, 100}, {8, 100}, {9, 100}, {10, 100}, {11, 100}, {12, 100}})
	if got, _ := YearInterest(0, w, 612); got != 34 {
		t.Errorf("rounding once: %d, want 34", got)
	}
	perMonth := int64(0)
	for m := 1; m <= 12; m++ {
		perMonth += RoundDiv(100*Weight(m)*612, 120000)
	}
	if perMonth == 34 {
		t.Errorf("test vector does not exercise rounding once (per-month total %d)", perMonth)
	}
	// Exactly half a fen rounds up, symmetrically for a negative adjustment (T5 refund).
	if got, _ := YearInterest(0, 600, 100); got != 1 {
		t.Errorf("half fen: %d", got)
	}
	if got, _ := YearInterest(0, -600, 100); got != -1 {
		t.Errorf("negative half fen: %d", got)
	}
	if got, _ := YearInterest(0, 599, 100); got != 0 {
		t.Errorf("just under half: %d", got)
	}
	// A refund in the year reduces the interest.
	w, _ = Weighted([]MonthlyAmount{{1, 1200 * yuan}, {7, -600 * yuan}})
	if w != 1200*yuan*11-600*yuan*5 {
		t.Errorf("weighted with refund: %d", w)
	}

	// Errors.
	if _, err := Weighted([]MonthlyAmount{{13, 1}}); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("month 13: %v", err)
	}
	if _, err := Weighted([]MonthlyAmount{{1, math.MaxInt64}}); !errors.Is(err, ErrOverflow) {
		t.Errorf("weighted overflow: %v", err)
	}
	if _, err := YearInterest(0, 0, -1); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("negative rate: %v", err)
	}
	// opening × 12 overflows int64 but the result does not: still exact.
	if got, err := YearInterest(math.MaxInt64/2, 0, 100); err != nil || got != RoundDiv(math.MaxInt64/2, 100) {
		t.Errorf("large opening: %d, %v", got, err)
	}
	if _, err := YearInterest(math.MaxInt64, math.MaxInt64, 10000); !errors.Is(err, ErrOverflow) {
		t.Errorf("interest overflow: %v", err)
	}
	if _, _, err := CloseYear(math.MaxInt64, []MonthlyAmount{{12, 1}}, 0); !errors.Is(err, ErrOverflow) {
		t.Errorf("closing overflow: %v", err)
	}
}
