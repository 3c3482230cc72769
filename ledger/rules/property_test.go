package rules

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

// Property tests against dumb big.Rat references. math/rand is allowed here (tests only), with a
// fixed seed so failures reproduce.

func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(20240304, 1998))
}

// roundHalfUpRat rounds x half-up on the magnitude (halves away from zero).
func roundHalfUpRat(x *big.Rat) *big.Int {
	abs := new(big.Rat).Abs(x)
	abs.Add(abs, big.NewRat(1, 2))
	q := new(big.Int).Quo(abs.Num(), abs.Denom()) // floor, abs ≥ 0
	if x.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

// anyInt64 returns values biased towards the edges of the int64 range and small numbers.
func anyInt64(r *rand.Rand) int64 {
	switch r.IntN(8) {
	case 0:
		return []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}[r.IntN(9)]
	case 1:
		return r.Int64N(2001) - 1000
	case 2:
		return r.Int64N(1<<32) - 1<<31
	case 3:
		return -r.Int64()
	default:
		return r.Int64()
	}
}

func anyDen(r *rand.Rand) int64 {
	switch r.IntN(5) {
	case 0:
		return []int64{1, 2, 3, 10, 100, 10000, 120000, math.MaxInt64}[r.IntN(8)]
	case 1:
		return r.Int64N(1000) + 1
	default:
		return r.Int64N(math.MaxInt64) + 1
	}
}

func fitsInt64(z *big.Int) bool { return z.IsInt64() }

func TestPropertyRoundDiv(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 200000; i++ {
		num, den := anyInt64(r), anyDen(r)
		// Exercise exact halves too.
		if i%4 == 0 && den%2 == 0 {
			num = (num/den)*den + den/2
			if r.IntN(2) == 0 {
				num = -num
			}
		}
		want := roundHalfUpRat(new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(den)))
		if got := RoundDiv(num, den); !fitsInt64(want) || got != want.Int64() {
			t.Fatalf("RoundDiv(%d, %d) = %d, want %v", num, den, got, want)
		}
	}
}

func TestPropertyMulDivRound(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 200000; i++ {
		a, b, den := anyInt64(r), anyInt64(r), anyDen(r)
		if i%3 == 0 { // realistic magnitudes
			a, b = r.Int64N(1<<40)-1<<39, r.Int64N(20001)-10000
		}
		prod := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		want := roundHalfUpRat(new(big.Rat).SetFrac(prod, big.NewInt(den)))
		got, err := MulDivRound(a, b, den)
		if !fitsInt64(want) {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("MulDivRound(%d, %d, %d) = %d, %v; want ErrOverflow (%v)", a, b, den, got, err, want)
			}
			continue
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("MulDivRound(%d, %d, %d) = %d, %v; want %v", a, b, den, got, err, want)
		}
	}
}

// pooledRef is the DOMAIN T1 definition read literally, in rationals.
func pooledRef(months []PooledMonth, from civil.Period, pfBP int64, temporary, individual bool) *big.Int {
	sum := new(big.Rat)
	for _, m := range months {
		if m.Period.Index() < from.Index() {
			continue
		}
		rate := pfBP
		if temporary && !individual && m.EmployerBP > pfBP {
			rate = m.EmployerBP
		}
		term := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(m.Base), big.NewInt(rate)), big.NewInt(10000))
		sum.Add(sum, term)
	}
	return roundHalfUpRat(sum)
}

func TestPropertyPooledPart(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 20000; i++ {
		n := r.IntN(61)
		months := make([]PooledMonth, n)
		huge := i%50 == 0
		for j := range months {
			base := r.Int64N(5_000_000) // up to 50,000 yuan
			if huge {
				base = r.Int64N(math.MaxInt64)
			}
			months[j] = PooledMonth{
				Period:     civil.MustPeriod(1995+r.IntN(31), 1+r.IntN(12)),
				Base:       base,
				EmployerBP: r.Int64N(10001),
			}
		}
		from := civil.MustPeriod(1995+r.IntN(10), 1+r.IntN(12))
		pf := []int64{1200, 1200, 1000, 1600, r.Int64N(10001)}[r.IntN(5)]
		temporary, individual := r.IntN(2) == 0, r.IntN(4) == 0

		want := pooledRef(months, from, pf, temporary, individual)
		got, err := PooledPart(months, from, pf, temporary, individual)
		if !fitsInt64(want) {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("case %d: PooledPart = %d, %v; want ErrOverflow", i, got, err)
			}
			continue
		}
		if err != nil || got != want.Int64() {
			t.Fatalf("case %d: PooledPart = %d, %v; want %v (months %v)", i, got, err, want, months)
		}
		if num, err := PooledNumerator(months, from, pf, temporary, individual); err == nil {
			if PooledFromNumerator(num) != got {
				t.Fatalf("case %d: numerator route gives %d, want %d", i, PooledFromNumerator(num), got)
			}
		} else if !huge || !errors.Is(err, ErrOverflow) {
			t.Fatalf("case %d: PooledNumerator: %v", i, err)
		}
	}
}

func TestPropertyYearInterest(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 50000; i++ {
		opening := r.Int64N(100_000_000)
		var items []MonthlyAmount
		for k := r.IntN(15); k > 0; k-- {
			items = append(items, MonthlyAmount{Month: 1 + r.IntN(12), Amount: r.Int64N(2_000_000) - 200_000})
		}
		rate := r.Int64N(1001)
		// Reference: opening × rate + Σ amount × rate × (12 − m)/12, in rationals, rounded once.
		sum := new(big.Rat).SetFrac(big.NewInt(opening*rate), big.NewInt(10000))
		for _, it := range items {
			sum.Add(sum, new(big.Rat).SetFrac(big.NewInt(it.Amount*rate*int64(12-it.Month)), big.NewInt(120000)))
		}
		want := roundHalfUpRat(sum).Int64()
		w, err := Weighted(items)
		if err != nil {
			t.Fatal(err)
		}
		got, err := YearInterest(opening, w, rate)
		if err != nil || got != want {
			t.Fatalf("YearInterest(%d, %v, %d) = %d, %v; want %d", opening, items, rate, got, err, want)
		}
	}
}

// ageRef counts birthdays literally: the k-th birthday is birth's month and day in year+k, or
// 1 March when that is 29 February of a non-leap year.
func ageRef(birth, on civil.Date) int {
	age := -1
	for k := 0; ; k++ {
		y := birth.Year + k
		bd := civil.Date{Year: y, Month: birth.Month, Day: birth.Day}
		if birth.Month == 2 && birth.Day == 29 && !civil.IsLeap(y) {
			bd = civil.Date{Year: y, Month: 3, Day: 1}
		}
		if bd.After(on) {
			return age
		}
		age = k
	}
}

func TestPropertyAgeOn(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 20000; i++ {
		birth := civil.FromDays(r.Int64N(60000) - 30000) // about 1888..2134
		if i%10 == 0 {
			birth = civil.MustDate([]int{1896, 1972, 1976, 2000, 2060}[r.IntN(5)], 2, 29)
		}
		on := birth.AddDays(r.IntN(40000))
		if got, want := AgeOn(birth, on), ageRef(birth, on); got != want {
			t.Fatalf("AgeOn(%v, %v) = %d, want %d", birth, on, got, want)
		}
	}
}

func TestPropertyAddWorkingDays(t *testing.T) {
	r := newRand(t)
	cals := Calendars{cal2024, cal2025}
	for i := 0; i < 5000; i++ {
		from := civil.MustDate(2023, 12, 1).AddDays(r.IntN(450))
		n := r.IntN(41) - 10
		got := cals.AddWorkingDays(from, n)
		// Count working days strictly between from and got (inclusive of got) in the direction of n.
		count := 0
		step := 1
		if n < 0 {
			step = -1
		}
		for d := from; d != got; {
			d = d.AddDays(step)
			if cals.IsWorkingDay(d) {
				count++
			}
		}
		if n != 0 && !cals.IsWorkingDay(got) {
			t.Fatalf("AddWorkingDays(%v, %d) = %v is not a working day", from, n, got)
		}
		if count != max(n, -n) {
			t.Fatalf("AddWorkingDays(%v, %d) = %v spans %d working days", from, n, got, count)
		}
	}
}

func TestPropertyDuplicatePeriods(t *testing.T) {
	r := newRand(t)
	gen := func() []civil.Period {
		out := make([]civil.Period, r.IntN(40))
		for i := range out {
			out[i] = civil.MustPeriod(2018+r.IntN(4), 1+r.IntN(12))
		}
		return out
	}
	for i := 0; i < 5000; i++ {
		held, incoming := gen(), gen()
		var want []civil.Period
		for y := 2018; y < 2022; y++ {
			for m := 1; m <= 12; m++ {
				p := civil.MustPeriod(y, m)
				if slices.Contains(held, p) && slices.Contains(incoming, p) {
					want = append(want, p)
				}
			}
		}
		if got := DuplicatePeriods(held, incoming); !slices.Equal(got, want) {
			t.Fatalf("DuplicatePeriods(%v, %v) = %v, want %v", held, incoming, got, want)
		}
	}
}
