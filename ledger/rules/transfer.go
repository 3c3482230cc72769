package rules

import (
	"cmp"
	"slices"

	"github.com/jaminan/jaminan/ledger/civil"
)

// ---- T1 transfer amount ---------------------------------------------------------------------

// PooledRateBP implements the DOMAIN T1 rate choice for the pooled part: people insured as
// individuals always use pfBP (12% = 1,200 bp); temporary accounts use max(employerBP, pfBP);
// every other account uses pfBP. individual takes precedence over temporary.
func PooledRateBP(employerBP, pfBP int64, temporary, individual bool) int64 {
	if temporary && !individual {
		return max(employerBP, pfBP)
	}
	return pfBP
}

// PooledMonth is one contributed month at the old place: the period, the contribution base and
// the employer's pension rate in force for it (only used for temporary accounts).
type PooledMonth struct {
	Period     civil.Period
	Base       Fen
	EmployerBP int64
}

// PooledNumerator returns the exact numerator of the DOMAIN T1 pooled part,
// Σ Base × PooledRateBP(EmployerBP, pfBP, temporary, individual) over the months with
// Period ≥ from, in fen·bp. The pooled part is RoundDiv(numerator, 10,000); a state machine that
// accumulates contributions month by month may keep this numerator and round only at transfer
// (PooledFromNumerator). Months before from do not count (DOMAIN: from 1998-01 on). Every entry
// counts: remove duplicate months first (DuplicatePeriods) if the records may overlap; two entries
// for one period (e.g. a base top-up) are both added. Input order does not matter.
//
// Errors: ErrInvalidParam for an invalid period or a rate outside 0..10,000 bp, ErrNegative for a
// negative base, ErrOverflow if the numerator does not fit in an int64.
func PooledNumerator(months []PooledMonth, from civil.Period, pfBP int64, temporary, individual bool) (int64, error) {
	acc, err := pooledSum(months, from, pfBP, temporary, individual)
	if err != nil {
		return 0, err
	}
	v, err := acc.toInt64()
	if err != nil {
		return 0, wrapf(err, "pooled numerator")
	}
	return v, nil
}

// PooledFromNumerator rounds an exact pooled-part numerator (fen·bp) half-up to the fen.
func PooledFromNumerator(num int64) Fen { return RoundDiv(num, BPDenominator) }

// PooledPart implements DOMAIN T1 (pooled part PF): the exact sum Σ Base × rate / 10,000 over the
// months with Period ≥ from, rounded once, half-up, to the fen. The rate is PooledRateBP per month
// (so a temporary account's employer rate may differ month by month). Same errors and conventions
// as PooledNumerator, except that the intermediate is 128-bit and only the result must fit.
func PooledPart(months []PooledMonth, from civil.Period, pfBP int64, temporary, individual bool) (Fen, error) {
	acc, err := pooledSum(months, from, pfBP, temporary, individual)
	if err != nil {
		return 0, err
	}
	v, err := acc.divRound(BPDenominator)
	if err != nil {
		return 0, wrapf(err, "pooled part")
	}
	return v, nil
}

func pooledSum(months []PooledMonth, from civil.Period, pfBP int64, temporary, individual bool) (i128, error) {
	if !from.Valid() {
		return i128{}, wrapf(ErrInvalidParam, "start period %v", from)
	}
	if err := checkRate("pooled-fund", pfBP); err != nil {
		return i128{}, err
	}
	var acc i128
	for i, m := range months {
		if !m.Period.Valid() {
			return i128{}, wrapf(ErrInvalidParam, "month %d: period %v", i, m.Period)
		}
		if m.Base < 0 {
			return i128{}, wrapf(ErrNegative, "month %d (%v): base %d fen", i, m.Period, m.Base)
		}
		if err := checkRate("employer", m.EmployerBP); err != nil {
			return i128{}, wrapf(err, "month %d (%v)", i, m.Period)
		}
		if m.Period.Compare(from) < 0 {
			continue
		}
		rate := PooledRateBP(m.EmployerBP, pfBP, temporary, individual)
		var err error
		if acc, err = acc.add(mul128(m.Base, rate)); err != nil {
			return i128{}, wrapf(err, "pooled numerator")
		}
	}
	return acc, nil
}

// TransferAmount implements DOMAIN T1: the amount transferred is the whole individual-account
// balance (with interest) plus the pooled part. Both must be ≥ 0 (ErrNegative); ErrOverflow if the
// sum does not fit.
func TransferAmount(iaBalance Fen, pooled Fen) (Fen, error) {
	if iaBalance < 0 || pooled < 0 {
		return 0, wrapf(ErrNegative, "IA balance %d fen, pooled part %d fen", iaBalance, pooled)
	}
	v, err := addFen(iaBalance, pooled)
	if err != nil {
		return 0, wrapf(err, "transfer amount")
	}
	return v, nil
}

// ---- T2 temporary accounts (50/40 rule) ----------------------------------------------------

// AgeOn returns the age in completed years on the date on (DOMAIN T2: "age is in completed years
// on the enrolment date"). A birthday counts on the day itself: someone born 1970-05-10 is 50 on
// 2020-05-10. Someone born on 29 February has the birthday on 1 March in non-leap years (they are
// still one year younger on 28 February). The result is negative if on is before birth.
func AgeOn(birth, on civil.Date) int {
	age := on.Year - birth.Year
	// Comparing (month, day) with (2, 29) already gives the 1 March convention: in a non-leap
	// year no date equals 2-29, and the first one not before it is 1 March.
	if on.Month < birth.Month || (on.Month == birth.Month && on.Day < birth.Day) {
		age--
	}
	return age
}

// TemporaryRule holds the DOMAIN T2 age thresholds (50 for men, 40 for women in China).
type TemporaryRule struct {
	MenAge, WomenAge int
}

// IsTemporary implements DOMAIN T2: whether enrolling in province (on the date enrol) opens a
// temporary account rather than moving the relation. It is true when the person enrols outside the
// hukou province, is not covered by an approved transfer, and has reached the age threshold for
// their sex (AgeOn(birth, enrol) ≥ MenAge or WomenAge). Enrolling back in the hukou province or an
// approved transfer (the flag, with its evidence checked by the caller) is never temporary.
// Province codes are compared exactly.
func IsTemporary(r TemporaryRule, hukou, province string, birth civil.Date, male bool, enrol civil.Date, approved bool) bool {
	if approved || province == hukou {
		return false
	}
	threshold := r.WomenAge
	if male {
		threshold = r.MenAge
	}
	return AgeOn(birth, enrol) >= threshold
}

// ---- T3 benefit place --------------------------------------------------------------------------

// Stint is a period insured in one province: its length in months and whether it was a temporary
// account (DOMAIN T2).
type Stint struct {
	Province  string
	Months    int
	Temporary bool
}

// BenefitPlace implements DOMAIN T3: the province that pays the pension, from the hukou province
// and the time-ordered stints. Temporary stints and stints of zero or negative length are dropped;
// months are added up per province (cumulative, not continuous). With C the province of the last
// remaining stint: if C is the hukou province → hukou; else if C has ≥ thresholdMonths (120)
// → C; else the most recent earlier province with ≥ thresholdMonths; else hukou (also when no
// stint remains).
func BenefitPlace(hukou string, stints []Stint, thresholdMonths int) string {
	kept := make([]Stint, 0, len(stints))
	total := make(map[string]int, len(stints)) // looked up only, never iterated
	for _, s := range stints {
		if s.Temporary || s.Months <= 0 {
			continue
		}
		kept = append(kept, s)
		total[s.Province] += s.Months
	}
	if len(kept) == 0 {
		return hukou
	}
	c := kept[len(kept)-1].Province
	if c == hukou {
		return hukou
	}
	for i := len(kept) - 1; i >= 0; i-- { // C first, then earlier provinces, most recent first
		if total[kept[i].Province] >= thresholdMonths {
			return kept[i].Province
		}
	}
	return hukou
}

// ---- T5 duplicate periods ------------------------------------------------------------------

// DuplicatePeriods implements DOMAIN T5: the months covered both by the periods already held and by
// the incoming ones (same scheme), sorted ascending and without repeats. These count once; the
// caller refunds the duplicate individual-account contributions to the person (the employer's
// pooled part is not refunded). The inputs are not modified and need not be sorted.
func DuplicatePeriods(held, incoming []civil.Period) []civil.Period {
	a := sortedUnique(held)
	b := sortedUnique(incoming)
	var out []civil.Period
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := a[i].Compare(b[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func sortedUnique(ps []civil.Period) []civil.Period {
	s := slices.Clone(ps)
	slices.SortFunc(s, func(x, y civil.Period) int { return cmp.Compare(x.Index(), y.Index()) })
	return slices.Compact(s)
}

// ---- T6 lump-sum back payments ---------------------------------------------------------------

// NeedsEvidence implements DOMAIN T6: a single back payment covering months ≥ thresholdMonths (36)
// needs evidence; without it those months and that money stay at the old place and the transfer
// is partial.
func NeedsEvidence(months, thresholdMonths int) bool { return months >= thresholdMonths }

// ---- T7 medical insurance --------------------------------------------------------------------

// MedicalBackpayAllowed implements DOMAIN T7: a gap in medical insurance of at most limitMonths (3)
// may be back-paid at the new place. A negative gap is not a gap and gives false.
func MedicalBackpayAllowed(gapMonths, limitMonths int) bool {
	return gapMonths >= 0 && gapMonths <= limitMonths
}

// GapMonths returns the number of months strictly between lastCovered and nextCovered, the gap
// MedicalBackpayAllowed takes: 0 when they are consecutive, equal or out of order.
func GapMonths(lastCovered, nextCovered civil.Period) int {
	return max(nextCovered.Index()-lastCovered.Index()-1, 0)
}
