package civil

import "testing"

func TestParseDateAndPeriod(t *testing.T) {
	for _, s := range []string{"2024-02-29", "1880-01-01", "9999-12-31"} {
		d, err := ParseDate(s)
		if err != nil || d.String() != s {
			t.Errorf("%s: %v %v", s, d, err)
		}
		if back, err := DateFromInt(d.Int()); err != nil || back != d {
			t.Errorf("%s: int round trip %v", s, back)
		}
	}
	for _, s := range []string{"2023-02-29", "1900-02-29", "2024-13-01", "2024-1-01", "", "abcd-ef-gh", "1799-12-31"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	p, err := ParsePeriod("1998-01")
	if err != nil || p.Add(17).String() != "1999-06" || p.MonthsThrough(MustPeriod(1999, 6)) != 18 || p.Add(-1).String() != "1997-12" {
		t.Fatalf("period arithmetic: %v %v", p, err)
	}
	if _, err := ParsePeriod("2024-00"); err == nil {
		t.Fatal("month 0 accepted")
	}
}

func TestDayArithmetic(t *testing.T) {
	d := MustDate(2024, 3, 4)
	if d.Weekday() != 1 || d.AddDays(21) != MustDate(2024, 3, 25) || d.AddDays(-4) != MustDate(2024, 2, 29) {
		t.Fatal("day arithmetic")
	}
	if FromDays(MustDate(1880, 1, 1).DaysSinceEpoch()) != MustDate(1880, 1, 1) {
		t.Fatal("days before the epoch")
	}
	// 2023-01-01T16:00:00Z is already 2 January in China (UTC+8).
	if got := DateOfUnixMilli(1672588800000, 8*3600); got != MustDate(2023, 1, 2) {
		t.Fatalf("UTC+8 day: %v", got)
	}
}
