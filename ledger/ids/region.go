package ids

// provinceCodes are the 31 province-level codes of DOMAIN rule I3 (first two digits of GB/T 2260),
// sorted: 11–15 North, 21–23 Northeast, 31–37 East, 41–46 Central-South, 50–54 Southwest,
// 61–65 Northwest.
var provinceCodes = [...]string{
	"11", "12", "13", "14", "15",
	"21", "22", "23",
	"31", "32", "33", "34", "35", "36", "37",
	"41", "42", "43", "44", "45", "46",
	"50", "51", "52", "53", "54",
	"61", "62", "63", "64", "65",
}

// isProvince is provinceCodes as a lookup table indexed by the two-digit number.
var isProvince = func() (t [100]bool) {
	for _, c := range provinceCodes {
		t[twoDigits(c)] = true
	}
	return t
}()

// twoDigits returns the value of a string of exactly two ASCII digits, or -1.
func twoDigits(s string) int {
	if len(s) != 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return -1
	}
	return int(s[0]-'0')*10 + int(s[1]-'0')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// allDigits reports whether s is non-empty and consists of ASCII digits only.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// IsProvince reports whether code is exactly one of the 31 two-digit province-level codes of
// DOMAIN rule I3 (the mainland provinces, autonomous regions and municipalities). Taiwan (71),
// Hong Kong (81), Macau (82) and the Xinjiang Production and Construction Corps are not included;
// see [ProvinceOf] for configured extra codes.
func IsProvince(code string) bool {
	n := twoDigits(code)
	return n >= 0 && isProvince[n]
}

// Provinces returns the 31 province-level codes of DOMAIN rule I3, sorted. The caller owns the
// returned slice.
func Provinces() []string {
	out := make([]string, len(provinceCodes))
	copy(out, provinceCodes[:])
	return out
}

// IsDivisionCode reports whether code is a 6-digit administrative division code (GB/T 2260) whose
// first two digits are a province-level code, as used to identify agencies. Only the prefix is
// checked: the full list of prefecture and county codes is data, not code.
func IsDivisionCode(code string) bool {
	return len(code) == 6 && allDigits(code) && IsProvince(code[:2])
}

// ProvinceOf returns the 2-digit province of a 2- or 6-digit region code, or "" if invalid. An extra
// set of configured codes (e.g. the Xinjiang Production and Construction Corps, which has no GB/T 2260
// prefix and is given a configured code by the network's genesis) is accepted when passed in.
//
// The code must consist of ASCII digits only. Each extra code is a 2-digit province-level code
// that is accepted in addition to the 31 of [IsProvince]; entries that are not exactly two ASCII
// digits never match.
func ProvinceOf(code string, extra ...string) string {
	if (len(code) != 2 && len(code) != 6) || !allDigits(code) {
		return ""
	}
	p := code[:2]
	if IsProvince(p) {
		return p
	}
	for _, x := range extra {
		if x == p {
			return p
		}
	}
	return ""
}
