package rules

// ---- C1 contribution base -------------------------------------------------------------------

// BaseLimits are the floor and ceiling of the contribution base for one province and year, in
// fen. Both are whole yuan (multiples of 100 fen) when produced by Limits.
type BaseLimits struct {
	Floor, Ceiling Fen
}

// Limits implements DOMAIN C1 (floor and ceiling). With the province's average wage avgWage (fen,
// > 0) for the contribution year and the floor and ceiling percentages (e.g. 60 and 300):
//
//	Floor   = ⌈avgWage × floorPct / 100⌉ to the whole yuan
//	Ceiling = ⌈avgWage × ceilPct  / 100⌉ to the whole yuan
//
// Each is one exact ceiling of the exact rational (no intermediate rounding). It requires
// 0 ≤ floorPct ≤ ceilPct and ceilPct > 0; otherwise ErrInvalidParam. ErrOverflow if a limit does
// not fit in an int64.
func Limits(avgWage Fen, floorPct, ceilPct int64) (BaseLimits, error) {
	if avgWage <= 0 {
		return BaseLimits{}, wrapf(ErrInvalidParam, "average wage %d fen", avgWage)
	}
	if floorPct < 0 || ceilPct <= 0 || floorPct > ceilPct {
		return BaseLimits{}, wrapf(ErrInvalidParam, "floor %d%% / ceiling %d%% of average wage", floorPct, ceilPct)
	}
	floor, err := ceilYuan(avgWage, floorPct)
	if err != nil {
		return BaseLimits{}, wrapf(err, "base floor")
	}
	ceil, err := ceilYuan(avgWage, ceilPct)
	if err != nil {
		return BaseLimits{}, wrapf(err, "base ceiling")
	}
	return BaseLimits{Floor: floor, Ceiling: ceil}, nil
}

// ceilYuan returns ⌈avg × pct / 100⌉ rounded up to a multiple of 100 fen:
// yuan = ⌈avg·pct / (100·100)⌉, result = yuan × 100.
func ceilYuan(avg Fen, pct int64) (Fen, error) {
	yuan, err := mul128(avg, pct).divCeil(100 * 100)
	if err != nil {
		return 0, err
	}
	if yuan > (1<<63-1)/100 {
		return 0, ErrOverflow
	}
	return yuan * 100, nil
}

// Base implements DOMAIN C1 for employees: min(max(wage, Floor), Ceiling). If the limits are
// inverted (Floor > Ceiling, never produced by Limits) the Ceiling wins.
func Base(wage Fen, l BaseLimits) Fen {
	b := max(wage, l.Floor)
	return min(b, l.Ceiling)
}

// CheckDeclaredBase implements DOMAIN C1 for flexible workers, who declare their own base: it
// must already lie in [Floor, Ceiling]. Otherwise the error wraps ErrBaseOutOfRange.
func CheckDeclaredBase(base Fen, l BaseLimits) error {
	if base < l.Floor || base > l.Ceiling {
		return wrapf(ErrBaseOutOfRange, "declared base %d fen outside [%d, %d]", base, l.Floor, l.Ceiling)
	}
	return nil
}

// ---- C2 contribution shares ---------------------------------------------------------------

// Share implements DOMAIN C2: the amount due on a base at a rate, base × rateBP / 10,000 rounded
// half-up to the fen (one rounding). base must be ≥ 0 (ErrNegative) and 0 ≤ rateBP ≤ 10,000
// (ErrInvalidParam). Used for every scheme and side (pension employer/employee, medical,
// unemployment, work injury): the rate is the parameter in force.
func Share(base Fen, rateBP int64) (Fen, error) {
	if base < 0 {
		return 0, wrapf(ErrNegative, "base %d fen", base)
	}
	if err := checkRate("contribution", rateBP); err != nil {
		return 0, err
	}
	v, err := mul128(base, rateBP).divRound(BPDenominator)
	if err != nil {
		return 0, wrapf(err, "share of base %d at %d bp", base, rateBP)
	}
	return v, nil
}

// CheckShare implements the C2 recomputation: the declared amount must equal Share(base,
// rateBP) exactly; otherwise the error wraps ErrShareMismatch (or Share's own error).
func CheckShare(base Fen, rateBP int64, declared Fen) error {
	want, err := Share(base, rateBP)
	if err != nil {
		return err
	}
	if declared != want {
		return wrapf(ErrShareMismatch, "declared %d fen, base %d at %d bp gives %d", declared, base, rateBP, want)
	}
	return nil
}

// ---- C3 individual-account interest ------------------------------------------------------------

// Weight implements the DOMAIN C3 month convention: a contribution credited for month m (1..12)
// earns interest for the 12−m months remaining after that month in its year, so a January
// contribution earns 11/12 of the year's rate and a December one earns nothing that year (it earns
// in full from the next year on, as part of the opening balance). Weight panics if month is not
// in 1..12 (use Weighted for an error instead).
func Weight(month int) int64 {
	if month < 1 || month > 12 {
		panic("rules.Weight: month outside 1..12")
	}
	return int64(12 - month)
}

// MonthlyAmount is an amount credited to an individual account for a month (1..12) of the year.
// Amount may be negative (for example a refunded duplicate contribution, DOMAIN T5).
type MonthlyAmount struct {
	Month  int
	Amount Fen
}

// Weighted returns Σ Amount × Weight(Month), the weighted sum YearInterest takes (fen·months).
// ErrInvalidParam for a month outside 1..12, ErrOverflow if the sum does not fit in an int64.
func Weighted(items []MonthlyAmount) (int64, error) {
	var acc i128
	for i, it := range items {
		if it.Month < 1 || it.Month > 12 {
			return 0, wrapf(ErrInvalidParam, "item %d: month %d outside 1..12", i, it.Month)
		}
		var err error
		if acc, err = acc.add(mul128(it.Amount, Weight(it.Month))); err != nil {
			return 0, wrapf(err, "weighted sum")
		}
	}
	v, err := acc.toInt64()
	if err != nil {
		return 0, wrapf(err, "weighted sum")
	}
	return v, nil
}

// YearInterest implements DOMAIN C3: the interest credited to an individual account at year end,
//
//	round_half_up( (opening × 12 + weighted) × rateBP / (12 × 10,000) )
//
// with one rounding at the end of an exact computation. opening is the balance at the start of the
// year (it earns the full rate), weighted is Σ amount × (12 − month) over the year's contributions
// (see Weight, Weighted), rateBP the year's crediting rate (2023: 3.97% = 397). Amounts may be
// negative (rounding is symmetric); 0 ≤ rateBP ≤ 10,000 else ErrInvalidParam; ErrOverflow if the
// result does not fit.
func YearInterest(opening Fen, weighted int64, rateBP int64) (Fen, error) {
	if err := checkRate("crediting", rateBP); err != nil {
		return 0, err
	}
	// (opening·12 + weighted)·rate = opening·(12·rate) + weighted·rate; 12·rate ≤ 120,000.
	num, err := mul128(opening, 12*rateBP).add(mul128(weighted, rateBP))
	if err != nil {
		return 0, wrapf(err, "interest numerator")
	}
	v, err := num.divRound(12 * BPDenominator)
	if err != nil {
		return 0, wrapf(err, "interest")
	}
	return v, nil
}

// CloseYear applies DOMAIN C3 to one account-year: it returns the year's interest and the closing
// balance opening + Σ amounts + interest (the next year's opening balance).
func CloseYear(opening Fen, items []MonthlyAmount, rateBP int64) (interest, closing Fen, err error) {
	w, err := Weighted(items)
	if err != nil {
		return 0, 0, err
	}
	interest, err = YearInterest(opening, w, rateBP)
	if err != nil {
		return 0, 0, err
	}
	closing = opening
	for _, it := range items {
		if closing, err = addFen(closing, it.Amount); err != nil {
			return 0, 0, wrapf(err, "closing balance")
		}
	}
	if closing, err = addFen(closing, interest); err != nil {
		return 0, 0, wrapf(err, "closing balance")
	}
	return interest, closing, nil
}
