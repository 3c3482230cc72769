package ids

import (
	"strconv"
	"strings"
)

// usccLen is the length of a unified social credit code.
const usccLen = 18

// usccAlphabet is the GB 32100-2015 character set; a character's value is its index here. The
// letters I, O, S, V and Z are excluded.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are W_i = 3^(i−1) mod 31 for positions 1–17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// usccValue maps a byte to its value in usccAlphabet, or -1 if it is not in the alphabet.
var usccValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(usccAlphabet); i++ {
		t[usccAlphabet[i]] = int8(i)
	}
	return t
}()

// USCC is a unified social credit code (rule I2, GB 32100-2015), the identifier of an employer.
// The zero value is the empty, invalid code. Values are comparable with ==.
//
// Layout: position 1 registering authority (9 market regulation, 5 civil affairs, 1 staffing
// office, Y other…), 2 entity category, 3–8 region code (digits), 9–17 organisation code, 18 check
// character.
type USCC struct {
	s string
	// Legacy is true for a code imported by [ParseLegacyUSCC] whose check character is wrong. Such
	// codes are accepted for old records but must be flagged; new registrations go through
	// [ParseUSCC], which never sets Legacy.
	Legacy bool
}

// NormaliseUSCC trims leading and trailing ASCII white space and upper-cases ASCII letters. It
// does not validate: pass the result to [ParseUSCC].
func NormaliseUSCC(s string) string {
	s = trimASCIISpace(s)
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// USCCCheckChar returns the GB 32100-2015 check character for the first 17 characters of a
// unified social credit code: with v_i the index of character i in the alphabet
// 0123456789ABCDEFGHJKLMNPQRTUWXY and W_i = 3^(i−1) mod 31, the check value is
// 31 − (Σ v_i·W_i mod 31), with 31 written as 0. It fails with an I2 format error unless first17 is
// exactly 17 characters of the alphabet (upper case).
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != usccLen-1 {
		return 0, newError(RuleUSCC, ReasonFormat, first17,
			"need 17 characters to compute the check character, got "+strconv.Itoa(len(first17))+" bytes")
	}
	if i := firstNotInUSCCAlphabet(first17); i >= 0 {
		return 0, newError(RuleUSCC, ReasonFormat, first17, badUSCCChar(first17, i))
	}
	return usccCheckChar(first17), nil
}

// usccCheckChar computes the check character of 17 characters of the alphabet (not verified).
func usccCheckChar(first17 string) byte {
	sum := 0
	for i, w := range usccWeights {
		sum += int(usccValue[first17[i]]) * w
	}
	return usccAlphabet[(31-sum%31)%31]
}

// firstNotInUSCCAlphabet returns the index of the first byte of s outside the alphabet, or -1.
func firstNotInUSCCAlphabet(s string) int {
	for i := 0; i < len(s); i++ {
		if usccValue[s[i]] < 0 {
			return i
		}
	}
	return -1
}

func badUSCCChar(s string, i int) string {
	c := s[i]
	switch {
	case c >= 'a' && c <= 'z':
		return "character " + strconv.Itoa(i+1) + " is lower case"
	case strings.IndexByte("IOSVZ", c) >= 0:
		return "character " + strconv.Itoa(i+1) + " is " + string(c) + ", which the alphabet excludes"
	}
	return "character " + strconv.Itoa(i+1) + " is not in the alphabet " + usccAlphabet
}

// ParseUSCC validates a unified social credit code under rule I2, strictly, as required for new
// registrations. Failures are *[Error] with Rule "I2" and reason:
//
//   - format: not exactly 18 bytes, a character outside 0123456789ABCDEFGHJKLMNPQRTUWXY (no I, O,
//     S, V, Z, no lower case), or a non-digit among positions 3–8 (the region code);
//   - checksum: the 18th character is not [USCCCheckChar] of the first 17.
//
// The region code is not checked against the province list: codes issued by national
// authorities use 100000, and the region list is data. The organisation code in positions 9–17
// is not checked against GB 11714 either.
func ParseUSCC(s string) (USCC, error) {
	u, err := parseUSCC(s)
	if err != nil {
		return USCC{}, err
	}
	if u.Legacy {
		want := usccCheckChar(s[:17])
		return USCC{}, newError(RuleUSCC, ReasonChecksum, s,
			"check character is "+string(s[17])+", want "+string(want))
	}
	return u, nil
}

// ParseLegacyUSCC validates a unified social credit code imported from an old register. Format
// errors are rejected as by [ParseUSCC], but a wrong check character is accepted and flagged with
// Legacy = true. A code that passes the check is returned with Legacy = false.
func ParseLegacyUSCC(s string) (USCC, error) {
	return parseUSCC(s)
}

// parseUSCC checks the format and sets Legacy if the check character is wrong.
func parseUSCC(s string) (USCC, error) {
	if len(s) != usccLen {
		return USCC{}, newError(RuleUSCC, ReasonFormat, s,
			"need 18 characters, got "+strconv.Itoa(len(s))+" bytes")
	}
	if i := firstNotInUSCCAlphabet(s); i >= 0 {
		return USCC{}, newError(RuleUSCC, ReasonFormat, s, badUSCCChar(s, i))
	}
	if i := firstNonDigit(s[2:8]); i >= 0 {
		return USCC{}, newError(RuleUSCC, ReasonFormat, s,
			"character "+strconv.Itoa(i+3)+" is in the region code and must be a digit")
	}
	return USCC{s: s, Legacy: usccCheckChar(s[:17]) != s[17]}, nil
}

// String returns the 18-character code, or "" for the zero value.
func (u USCC) String() string { return u.s }

// IsZero reports whether u is the zero (absent) code.
func (u USCC) IsZero() bool { return u.s == "" }

// RegionCode returns positions 3–8, the 6-digit administrative division code of the registering
// authority, or "" for the zero value.
func (u USCC) RegionCode() string {
	if len(u.s) != usccLen {
		return ""
	}
	return u.s[2:8]
}
