package ids

import (
	"strconv"
	"strings"

	"github.com/jaminan/jaminan/ledger/civil"
)

// residentIDLen and legacyIDLen are the lengths of current and legacy (pre-1999) ID numbers.
const (
	residentIDLen = 18
	legacyIDLen   = 15
)

// residentWeights are the GB 11643-1999 weights W_i = 2^(18-i) mod 11 for the first 17 digits.
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentCheck maps S mod 11 to the check character.
const residentCheck = "10X98765432"

// idAddressPrefix lists the two-digit prefixes accepted in the address code of a resident ID
// number (rule I1). It is wider than the 31 province-level codes of rule I3 on purpose:
//
//   - the 31 mainland province-level codes (see provinceCodes);
//   - 71 Taiwan, 81 Hong Kong and 82 Macau, which are GB/T 2260 province-level codes and are used by
//     the residence permits (居住证) issued since 2018 to Hong Kong and Macau residents (810000,
//     820000), who may join social insurance in the mainland;
//   - 83, the prefix used by residence permits for Taiwan residents (830000), which is not a
//     GB/T 2260 code but is issued by the mainland authorities in the same 18-character format.
//
// Not accepted: the Xinjiang Production and Construction Corps has no prefix of its own (its people
// hold Xinjiang 65 numbers), and the 2023 foreigners' permanent residence ID card, which starts with
// 9, is a different identifier with its own rules.
var idAddressPrefix = func() (t [100]bool) {
	t = isProvince
	for _, n := range []int{71, 81, 82, 83} {
		t[n] = true
	}
	return t
}()

// ResidentID is a validated 18-character resident ID number (rule I1, GB 11643-1999). The zero
// value is the empty, invalid ID; every other value was produced by [ParseResidentID] or
// [UpgradeLegacyID] and holds the normalised form (upper-case X). ResidentID values are comparable
// with ==.
//
// The address code is where the person was first registered, not the current hukou province:
// store the hukou province separately and never derive it from the number.
type ResidentID struct {
	s string
}

// NormaliseResidentID trims leading and trailing ASCII white space (space, tab, CR, LF, VT, FF)
// and upper-cases the letter x. It does not validate: pass the result to [ParseResidentID].
func NormaliseResidentID(s string) string {
	s = trimASCIISpace(s)
	if strings.IndexByte(s, 'x') >= 0 {
		s = strings.ReplaceAll(s, "x", "X")
	}
	return s
}

// trimASCIISpace removes leading and trailing ASCII white space only (never Unicode spaces, so the
// result is a byte-exact substring of s).
func trimASCIISpace(s string) string {
	isSpace := func(c byte) bool {
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
	}
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// CheckChar returns the GB 11643-1999 check character ('0'–'9' or 'X') for the first 17 digits of
// a resident ID number: S = Σ a_i·W_i, check = "10X98765432"[S mod 11]. It fails with an I1
// format error unless first17 is exactly 17 ASCII digits.
func CheckChar(first17 string) (byte, error) {
	if len(first17) != residentIDLen-1 {
		return 0, newError(RuleResidentID, ReasonFormat, first17,
			"need 17 digits to compute the check character, got "+strconv.Itoa(len(first17))+" bytes")
	}
	if i := firstNonDigit(first17); i >= 0 {
		return 0, newError(RuleResidentID, ReasonFormat, first17,
			"character "+strconv.Itoa(i+1)+" is not a digit")
	}
	return checkChar(first17), nil
}

// checkChar computes the check character of 17 ASCII digits (not verified).
func checkChar(first17 string) byte {
	sum := 0
	for i, w := range residentWeights {
		sum += int(first17[i]-'0') * w
	}
	return residentCheck[sum%11]
}

// firstNonDigit returns the index of the first byte of s that is not an ASCII digit, or -1.
func firstNonDigit(s string) int {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return i
		}
	}
	return -1
}

// ParseResidentID validates an 18-character resident ID number under rule I1 and returns it in
// normalised form. The checks run in this order and the first failure is reported as an *[Error]
// with Rule "I1":
//
//   - format: exactly 18 bytes; 17 ASCII digits then a digit, 'X' or 'x';
//   - province: the address code starts with a province-level prefix: the 31 mainland codes of
//     rule I3, or 71 Taiwan, 81 Hong Kong, 82 Macau, 83 Taiwan residents' residence permits (see
//     the note on accepted prefixes in the source);
//   - birthdate: characters 7–14 are a real date YYYYMMDD (dates before 1900 are valid; the
//     calendar of package civil starts in 1800) and not after asOf; if asOf is the zero Date the
//     future check is skipped;
//   - checksum: the 18th character equals [CheckChar] of the first 17.
//
// asOf is supplied by the caller (normally the effective date of the record); this package never
// reads a clock. The input is not trimmed: use [NormaliseResidentID] on text typed by people.
func ParseResidentID(s string, asOf civil.Date) (ResidentID, error) {
	if len(s) != residentIDLen {
		return ResidentID{}, newError(RuleResidentID, ReasonFormat, s,
			"need 18 characters, got "+strconv.Itoa(len(s))+" bytes")
	}
	if i := firstNonDigit(s[:17]); i >= 0 {
		return ResidentID{}, newError(RuleResidentID, ReasonFormat, s,
			"character "+strconv.Itoa(i+1)+" is not a digit")
	}
	in := s // as given, for error messages
	last := s[17]
	if last == 'x' {
		last = 'X'
		s = s[:17] + "X"
	}
	if !isDigit(last) && last != 'X' {
		return ResidentID{}, newError(RuleResidentID, ReasonFormat, in,
			"check character must be a digit or X")
	}
	if !idAddressPrefix[twoDigits(s[:2])] {
		return ResidentID{}, newError(RuleResidentID, ReasonProvince, in,
			"address code "+s[:6]+" does not start with a province-level code")
	}
	birth, ok := birthOf(s)
	if !ok {
		return ResidentID{}, newError(RuleResidentID, ReasonBirthdate, in,
			s[6:14]+" is not a real date")
	}
	if !asOf.IsZero() && birth.After(asOf) {
		return ResidentID{}, newError(RuleResidentID, ReasonBirthdate, in,
			"born "+birth.String()+", after "+asOf.String())
	}
	if want := checkChar(s[:17]); last != want {
		return ResidentID{}, newError(RuleResidentID, ReasonChecksum, in,
			"check character is "+string(last)+", want "+string(want))
	}
	return ResidentID{s: s}, nil
}

// birthOf decodes the birth date in characters 7–14 of an ID number whose first 17 characters are
// digits.
func birthOf(s string) (civil.Date, bool) {
	y := int(s[6]-'0')*1000 + int(s[7]-'0')*100 + int(s[8]-'0')*10 + int(s[9]-'0')
	m := int(s[10]-'0')*10 + int(s[11]-'0')
	d := int(s[12]-'0')*10 + int(s[13]-'0')
	date, err := civil.NewDate(y, m, d)
	return date, err == nil
}

// UpgradeLegacyID converts a legacy 15-digit resident ID number (6-digit address code, birth date
// YYMMDD, 3-digit sequence) into the 18-character form by inserting "19" before the date and
// appending the check character, then validates the result exactly like [ParseResidentID]
// (province, birth date against asOf). Use it only on the explicit import path for old records:
// live records must carry 18-character numbers.
//
// Errors are *[Error] with Rule "I1"; their Input is the 15-digit number as given.
func UpgradeLegacyID(s15 string, asOf civil.Date) (ResidentID, error) {
	if len(s15) != legacyIDLen {
		return ResidentID{}, newError(RuleResidentID, ReasonFormat, s15,
			"legacy number needs 15 digits, got "+strconv.Itoa(len(s15))+" bytes")
	}
	if i := firstNonDigit(s15); i >= 0 {
		return ResidentID{}, newError(RuleResidentID, ReasonFormat, s15,
			"character "+strconv.Itoa(i+1)+" is not a digit")
	}
	first17 := s15[:6] + "19" + s15[6:]
	id, err := ParseResidentID(first17+string(checkChar(first17)), asOf)
	if err != nil {
		e := err.(*Error)
		e.Detail = "upgraded to " + e.Input + ": " + e.Detail
		e.Input = s15
		return ResidentID{}, e
	}
	return id, nil
}

// String returns the normalised 18-character number (upper-case X), or "" for the zero value.
func (r ResidentID) String() string { return r.s }

// IsZero reports whether r is the zero (absent) ID.
func (r ResidentID) IsZero() bool { return r.s == "" }

// Birth returns the birth date encoded in the number, or the zero Date for the zero value.
func (r ResidentID) Birth() civil.Date {
	if len(r.s) != residentIDLen {
		return civil.Date{}
	}
	d, _ := birthOf(r.s)
	return d
}

// Male reports whether the 17th character (the last digit of the sequence code) is odd, which
// GB 11643-1999 reserves for men. It is false for the zero value.
func (r ResidentID) Male() bool {
	return len(r.s) == residentIDLen && (r.s[16]-'0')%2 == 1
}

// AddressCode returns the 6-digit address code: the division where the person was first
// registered. It is "" for the zero value.
func (r ResidentID) AddressCode() string {
	if len(r.s) != residentIDLen {
		return ""
	}
	return r.s[:6]
}

// Province returns the first two digits of the address code: the province where the person was
// FIRST registered, which is not the current hukou province. It is "" for the zero value.
func (r ResidentID) Province() string {
	if len(r.s) != residentIDLen {
		return ""
	}
	return r.s[:2]
}
