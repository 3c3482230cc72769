package ids

import (
	"errors"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

// rng is a small deterministic generator (SplitMix64) so that property tests are reproducible
// and free of any dependency on the standard random number packages.
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// withCheck appends the check character to 17 digits.
func withCheck(t testing.TB, first17 string) string {
	t.Helper()
	c, err := CheckChar(first17)
	if err != nil {
		t.Fatalf("CheckChar(%q): %v", first17, err)
	}
	return first17 + string(c)
}

// withUSCCCheck appends the check character to 17 characters of the USCC alphabet.
func withUSCCCheck(t testing.TB, first17 string) string {
	t.Helper()
	c, err := USCCCheckChar(first17)
	if err != nil {
		t.Fatalf("USCCCheckChar(%q): %v", first17, err)
	}
	return first17 + string(c)
}

// wantReason fails unless err is an *Error with the given rule and reason.
func wantReason(t testing.TB, err error, rule, reason string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %s", rule, reason)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *ids.Error", err, err)
	}
	if e.Rule != rule || e.Reason != reason {
		t.Fatalf("got %s %s (%v), want %s %s", e.Rule, e.Reason, err, rule, reason)
	}
	return e
}

// randomBirth returns a valid date between 1850 and 2024 inclusive.
func randomBirth(r *rng) civil.Date {
	y := 1850 + r.intn(175)
	m := 1 + r.intn(12)
	d := 1 + r.intn(civil.DaysIn(y, m))
	return civil.MustDate(y, m, d)
}

// randomFirst17 returns 17 digits with a random province-level prefix (31 mainland codes plus the
// extra ID prefixes), random rest of the address code, a valid birth date and a random sequence.
func randomFirst17(r *rng) (string, civil.Date) {
	prefixes := append(Provinces(), "71", "81", "82", "83")
	b := make([]byte, 0, 17)
	b = append(b, prefixes[r.intn(len(prefixes))]...)
	for range 4 {
		b = append(b, byte('0'+r.intn(10)))
	}
	birth := randomBirth(r)
	b = append(b, itoaPad(birth.Year, 4)...)
	b = append(b, itoaPad(birth.Month, 2)...)
	b = append(b, itoaPad(birth.Day, 2)...)
	for range 3 {
		b = append(b, byte('0'+r.intn(10)))
	}
	return string(b), birth
}

func itoaPad(n, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}
