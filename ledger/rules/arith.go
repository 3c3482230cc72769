package rules

import (
	"errors"
	"math"
	"math/bits"
)

// Fen is an amount of money in fen (1 yuan = 100 fen). Amounts are always integers.
type Fen = int64

// BPDenominator is the number of basis points in a whole: 10,000 bp = 100%.
const BPDenominator = 10000

// Errors returned (usually wrapped with detail) by the calculators. Test with errors.Is.
var (
	// ErrOverflow means an exact result does not fit in an int64. Nothing ever wraps silently.
	ErrOverflow = errors.New("rules: arithmetic overflow")
	// ErrInvalidParam means a parameter is outside its domain (a divisor ≤ 0, an average wage ≤ 0,
	// a rate outside 0..10,000 bp, a month outside 1..12, an invalid period, …).
	ErrInvalidParam = errors.New("rules: invalid parameter")
	// ErrNegative means a quantity that cannot be negative (a base, a balance) was negative.
	ErrNegative = errors.New("rules: negative amount")
	// ErrBaseOutOfRange means a declared contribution base lies outside [floor, ceiling] (C1).
	ErrBaseOutOfRange = errors.New("rules: contribution base out of range")
	// ErrShareMismatch means a declared amount differs from the one recomputed from base and rate (C2).
	ErrShareMismatch = errors.New("rules: amount does not match base × rate")
	// ErrStage means a transfer-stage transition that the T4 stage machine does not allow.
	ErrStage = errors.New("rules: transfer stage transition not allowed")
)

// RoundDiv returns num/den rounded half-up on the magnitude (symmetric: halves round away from
// zero, so RoundDiv(5, 10) = 1 and RoundDiv(-5, 10) = -1). It is exact for every int64 num.
// den must be > 0; RoundDiv panics otherwise (a programming error: divisors are constants or
// validated parameters). Use MulDivRound for a checked product.
func RoundDiv(num, den int64) int64 {
	if den <= 0 {
		panic("rules.RoundDiv: divisor must be positive")
	}
	q, r := num/den, num%den // r has the sign of num, |r| < den
	if r >= 0 {
		if r >= den-r { // 2r ≥ den without overflow
			q++
		}
	} else if -r >= den+r { // 2|r| ≥ den; -r cannot overflow since |r| < den
		q--
	}
	return q
}

// MulDivRound returns a*b/den rounded half-up on the magnitude, computed exactly with a 128-bit
// intermediate. It returns ErrOverflow if the rounded result does not fit in an int64 and
// ErrInvalidParam if den ≤ 0.
func MulDivRound(a, b, den int64) (int64, error) {
	if den <= 0 {
		return 0, wrapf(ErrInvalidParam, "divisor %d", den)
	}
	return mul128(a, b).divRound(den)
}

// i128 is a signed 128-bit integer in two's complement, used for exact intermediates.
type i128 struct{ hi, lo uint64 }

func i128of(v int64) i128 {
	hi := uint64(0)
	if v < 0 {
		hi = math.MaxUint64
	}
	return i128{hi, uint64(v)}
}

func (x i128) neg() bool { return int64(x.hi) < 0 }

func (x i128) negate() i128 {
	lo, c := bits.Add64(^x.lo, 1, 0)
	hi, _ := bits.Add64(^x.hi, 0, c)
	return i128{hi, lo}
}

// abs64 returns |v| as a uint64; exact for math.MinInt64.
func abs64(v int64) uint64 {
	if v < 0 {
		return -uint64(v)
	}
	return uint64(v)
}

// mul128 returns the exact product a*b (|a*b| ≤ 2^126, so it always fits).
func mul128(a, b int64) i128 {
	hi, lo := bits.Mul64(abs64(a), abs64(b))
	r := i128{hi, lo}
	if (a < 0) != (b < 0) {
		r = r.negate()
	}
	return r
}

// add returns x+y, or ErrOverflow if the signed 128-bit sum overflows.
func (x i128) add(y i128) (i128, error) {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, _ := bits.Add64(x.hi, y.hi, c)
	r := i128{hi, lo}
	if x.neg() == y.neg() && r.neg() != x.neg() {
		return i128{}, ErrOverflow
	}
	return r, nil
}

// magnitude returns |x| as an unsigned 128-bit value and whether x was negative.
func (x i128) magnitude() (hi, lo uint64, neg bool) {
	if x.neg() {
		m := x.negate() // for -2^127 this is 2^127 read as unsigned: still correct
		return m.hi, m.lo, true
	}
	return x.hi, x.lo, false
}

// toInt64 returns x if it fits in an int64.
func (x i128) toInt64() (int64, error) {
	v := int64(x.lo)
	if i128of(v) != x {
		return 0, ErrOverflow
	}
	return v, nil
}

// divRound returns x/den rounded half-up on the magnitude; den > 0.
func (x i128) divRound(den int64) (int64, error) {
	hi, lo, neg := x.magnitude()
	d := uint64(den)
	if hi >= d { // quotient needs more than 64 bits
		return 0, ErrOverflow
	}
	q, r := bits.Div64(hi, lo, d)
	if r >= d-r {
		if q == math.MaxUint64 {
			return 0, ErrOverflow
		}
		q++
	}
	return signed(q, neg)
}

// divCeil returns ⌈x/den⌉ for x ≥ 0 and den > 0.
func (x i128) divCeil(den int64) (int64, error) {
	hi, lo, neg := x.magnitude()
	if neg {
		return 0, ErrNegative
	}
	d := uint64(den)
	if hi >= d {
		return 0, ErrOverflow
	}
	q, r := bits.Div64(hi, lo, d)
	if r != 0 {
		if q == math.MaxUint64 {
			return 0, ErrOverflow
		}
		q++
	}
	return signed(q, false)
}

// signed converts a magnitude and sign back to an int64, checking the range.
func signed(q uint64, neg bool) (int64, error) {
	if neg {
		if q > 1<<63 {
			return 0, ErrOverflow
		}
		return int64(-q), nil // q == 2^63 gives math.MinInt64
	}
	if q > math.MaxInt64 {
		return 0, ErrOverflow
	}
	return int64(q), nil
}

// addFen returns a+b or ErrOverflow.
func addFen(a, b int64) (int64, error) {
	s := a + b
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, ErrOverflow
	}
	return s, nil
}

// checkRate validates a rate in basis points: 0 ≤ bp ≤ 10,000.
func checkRate(what string, bp int64) error {
	if bp < 0 || bp > BPDenominator {
		return wrapf(ErrInvalidParam, "%s rate %d bp outside 0..%d", what, bp, BPDenominator)
	}
	return nil
}
