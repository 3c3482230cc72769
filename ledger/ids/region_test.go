package ids

import (
	"slices"
	"strings"
	"testing"
)

// The 31 province-level codes listed in DOMAIN.md rule I3.
const domainProvinces = "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65"

func TestRuleI3_Provinces(t *testing.T) {
	got := Provinces()
	want := strings.Fields(domainProvinces)
	if !slices.Equal(got, want) || len(got) != 31 {
		t.Fatalf("Provinces() = %v, want %v", got, want)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("not sorted: %v", got)
	}
	got[0] = "99"
	if Provinces()[0] != "11" {
		t.Fatalf("Provinces() shares its backing array with the caller")
	}
}

func TestRuleI3_IsProvince(t *testing.T) {
	n := 0
	for i := range 100 {
		if IsProvince(itoaPad(i, 2)) {
			n++
			if !strings.Contains(domainProvinces, itoaPad(i, 2)) {
				t.Errorf("IsProvince(%02d) = true", i)
			}
		}
	}
	if n != 31 {
		t.Errorf("%d codes accepted, want 31", n)
	}
	for _, c := range []string{"", "1", "110", "110000", " 11", "11 ", "71", "81", "82", "83", "66",
		"00", "99", "1a", "１１", "\x00\x00"} {
		if IsProvince(c) {
			t.Errorf("IsProvince(%q) = true", c)
		}
	}
}

func TestRuleI3_IsDivisionCode(t *testing.T) {
	for _, c := range []struct {
		code string
		ok   bool
	}{
		{"110105", true}, {"440300", true}, {"650000", true}, {"110000", true},
		{"990000", false}, {"710000", false}, {"810000", false}, {"660000", false},
		{"11010", false}, {"1101050", false}, {"11010a", false}, {"", false}, {"11", false},
		{" 11010", false}, {"１１０１", false}, {"-11010", false},
	} {
		if got := IsDivisionCode(c.code); got != c.ok {
			t.Errorf("IsDivisionCode(%q) = %v, want %v", c.code, got, c.ok)
		}
	}
}

func TestRuleI3_ProvinceOf(t *testing.T) {
	for _, c := range []struct {
		code  string
		extra []string
		want  string
	}{
		{"11", nil, "11"},
		{"110105", nil, "11"},
		{"650000", nil, "65"},
		{"65", []string{"66"}, "65"},
		{"1101", nil, ""},
		{"1", nil, ""},
		{"", nil, ""},
		{"11010", nil, ""},
		{"1101050", nil, ""},
		{"11010a", nil, ""},
		{"1a", nil, ""},
		{"99", nil, ""},
		{"990000", nil, ""},
		{"71", nil, ""},
		// Xinjiang Production and Construction Corps with a configured code.
		{"66", nil, ""},
		{"66", []string{"66"}, "66"},
		{"660000", []string{"66"}, "66"},
		{"660100", []string{"90", "66"}, "66"},
		{"66", []string{"6"}, ""},
		{"66", []string{"660000"}, ""},
		{"66", []string{""}, ""},
		{"6a", []string{"6a"}, ""},
		{"", []string{""}, ""},
	} {
		if got := ProvinceOf(c.code, c.extra...); got != c.want {
			t.Errorf("ProvinceOf(%q, %q) = %q, want %q", c.code, c.extra, got, c.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	e := &Error{Rule: RuleUSCC, Reason: ReasonChecksum, Input: "x", Detail: "d"}
	for _, c := range []struct {
		target *Error
		want   bool
	}{
		{&Error{}, true},
		{&Error{Rule: RuleUSCC}, true},
		{&Error{Reason: ReasonChecksum}, true},
		{&Error{Rule: RuleUSCC, Reason: ReasonChecksum, Input: "x"}, true},
		{&Error{Rule: RuleResidentID}, false},
		{&Error{Reason: ReasonFormat}, false},
		{&Error{Input: "y"}, false},
		{nil, false},
	} {
		var target error = c.target
		if c.target == nil {
			target = (*Error)(nil)
		}
		if got := e.Is(target); got != c.want {
			t.Errorf("Is(%#v) = %v, want %v", c.target, got, c.want)
		}
	}
	if e.Is(errTest) {
		t.Errorf("Is matched a foreign error")
	}
}

type testError struct{}

func (testError) Error() string { return "test" }

var errTest error = testError{}
