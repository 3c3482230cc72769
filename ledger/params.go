package ledger

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

// Parameter names. Every number a rule uses is one of these, looked up by scope and date.
const (
	ParamAvgWage         = "wage.avg"                   // fen per month; scope province; effective the contribution year
	ParamBaseFloorPct    = "base.floor_pct"             // percent of the average wage (C1)
	ParamBaseCeilPct     = "base.ceiling_pct"           // percent of the average wage (C1)
	ParamPensionEmployee = "pension.employee_bp"        // C2
	ParamPensionEmployer = "pension.employer_bp"        // C2; per province
	ParamPensionIndivPF  = "pension.individual_pool_bp" // pooled share paid by people insured as individuals
	ParamMedicalEmployee = "medical.employee_bp"
	ParamMedicalEmployer = "medical.employer_bp"
	ParamUnempEmployee   = "unemployment.employee_bp"
	ParamUnempEmployer   = "unemployment.employer_bp"
	ParamInjuryEmployer  = "injury.employer_bp"
	ParamCreditingRate   = "ia.crediting_bp"          // C3; one version per year, effective 1 January
	ParamPooledBP        = "transfer.pooled_bp"       // T1: 12%
	ParamPooledFrom      = "transfer.pooled_from"     // T1: first counted month, YYYYMM (199801)
	ParamTempMenAge      = "temporary.men_age"        // T2
	ParamTempWomenAge    = "temporary.women_age"      // T2
	ParamBenefitMonths   = "benefit.threshold_months" // T3
	ParamLetterDays      = "deadline.letter_days"     // T4, working days
	ParamOutDays         = "deadline.out_days"        // T4
	ParamInDays          = "deadline.in_days"         // T4
	ParamMedLetterDays   = "deadline.medical_letter_days"
	ParamMedOutDays      = "deadline.medical_out_days" // T7
	ParamMedInDays       = "deadline.medical_in_days"  // T7
	ParamBackpayMonths   = "backpay.evidence_months"   // T6
	ParamNoticeDays      = "backpay.notice_days"       // T6
	ParamMedicalGap      = "medical.gap_months"        // T7
	ParamMaxWage         = "wage.max"                  // sanity bound on a declared monthly wage, fen
)

// Params is the versioned parameter table.
type Params struct {
	list  []Param // sorted by (name, scope, effective)
	index map[paramKey][]Param
}

type paramKey struct{ name, scope string }

// NewParams builds a table from versions in any order; later duplicates of (name, scope,
// effective) replace earlier ones.
func NewParams(ps []Param) *Params {
	list := slices.Clone(ps)
	slices.SortStableFunc(list, compareParam)
	out := list[:0]
	for _, p := range list {
		if n := len(out); n > 0 && compareParam(out[n-1], p) == 0 {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	t := &Params{list: out, index: make(map[paramKey][]Param)}
	for _, p := range out {
		k := paramKey{p.Name, p.Scope}
		t.index[k] = append(t.index[k], p)
	}
	return t
}

// List returns the versions, sorted.
func (t *Params) List() []Param { return t.list }

// With returns a new table with p added (or replacing the same name, scope and effective date).
func (t *Params) With(p Param) *Params { return NewParams(append(slices.Clone(t.list), p)) }

// Get returns the value of name in force on date for scope, falling back to the national ("")
// version when the scope has none in force.
func (t *Params) Get(name, scope string, on civil.Date) (int64, bool) {
	at := on.Int()
	if scope != "" {
		if v, ok := latest(t.index[paramKey{name, scope}], at); ok {
			return v, true
		}
	}
	return latest(t.index[paramKey{name, ""}], at)
}

// ForYear returns the version of name effective within year (for yearly published values such as
// the crediting rate), national scope.
func (t *Params) ForYear(name string, year int) (int64, bool) {
	for _, p := range t.index[paramKey{name, ""}] {
		if int(p.Effective/10000) == year {
			return p.Value, true
		}
	}
	return 0, false
}

func latest(vs []Param, at uint32) (int64, bool) {
	i, _ := slices.BinarySearchFunc(vs, at+1, func(p Param, t uint32) int { return int(int64(p.Effective) - int64(t)) })
	if i == 0 {
		return 0, false
	}
	return vs[i-1].Value, true
}

// calendars converts the genesis/governance calendars to the rules form.
func toRulesCalendars(cs []Calendar) rules.Calendars {
	out := make(rules.Calendars, 0, len(cs))
	for _, c := range cs {
		rc := rules.Calendar{Year: int(c.Year)}
		for _, v := range c.Holidays {
			d, _ := civil.DateFromInt(v)
			rc.Holidays = append(rc.Holidays, d)
		}
		for _, v := range c.Workdays {
			d, _ := civil.DateFromInt(v)
			rc.Workdays = append(rc.Workdays, d)
		}
		out = append(out, rc)
	}
	return out
}

var (
	errNoParam       = errors.New("no parameter in force")
	errUnknownScheme = errors.New("unknown scheme")
)

// get is Get with an error naming what is missing.
func (t *Params) get(name, scope string, on civil.Date) (int64, error) {
	v, ok := t.Get(name, scope, on)
	if !ok {
		return 0, fmt.Errorf("%w: %s for %s on %s", errNoParam, name, scope, on)
	}
	return v, nil
}

// BaseLimits returns the C1 floor and ceiling of the contribution base in province prov for a
// contribution month starting on the given day.
func (t *Params) BaseLimits(prov string, on civil.Date) (rules.BaseLimits, error) {
	avg, err := t.get(ParamAvgWage, prov, on)
	if err != nil {
		return rules.BaseLimits{}, err
	}
	fl, err := t.get(ParamBaseFloorPct, prov, on)
	if err != nil {
		return rules.BaseLimits{}, err
	}
	cl, err := t.get(ParamBaseCeilPct, prov, on)
	if err != nil {
		return rules.BaseLimits{}, err
	}
	return rules.Limits(avg, fl, cl)
}

// Rates returns the employee and employer rates (basis points) of a scheme in province prov on a
// day (C2). individual selects the pooled rate paid by people insured as individuals.
func (t *Params) Rates(scheme, prov string, on civil.Date, individual bool) (employee, employer int64, err error) {
	var en, er string
	switch scheme {
	case SchemePension:
		en, er = ParamPensionEmployee, ParamPensionEmployer
		if individual {
			er = ParamPensionIndivPF
		}
	case SchemeMedical:
		en, er = ParamMedicalEmployee, ParamMedicalEmployer
	case SchemeUnemployment:
		en, er = ParamUnempEmployee, ParamUnempEmployer
	case SchemeInjury:
		er = ParamInjuryEmployer
	default:
		return 0, 0, fmt.Errorf("%w %q", errUnknownScheme, scheme)
	}
	if en != "" {
		if employee, err = t.get(en, prov, on); err != nil {
			return 0, 0, err
		}
	}
	employer, err = t.get(er, prov, on)
	return employee, employer, err
}

// ContributionTerms derives the figures a contribution record carries from what a bureau knows:
// the base (C1: from the wage of an employee, or the base an individual declared, which must lie
// within the limits) and the monthly employee and employer amounts (C2), with the parameters in
// force for the month. Apply recomputes exactly these and rejects a record that differs.
func (t *Params) ContributionTerms(scheme, prov string, month civil.Period, wage, declaredBase int64, individual bool) (base, employee, employer int64, err error) {
	day := month.FirstDay()
	lim, err := t.BaseLimits(prov, day)
	if err != nil {
		return 0, 0, 0, err
	}
	if individual {
		if err := rules.CheckDeclaredBase(declaredBase, lim); err != nil {
			return 0, 0, 0, err
		}
		base = declaredBase
	} else {
		if wage <= 0 {
			return 0, 0, 0, fmt.Errorf("wage %d must be positive", wage)
		}
		base = rules.Base(wage, lim)
	}
	eeBP, erBP, err := t.Rates(scheme, prov, day, individual)
	if err != nil {
		return 0, 0, 0, err
	}
	if employee, err = rules.Share(base, eeBP); err != nil {
		return 0, 0, 0, err
	}
	if employer, err = rules.Share(base, erBP); err != nil {
		return 0, 0, 0, err
	}
	return base, employee, employer, nil
}
