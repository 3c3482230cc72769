package rules

import (
	"errors"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

// days returns the dates from first to last inclusive (same year and month for brevity).
func days(y, m, first, last int) []civil.Date {
	var out []civil.Date
	for d := first; d <= last; d++ {
		out = append(out, civil.MustDate(y, m, d))
	}
	return out
}

func concat(parts ...[]civil.Date) []civil.Date {
	var out []civil.Date
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// cal2024 is the State Council's 2024 holiday arrangement (test data; in the ledger it is a
// parameter table).
var cal2024 = Calendar{
	Year: 2024,
	Holidays: concat(
		days(2024, 1, 1, 1),   // New Year
		days(2024, 2, 10, 17), // Spring Festival
		days(2024, 4, 4, 6),   // Qingming
		days(2024, 5, 1, 5),   // Labour Day
		days(2024, 6, 10, 10), // Dragon Boat
		days(2024, 9, 15, 17), // Mid-Autumn
		days(2024, 10, 1, 7),  // National Day
	),
	Workdays: []civil.Date{
		civil.MustDate(2024, 2, 4), civil.MustDate(2024, 2, 18),
		civil.MustDate(2024, 4, 7),
		civil.MustDate(2024, 4, 28), civil.MustDate(2024, 5, 11),
		civil.MustDate(2024, 9, 14),
		civil.MustDate(2024, 9, 29), civil.MustDate(2024, 10, 12),
	},
}

var cal2025 = Calendar{
	Year:     2025,
	Holidays: concat(days(2025, 1, 1, 1), days(2025, 1, 28, 31), days(2025, 2, 1, 4)),
	Workdays: []civil.Date{civil.MustDate(2025, 1, 26), civil.MustDate(2025, 2, 8)},
}

func TestRuleT4_WorkingDays(t *testing.T) {
	d := civil.MustDate
	cals := Calendars{cal2024, cal2025}
	if err := cals.Validate(); err != nil {
		t.Fatal(err)
	}
	none := Calendars(nil)

	cases := []struct {
		name string
		cals Calendars
		from civil.Date
		n    int
		want civil.Date
	}{
		{"DOMAIN: 15 working days", cals, d(2024, 3, 4), 15, d(2024, 3, 25)},
		{"DOMAIN: 10 working days", cals, d(2024, 3, 4), 10, d(2024, 3, 18)},
		{"DOMAIN: 15, no calendar", none, d(2024, 3, 4), 15, d(2024, 3, 25)},
		{"zero", cals, d(2024, 3, 4), 0, d(2024, 3, 4)},
		{"from a Saturday", cals, d(2024, 3, 9), 1, d(2024, 3, 11)},
		{"Qingming: the make-up Sunday is the first", cals, d(2024, 4, 3), 1, d(2024, 4, 7)},
		{"Qingming: then Monday", cals, d(2024, 4, 3), 2, d(2024, 4, 8)},
		{"Qingming: 15 days", cals, d(2024, 4, 3), 15, d(2024, 4, 25)},
		{"Qingming without calendar", none, d(2024, 4, 3), 1, d(2024, 4, 4)},
		{"Qingming without calendar: 15", none, d(2024, 4, 3), 15, d(2024, 4, 24)},
		{"Labour Day: make-up Sunday 28 Apr", cals, d(2024, 4, 26), 1, d(2024, 4, 28)},
		{"Labour Day: 30 Apr", cals, d(2024, 4, 26), 3, d(2024, 4, 30)},
		{"Labour Day: over the holiday", cals, d(2024, 4, 26), 4, d(2024, 5, 6)},
		{"Labour Day: make-up Saturday 11 May", cals, d(2024, 4, 26), 9, d(2024, 5, 11)},
		{"National Day: 15 days", cals, d(2024, 9, 27), 15, d(2024, 10, 23)},
		{"across the year: next year's calendar", cals, d(2024, 12, 31), 1, d(2025, 1, 2)},
		{"across the year: Spring Festival", cals, d(2025, 1, 24), 2, d(2025, 1, 27)},
		{"across the year: 10 days", cals, d(2025, 1, 24), 10, d(2025, 2, 13)},
		{"backwards over Qingming", cals, d(2024, 4, 8), -2, d(2024, 4, 3)},
		{"backwards one", cals, d(2024, 4, 8), -1, d(2024, 4, 7)},
	}
	for _, c := range cases {
		if got := c.cals.AddWorkingDays(c.from, c.n); got != c.want {
			t.Errorf("%s: AddWorkingDays(%v, %d) = %v, want %v", c.name, c.from, c.n, got, c.want)
		}
	}

	for _, c := range []struct {
		day  civil.Date
		want bool
	}{
		{d(2024, 3, 4), true}, {d(2024, 3, 9), false}, {d(2024, 3, 10), false},
		{d(2024, 4, 4), false}, {d(2024, 4, 6), false}, {d(2024, 4, 7), true},
		{d(2024, 5, 11), true}, {d(2024, 10, 7), false}, {d(2024, 10, 8), true},
		{d(2025, 1, 1), false}, {d(2025, 1, 26), true},
		{d(2026, 1, 1), true},  // no 2026 calendar: a plain Thursday
		{d(2026, 1, 3), false}, // a plain Saturday
	} {
		if got := cals.IsWorkingDay(c.day); got != c.want {
			t.Errorf("IsWorkingDay(%v) = %v, want %v", c.day, got, c.want)
		}
	}
	if !cals.Has(2024) || cals.Has(2026) {
		t.Error("Has")
	}

	// Overdue: strictly after the deadline.
	deadline := cals.AddWorkingDays(d(2024, 3, 4), 15)
	if Overdue(deadline, d(2024, 3, 25)) || Overdue(deadline, d(2024, 3, 1)) || !Overdue(deadline, d(2024, 3, 26)) {
		t.Error("Overdue")
	}

	// Calendar data checks.
	bad := []Calendars{
		{{Year: 2024, Holidays: []civil.Date{d(2025, 1, 1)}}},
		{{Year: 2024, Workdays: []civil.Date{d(2023, 12, 31)}}},
		{{Year: 2024, Holidays: []civil.Date{{Year: 2024, Month: 2, Day: 30}}}},
		{{Year: 2024, Holidays: []civil.Date{d(2024, 4, 7)}, Workdays: []civil.Date{d(2024, 4, 7)}}},
		{cal2024, cal2025, {Year: 2024}},
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("bad calendar %d: Validate = %v", i, err)
		}
	}
	// A date in both lists (invalid data) is a holiday.
	both := Calendars{{Year: 2024, Holidays: []civil.Date{d(2024, 4, 7)}, Workdays: []civil.Date{d(2024, 4, 7)}}}
	if both.IsWorkingDay(d(2024, 4, 7)) {
		t.Error("holiday must win over make-up working day")
	}
}

func TestRuleT4_StageTransitions(t *testing.T) {
	all := []Stage{StageApplied, StageLetterSent, StageOutProcessed, StageCompleted, StageRejected, StagePartial}
	allowed := map[[2]Stage]bool{
		{StageApplied, StageLetterSent}:      true,
		{StageApplied, StageRejected}:        true,
		{StageLetterSent, StageOutProcessed}: true,
		{StageLetterSent, StagePartial}:      true,
		{StageLetterSent, StageRejected}:     true,
		{StageOutProcessed, StageCompleted}:  true,
		{StagePartial, StageCompleted}:       true,
	}
	for _, from := range all {
		if !from.Valid() {
			t.Errorf("%q not valid", from)
		}
		for _, to := range all {
			want := allowed[[2]Stage{from, to}]
			if got := NextStageAllowed(from, to); got != want {
				t.Errorf("NextStageAllowed(%s, %s) = %v, want %v", from, to, got, want)
			}
			err := CheckTransition(from, to)
			if want != (err == nil) || (err != nil && !errors.Is(err, ErrStage)) {
				t.Errorf("CheckTransition(%s, %s) = %v", from, to, err)
			}
		}
		terminal := from == StageCompleted || from == StageRejected
		if from.Terminal() != terminal {
			t.Errorf("%s.Terminal() = %v", from, from.Terminal())
		}
	}
	if Stage("bogus").Valid() || NextStageAllowed("bogus", StageCompleted) || NextStageAllowed(StageApplied, "bogus") {
		t.Error("unknown stages")
	}
}
