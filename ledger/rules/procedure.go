package rules

import "github.com/jaminan/jaminan/ledger/civil"

// ---- T4 working days ---------------------------------------------------------------------------

// Calendar is the official working-day calendar for one year (data, from the parameter tables).
// Holidays are public holidays (days off, usually weekdays); Workdays are make-up working days
// (调休), usually Saturdays or Sundays. Order does not matter.
type Calendar struct {
	Year     int
	Holidays []civil.Date
	Workdays []civil.Date
}

// Validate checks that every date is a real date in the calendar's year and that no date is both
// a holiday and a make-up working day.
func (c Calendar) Validate() error {
	for _, d := range c.Holidays {
		if !d.Valid() || d.Year != c.Year {
			return wrapf(ErrInvalidParam, "calendar %d: holiday %v", c.Year, d)
		}
	}
	for _, d := range c.Workdays {
		if !d.Valid() || d.Year != c.Year {
			return wrapf(ErrInvalidParam, "calendar %d: make-up working day %v", c.Year, d)
		}
		if contains(c.Holidays, d) {
			return wrapf(ErrInvalidParam, "calendar %d: %v is both a holiday and a working day", c.Year, d)
		}
	}
	return nil
}

// Calendars is a set of yearly calendars, at most one per year. A year without a calendar counts
// plain weekdays (Monday to Friday) as working days: the rule degrades to the statutory week
// rather than failing, and the caller may check Has to flag a missing calendar.
type Calendars []Calendar

// Validate checks each calendar and that no year appears twice.
func (cs Calendars) Validate() error {
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			return err
		}
		for _, e := range cs[:i] {
			if e.Year == c.Year {
				return wrapf(ErrInvalidParam, "two calendars for %d", c.Year)
			}
		}
	}
	return nil
}

// Has reports whether there is a calendar for the year.
func (cs Calendars) Has(year int) bool {
	_, ok := cs.lookup(year)
	return ok
}

func (cs Calendars) lookup(year int) (*Calendar, bool) {
	for i := range cs {
		if cs[i].Year == year {
			return &cs[i], true // the first one if the data holds duplicates (see Validate)
		}
	}
	return nil, false
}

// IsWorkingDay implements the DOMAIN T4 working-day definition: weekdays minus public holidays
// plus make-up working days, from the calendar of d's year. A date listed both as holiday and as
// make-up working day (invalid data, see Validate) is a holiday. Without a calendar for the year,
// Monday to Friday are working days.
func (cs Calendars) IsWorkingDay(d civil.Date) bool {
	if c, ok := cs.lookup(d.Year); ok {
		if contains(c.Holidays, d) {
			return false
		}
		if contains(c.Workdays, d) {
			return true
		}
	}
	wd := d.Weekday() // Sunday = 0 … Saturday = 6
	return wd != 0 && wd != 6
}

// AddWorkingDays returns the n-th working day after from (from itself is not counted, whether or
// not it is a working day): the DOMAIN T4 deadline for a stage received on from with a limit of n
// working days. n = 0 returns from; a negative n counts backwards (the |n|-th working day before).
func (cs Calendars) AddWorkingDays(from civil.Date, n int) civil.Date {
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	d := from
	for n > 0 {
		d = d.AddDays(step)
		if cs.IsWorkingDay(d) {
			n--
		}
	}
	return d
}

// Overdue implements the DOMAIN T4 overdue flag: true when today is after the deadline (work done
// on the deadline day itself is on time).
func Overdue(deadline, today civil.Date) bool { return today.After(deadline) }

func contains(ds []civil.Date, d civil.Date) bool {
	for _, e := range ds {
		if e == d {
			return true
		}
	}
	return false
}

// ---- T4 transfer stages --------------------------------------------------------------------

// Stage is the stage of a cross-province transfer (DOMAIN T4, T6).
type Stage string

// The transfer stages.
const (
	StageApplied      Stage = "applied"       // the worker or employer applied at the new place
	StageLetterSent   Stage = "letter_sent"   // the new place sent the contact letter to the old place
	StageOutProcessed Stage = "out_processed" // the old place transferred the funds and the record
	StageCompleted    Stage = "completed"     // the new place completed and informed the worker
	StageRejected     Stage = "rejected"      // refused in writing
	StagePartial      Stage = "partial"       // out-processed without unevidenced back payments (T6)
)

// Valid reports whether s is one of the stages.
func (s Stage) Valid() bool {
	switch s {
	case StageApplied, StageLetterSent, StageOutProcessed, StageCompleted, StageRejected, StagePartial:
		return true
	}
	return false
}

// Terminal reports whether no transition leaves s (completed, rejected).
func (s Stage) Terminal() bool { return s == StageCompleted || s == StageRejected }

// NextStageAllowed implements the DOMAIN T4 stage machine:
//
//	applied       → letter_sent | rejected
//	letter_sent   → out_processed | partial | rejected
//	out_processed → completed
//	partial       → completed
//	completed, rejected: terminal
//
// Staying in the same stage is not a transition (false); unknown stages give false.
func NextStageAllowed(from, to Stage) bool {
	switch from {
	case StageApplied:
		return to == StageLetterSent || to == StageRejected
	case StageLetterSent:
		return to == StageOutProcessed || to == StagePartial || to == StageRejected
	case StageOutProcessed, StagePartial:
		return to == StageCompleted
	}
	return false
}

// CheckTransition returns nil if from → to is allowed, else an error wrapping ErrStage.
func CheckTransition(from, to Stage) error {
	if !NextStageAllowed(from, to) {
		return wrapf(ErrStage, "%q → %q", string(from), string(to))
	}
	return nil
}
