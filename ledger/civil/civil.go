// Package civil holds calendar dates and contribution periods without time zones or clocks.
//
// The ledger never reads a clock: every date it uses comes from a record, a checkpoint or a
// parameter. Dates are proleptic Gregorian, years 1800–9999.
package civil

import (
	"errors"
	"fmt"
	"time"
)

// ErrDate is returned (wrapped) by ParseDate and ParsePeriod for text that is not a valid date or period.
var ErrDate = errors.New("invalid date")

// Date is a calendar day. The zero Date is invalid and means "none".
type Date struct {
	Year  int
	Month int
	Day   int
}

// NewDate returns the date if it exists in the calendar.
func NewDate(y, m, d int) (Date, error) {
	if y < 1800 || y > 9999 || m < 1 || m > 12 || d < 1 || d > DaysIn(y, m) {
		return Date{}, fmt.Errorf("%w: %04d-%02d-%02d", ErrDate, y, m, d)
	}
	return Date{y, m, d}, nil
}

// MustDate is NewDate for constants in tests and defaults; it panics on an invalid date.
func MustDate(y, m, d int) Date {
	dt, err := NewDate(y, m, d)
	if err != nil {
		panic(err)
	}
	return dt
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("%w: %q is not YYYY-MM-DD", ErrDate, s)
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, fmt.Errorf("%w: %q is not YYYY-MM-DD", ErrDate, s)
	}
	return NewDate(y, m, d)
}

// IsZero reports whether d is the zero (absent) date.
func (d Date) IsZero() bool { return d == Date{} }

// Valid reports whether d is a real date in range.
func (d Date) Valid() bool {
	_, err := NewDate(d.Year, d.Month, d.Day)
	return err == nil
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Int returns d as the integer YYYYMMDD, the form used in the canonical encoding.
func (d Date) Int() uint32 { return uint32(d.Year*10000 + d.Month*100 + d.Day) }

// DateFromInt decodes YYYYMMDD; 0 gives the zero Date.
func DateFromInt(v uint32) (Date, error) {
	if v == 0 {
		return Date{}, nil
	}
	return NewDate(int(v/10000), int(v/100%100), int(v%100))
}

// Before reports whether d is strictly before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is strictly after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// Compare returns -1, 0 or +1.
func (d Date) Compare(e Date) int {
	a, b := d.Int(), e.Int()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DaysSinceEpoch counts days from 1970-01-01 (negative before it).
func (d Date) DaysSinceEpoch() int64 {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// FromDays is the inverse of DaysSinceEpoch.
func FromDays(n int64) Date {
	t := time.Unix(n*86400, 0).UTC()
	return Date{t.Year(), int(t.Month()), t.Day()}
}

// AddDays returns d shifted by n calendar days.
func (d Date) AddDays(n int) Date { return FromDays(d.DaysSinceEpoch() + int64(n)) }

// Weekday returns the day of the week (Sunday = 0).
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

// Period returns the month d falls in.
func (d Date) Period() Period { return Period{d.Year, d.Month} }

// DateOfUnixMilli returns the UTC+8 (China Standard Time) calendar day of a timestamp in unix
// milliseconds. The ledger stamps checkpoints with leader time; the day used for deadlines is the
// day in the jurisdiction's time zone, given here as a fixed offset so no zone database is read.
func DateOfUnixMilli(ms int64, offsetSeconds int) Date {
	t := time.UnixMilli(ms).UTC().Add(time.Duration(offsetSeconds) * time.Second)
	return Date{t.Year(), int(t.Month()), t.Day()}
}

// Period is a contribution month. The zero Period is invalid and means "none".
type Period struct {
	Year  int
	Month int
}

// NewPeriod returns the period if it is in range.
func NewPeriod(y, m int) (Period, error) {
	if y < 1800 || y > 9999 || m < 1 || m > 12 {
		return Period{}, fmt.Errorf("%w: period %04d-%02d", ErrDate, y, m)
	}
	return Period{y, m}, nil
}

// MustPeriod is NewPeriod for constants; it panics on an invalid period.
func MustPeriod(y, m int) Period {
	p, err := NewPeriod(y, m)
	if err != nil {
		panic(err)
	}
	return p
}

// ParsePeriod parses YYYY-MM.
func ParsePeriod(s string) (Period, error) {
	if len(s) != 7 || s[4] != '-' {
		return Period{}, fmt.Errorf("%w: %q is not YYYY-MM", ErrDate, s)
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	if !ok1 || !ok2 {
		return Period{}, fmt.Errorf("%w: %q is not YYYY-MM", ErrDate, s)
	}
	return NewPeriod(y, m)
}

// String formats p as YYYY-MM.
func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, p.Month) }

// IsZero reports whether p is the zero (absent) period.
func (p Period) IsZero() bool { return p == Period{} }

// Valid reports whether p is in range.
func (p Period) Valid() bool {
	_, err := NewPeriod(p.Year, p.Month)
	return err == nil
}

// Int returns p as the integer YYYYMM, the form used in the canonical encoding.
func (p Period) Int() uint32 { return uint32(p.Year*100 + p.Month) }

// PeriodFromInt decodes YYYYMM; 0 gives the zero Period.
func PeriodFromInt(v uint32) (Period, error) {
	if v == 0 {
		return Period{}, nil
	}
	return NewPeriod(int(v/100), int(v%100))
}

// Index counts months since year 0; consecutive periods differ by one.
func (p Period) Index() int { return p.Year*12 + p.Month - 1 }

// PeriodFromIndex is the inverse of Index.
func PeriodFromIndex(i int) Period { return Period{i / 12, i%12 + 1} }

// Add returns p shifted by n months.
func (p Period) Add(n int) Period { return PeriodFromIndex(p.Index() + n) }

// MonthsThrough counts the months from p to q inclusive (0 if q is before p).
func (p Period) MonthsThrough(q Period) int {
	n := q.Index() - p.Index() + 1
	if n < 0 {
		return 0
	}
	return n
}

// Compare returns -1, 0 or +1.
func (p Period) Compare(q Period) int {
	switch a, b := p.Index(), q.Index(); {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FirstDay returns the first day of the month.
func (p Period) FirstDay() Date { return Date{p.Year, p.Month, 1} }

// DaysIn returns the number of days in month m of year y.
func DaysIn(y, m int) int {
	switch m {
	case 1, 3, 5, 7, 8, 10, 12:
		return 31
	case 4, 6, 9, 11:
		return 30
	case 2:
		if IsLeap(y) {
			return 29
		}
		return 28
	}
	return 0
}

// IsLeap reports whether y is a Gregorian leap year.
func IsLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
