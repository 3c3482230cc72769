// Package rules holds the pure calculators for the social-insurance rules of the project's DOMAIN.md
// (contributions C1–C3, cross-province transfers T1–T7).
//
// # Contract
//
// Every function is pure and deterministic: the same inputs give the same outputs on every node
// and platform. The package reads no clock, no files, no network and no randomness, starts no
// goroutines, uses no floating point, and never depends on map iteration order. It holds no rule
// parameter: every rate, threshold, percentage, start period and calendar is passed in by the
// caller, which looks it up in the versioned parameter tables in force for the record (genesis
// parameters, changed later by gov.* records).
//
// Units: money is int64 fen (type Fen); rates are int64 basis points (1 bp = 0.01%, so 8% = 800,
// 8.31% = 831, BPDenominator = 10,000); shares of the average wage are int64 percent (60, 300).
//
// Rounding: every money result is computed exactly (128-bit intermediates) and rounded once at the
// end, half-up to the fen; for negative values the rounding is symmetric (halves away from zero).
// The C1 floor and ceiling are the exception the rule itself sets: they round up to the whole yuan.
// Nothing wraps silently: a result that does not fit in an int64 gives ErrOverflow. Parameters out
// of their domain give ErrInvalidParam; negative bases or balances give ErrNegative. All errors
// wrap these sentinels with detail; test them with errors.Is.
//
// # Rules
//
//	C1 base           Limits, Base, CheckDeclaredBase
//	C2 split          Share, CheckShare
//	C3 IA interest    Weight, Weighted, YearInterest, CloseYear
//	T1 amount         PooledRateBP, PooledPart, PooledNumerator, PooledFromNumerator, TransferAmount
//	T2 50/40 rule     AgeOn, IsTemporary
//	T3 benefit place  BenefitPlace
//	T4 procedure      Calendars.IsWorkingDay, Calendars.AddWorkingDays, Overdue,
//	                  NextStageAllowed, CheckTransition, Stage
//	T5 duplicates     DuplicatePeriods
//	T6 back payments  NeedsEvidence
//	T7 medical        MedicalBackpayAllowed, GapMonths
//	arithmetic        RoundDiv, MulDivRound
//
// # Conventions chosen here
//
// Interest month (C3): a contribution credited for month m of a year earns rate × (12 − m) / 12
// that year, the months remaining after its month; a December contribution earns nothing in its
// own year and the full rate from the next year on as part of the opening balance. The year's
// interest is one rounding of (opening × 12 + Σ amount × (12 − m)) × rate / 120,000.
//
// Birthdays (T2): age is in completed years and a birthday counts on the day itself (born
// 1970-05-10: 50 on 2020-05-10). Someone born on 29 February turns a year older on 1 March in
// non-leap years.
//
// Calendars (T4): a year without a calendar counts Monday–Friday as working days (Calendars.Has
// tells the caller a calendar is missing). A date in both the holiday and the make-up list is a
// holiday (Calendar.Validate rejects such data). Deadlines count working days after the day of
// receipt, not including it; Overdue is strictly after the deadline.
//
// Benefit place (T3): stints with zero or negative months are ignored like temporary stints.
package rules
