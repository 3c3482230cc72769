package rules

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

var start1998 = civil.MustPeriod(1998, 1)

// span returns one PooledMonth per month from first to last inclusive.
func span(first, last string, base Fen, employerBP int64) []PooledMonth {
	p, err := civil.ParsePeriod(first)
	if err != nil {
		panic(err)
	}
	q, err := civil.ParsePeriod(last)
	if err != nil {
		panic(err)
	}
	var out []PooledMonth
	for ; p.Compare(q) <= 0; p = p.Add(1) {
		out = append(out, PooledMonth{Period: p, Base: base, EmployerBP: employerBP})
	}
	return out
}

func TestRuleT1_PooledPart(t *testing.T) {
	cases := []struct {
		name                  string
		months                []PooledMonth
		temporary, individual bool
		want                  Fen
	}{
		{"DOMAIN: 12 × 4,000 + 6 × 4,500 normal",
			append(span("2018-07", "2019-06", 4000*yuan, 1600), span("2019-07", "2019-12", 4500*yuan, 1600)...),
			false, false, 9000 * yuan},
		{"DOMAIN: only 1998-01 on counts",
			span("1997-07", "1998-06", 1000*yuan, 2000), false, false, 720 * yuan},
		{"DOMAIN: temporary, employer 14%",
			span("2020-01", "2020-10", 5000*yuan, 1400), true, false, 7000 * yuan},
		{"DOMAIN: temporary, employer 10% → 12%",
			span("2020-01", "2020-10", 5000*yuan, 1000), true, false, 6000 * yuan},
		{"individual: always 12% even if temporary",
			span("2020-01", "2020-10", 5000*yuan, 1400), true, true, 6000 * yuan},
		{"normal account ignores the employer rate",
			span("2020-01", "2020-10", 5000*yuan, 1600), false, false, 6000 * yuan},
		{"nothing before the start", span("1990-01", "1997-12", 1000*yuan, 1200), false, false, 0},
		{"no months", nil, false, false, 0},
		// Rounding once: 10 × 1,234.56 × 12% = 1,481.472 → 1,481.47; per month 148.15 × 10 = 1,481.50.
		{"round once (down)", span("2021-01", "2021-10", 123456, 1600), false, false, 148147},
		// 3 × 1.04 × 12% = 0.3744 yuan = 37.44 fen → 37; per month 12.48 → 12 × 3 = 36.
		{"round once (up)", span("2021-01", "2021-03", 104, 1600), false, false, 37},
		// 2 × 1.00 × 14.5% = 29 fen exactly; per month 14.5 → 15 × 2 = 30.
		{"round once (halves)", span("2021-01", "2021-02", 100, 1450), true, false, 29},
		// 1 × 1.00 × 14.5% = 14.5 fen → 15 (half-up).
		{"half-up", span("2021-01", "2021-01", 100, 1450), true, false, 15},
		// Temporary: the employer rate may change month by month.
		{"temporary mixed rates",
			append(span("2020-01", "2020-06", 5000*yuan, 1400), span("2020-07", "2020-12", 5000*yuan, 1000)...),
			true, false, 6*700*yuan + 6*600*yuan},
	}
	for _, c := range cases {
		got, err := PooledPart(c.months, start1998, 1200, c.temporary, c.individual)
		if err != nil || got != c.want {
			t.Errorf("%s: PooledPart = %d, %v; want %d", c.name, got, err, c.want)
		}
		num, err := PooledNumerator(c.months, start1998, 1200, c.temporary, c.individual)
		if err != nil || PooledFromNumerator(num) != c.want {
			t.Errorf("%s: PooledNumerator = %d, %v", c.name, num, err)
		}
		// Order does not matter.
		rev := slices.Clone(c.months)
		slices.Reverse(rev)
		if got, _ := PooledPart(rev, start1998, 1200, c.temporary, c.individual); got != c.want {
			t.Errorf("%s: reversed input gives %d", c.name, got)
		}
	}

	// The start period is a parameter.
	if got, _ := PooledPart(span("1997-07", "1998-06", 1000*yuan, 0), civil.MustPeriod(1997, 10), 1200, false, false); got != 9*120*yuan {
		t.Errorf("start 1997-10: %d", got)
	}

	// Rate choice.
	for _, c := range []struct {
		emp                   int64
		temporary, individual bool
		want                  int64
	}{
		{1600, false, false, 1200}, {1600, true, false, 1600}, {1000, true, false, 1200},
		{1600, true, true, 1200}, {1600, false, true, 1200},
	} {
		if got := PooledRateBP(c.emp, 1200, c.temporary, c.individual); got != c.want {
			t.Errorf("PooledRateBP(%d, temp=%v, indiv=%v) = %d", c.emp, c.temporary, c.individual, got)
		}
	}

	// Errors.
	bad := []struct {
		name   string
		months []PooledMonth
		from   civil.Period
		pf     int64
		err    error
	}{
		{"negative base", []PooledMonth{{civil.MustPeriod(2020, 1), -1, 1600}}, start1998, 1200, ErrNegative},
		{"invalid period", []PooledMonth{{civil.Period{}, 100, 1600}}, start1998, 1200, ErrInvalidParam},
		{"invalid start", nil, civil.Period{}, 1200, ErrInvalidParam},
		{"bad pf rate", nil, start1998, 10001, ErrInvalidParam},
		{"bad employer rate", []PooledMonth{{civil.MustPeriod(2020, 1), 100, -5}}, start1998, 1200, ErrInvalidParam},
		{"overflow", []PooledMonth{{civil.MustPeriod(2020, 1), math.MaxInt64, 10000},
			{civil.MustPeriod(2020, 2), math.MaxInt64, 10000}}, start1998, 10000, ErrOverflow},
	}
	for _, c := range bad {
		if _, err := PooledPart(c.months, c.from, c.pf, true, false); !errors.Is(err, c.err) {
			t.Errorf("%s: PooledPart error %v, want %v", c.name, err, c.err)
		}
	}
	// A numerator that overflows int64 still gives an exact PooledPart when the result fits.
	big := []PooledMonth{{civil.MustPeriod(2020, 1), math.MaxInt64 / 2, 10000}}
	if got, err := PooledPart(big, start1998, 10000, false, false); err != nil || got != math.MaxInt64/2 {
		t.Errorf("large base: %d, %v", got, err)
	}
	if _, err := PooledNumerator(big, start1998, 10000, false, false); !errors.Is(err, ErrOverflow) {
		t.Errorf("PooledNumerator overflow: %v", err)
	}

	// Transfer amount = IA balance + pooled part, checked.
	if got, err := TransferAmount(12345678, 900000); err != nil || got != 13245678 {
		t.Errorf("TransferAmount = %d, %v", got, err)
	}
	if _, err := TransferAmount(math.MaxInt64, 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("TransferAmount overflow: %v", err)
	}
	if _, err := TransferAmount(-1, 1); !errors.Is(err, ErrNegative) {
		t.Errorf("TransferAmount negative: %v", err)
	}
}

func TestRuleT2_TemporaryAccount(t *testing.T) {
	rule := TemporaryRule{MenAge: 50, WomenAge: 40}
	d := civil.MustDate
	cases := []struct {
		name            string
		hukou, province string
		birth           civil.Date
		male            bool
		enrol           civil.Date
		approved        bool
		want            bool
	}{
		{"DOMAIN: man, day before 50th birthday", "51", "44", d(1970, 5, 10), true, d(2020, 5, 9), false, false},
		{"DOMAIN: man, on 50th birthday", "51", "44", d(1970, 5, 10), true, d(2020, 5, 10), false, true},
		{"man well over 50", "51", "44", d(1960, 1, 1), true, d(2020, 5, 10), false, true},
		{"man of 45", "51", "44", d(1975, 1, 1), true, d(2020, 5, 10), false, false},
		{"woman, day before 40th birthday", "51", "44", d(1980, 3, 15), false, d(2020, 3, 14), false, false},
		{"woman, on 40th birthday", "51", "44", d(1980, 3, 15), false, d(2020, 3, 15), false, true},
		{"woman of 45 (the men's age does not apply)", "51", "44", d(1975, 1, 1), false, d(2020, 5, 10), false, true},
		{"back in the hukou province", "51", "51", d(1960, 1, 1), true, d(2020, 5, 10), false, false},
		{"approved transfer", "51", "44", d(1960, 1, 1), true, d(2020, 5, 10), true, false},
		{"29 Feb, leap year, day before", "41", "44", d(1976, 2, 29), false, d(2016, 2, 28), false, false},
		{"29 Feb, leap year, birthday", "41", "44", d(1976, 2, 29), false, d(2016, 2, 29), false, true},
		{"man born 29 Feb, 28 Feb of non-leap 50th year", "41", "44", d(1972, 2, 29), true, d(2022, 2, 28), false, false},
		{"man born 29 Feb, 1 Mar of non-leap 50th year", "41", "44", d(1972, 2, 29), true, d(2022, 3, 1), false, true},
	}
	for _, c := range cases {
		got := IsTemporary(rule, c.hukou, c.province, c.birth, c.male, c.enrol, c.approved)
		if got != c.want {
			t.Errorf("%s: IsTemporary = %v, want %v", c.name, got, c.want)
		}
	}
	// The thresholds are parameters.
	if IsTemporary(TemporaryRule{MenAge: 55, WomenAge: 45}, "51", "44", d(1970, 5, 10), true, d(2020, 5, 10), false) {
		t.Error("threshold 55: a man of 50 is not temporary")
	}

	ages := []struct {
		birth, on civil.Date
		want      int
	}{
		{d(1970, 5, 10), d(2020, 5, 9), 49},
		{d(1970, 5, 10), d(2020, 5, 10), 50},
		{d(1970, 5, 10), d(2020, 5, 11), 50},
		{d(1970, 5, 10), d(1970, 5, 10), 0},
		{d(1970, 5, 10), d(1970, 5, 9), -1},
		{d(1970, 12, 31), d(2021, 1, 1), 50},
		// Born 29 Feb: birthday on 1 March in non-leap years, on 29 Feb in leap years.
		{d(1976, 2, 29), d(2017, 2, 28), 40},
		{d(1976, 2, 29), d(2017, 3, 1), 41},
		{d(1976, 2, 29), d(2016, 2, 28), 39},
		{d(1976, 2, 29), d(2016, 2, 29), 40},
		{d(1976, 2, 29), d(2100, 2, 28), 123}, // 2100 is not a leap year
		{d(1976, 2, 29), d(2100, 3, 1), 124},
		{d(1880, 1, 1), d(2024, 1, 1), 144},
	}
	for _, c := range ages {
		if got := AgeOn(c.birth, c.on); got != c.want {
			t.Errorf("AgeOn(%v, %v) = %d, want %d", c.birth, c.on, got, c.want)
		}
	}
}

func TestRuleT3_BenefitPlace(t *testing.T) {
	y := func(p string, years int) Stint { return Stint{Province: p, Months: years * 12} }
	tmp := func(p string, years int) Stint { return Stint{Province: p, Months: years * 12, Temporary: true} }
	cases := []struct {
		name   string
		stints []Stint
		want   string
	}{
		{"DOMAIN: last place is hukou", []Stint{y("44", 6), y("51", 3)}, "51"},
		{"DOMAIN: last place has ≥ 10 years", []Stint{y("51", 2), y("44", 12)}, "44"},
		{"DOMAIN: earlier place has ≥ 10 years", []Stint{y("44", 12), y("33", 5)}, "44"},
		{"DOMAIN: nowhere 10 years → hukou", []Stint{y("44", 4), y("33", 9), y("32", 3)}, "51"},
		{"cumulative, not continuous", []Stint{y("44", 5), y("33", 1), y("44", 5)}, "44"},
		{"cumulative earlier place", []Stint{y("44", 5), y("33", 1), y("44", 5), y("32", 2)}, "44"},
		{"most recent earlier place wins", []Stint{y("44", 10), y("33", 10), y("32", 2)}, "33"},
		{"exactly 120 months", []Stint{{Province: "44", Months: 120}}, "44"},
		{"119 months", []Stint{{Province: "44", Months: 119}}, "51"},
		{"temporary stints are dropped", []Stint{tmp("44", 12)}, "51"},
		{"temporary months do not count", []Stint{y("44", 6), tmp("44", 6)}, "51"},
		{"last stint temporary: C is the last kept stint", []Stint{y("44", 11), tmp("33", 3)}, "44"},
		{"last kept stint is hukou", []Stint{y("44", 12), y("51", 1), tmp("33", 5)}, "51"},
		{"no stints", nil, "51"},
		{"zero-length stint ignored", []Stint{y("44", 12), {Province: "33", Months: 0}}, "44"},
	}
	for _, c := range cases {
		if got := BenefitPlace("51", c.stints, 120); got != c.want {
			t.Errorf("%s: BenefitPlace = %q, want %q", c.name, got, c.want)
		}
	}
	// The threshold is a parameter.
	if got := BenefitPlace("51", []Stint{y("44", 6)}, 60); got != "44" {
		t.Errorf("threshold 60: %q", got)
	}
}

func TestRuleT5_DuplicatePeriods(t *testing.T) {
	p := civil.MustPeriod
	months := func(first, last civil.Period) []civil.Period {
		var out []civil.Period
		for q := first; q.Compare(last) <= 0; q = q.Add(1) {
			out = append(out, q)
		}
		return out
	}
	held := months(p(2019, 1), p(2019, 12))
	incoming := append(months(p(2019, 6), p(2020, 3)), p(2019, 7), p(2018, 1)) // a repeat, a non-overlap
	slices.Reverse(incoming)
	before := slices.Clone(incoming)
	got := DuplicatePeriods(held, incoming)
	if want := months(p(2019, 6), p(2019, 12)); !slices.Equal(got, want) {
		t.Errorf("DuplicatePeriods = %v, want %v", got, want)
	}
	if !slices.Equal(incoming, before) {
		t.Error("DuplicatePeriods modified its input")
	}
	if got := DuplicatePeriods(held, months(p(2020, 1), p(2020, 12))); len(got) != 0 {
		t.Errorf("no overlap: %v", got)
	}
	if got := DuplicatePeriods(nil, held); len(got) != 0 {
		t.Errorf("nothing held: %v", got)
	}
	// Repeats on both sides count once; order of the result is ascending across years.
	got = DuplicatePeriods([]civil.Period{p(2021, 1), p(2020, 12), p(2021, 1)}, []civil.Period{p(2021, 1), p(2021, 1), p(2020, 12)})
	if want := []civil.Period{p(2020, 12), p(2021, 1)}; !slices.Equal(got, want) {
		t.Errorf("repeats: %v", got)
	}
}

func TestRuleT6_BackPaymentEvidence(t *testing.T) {
	for _, c := range []struct {
		months int
		want   bool
	}{{1, false}, {35, false}, {36, true}, {37, true}, {120, true}} {
		if got := NeedsEvidence(c.months, 36); got != c.want {
			t.Errorf("NeedsEvidence(%d, 36) = %v", c.months, got)
		}
	}
	if !NeedsEvidence(24, 24) || NeedsEvidence(23, 24) {
		t.Error("threshold is a parameter")
	}
}

func TestRuleT7_MedicalGap(t *testing.T) {
	for _, c := range []struct {
		gap  int
		want bool
	}{{0, true}, {1, true}, {3, true}, {4, false}, {12, false}, {-1, false}} {
		if got := MedicalBackpayAllowed(c.gap, 3); got != c.want {
			t.Errorf("MedicalBackpayAllowed(%d, 3) = %v", c.gap, got)
		}
	}
	p := civil.MustPeriod
	for _, c := range []struct {
		last, next civil.Period
		want       int
	}{
		{p(2024, 1), p(2024, 2), 0},
		{p(2024, 1), p(2024, 5), 3},
		{p(2023, 11), p(2024, 3), 3},
		{p(2023, 11), p(2024, 4), 4},
		{p(2024, 5), p(2024, 5), 0},
		{p(2024, 5), p(2024, 1), 0},
	} {
		if got := GapMonths(c.last, c.next); got != c.want {
			t.Errorf("GapMonths(%v, %v) = %d, want %d", c.last, c.next, got, c.want)
		}
	}
	if MedicalBackpayAllowed(GapMonths(p(2023, 11), p(2024, 4)), 3) {
		t.Error("a 4-month gap may not be back-paid")
	}
}
