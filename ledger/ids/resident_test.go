package ids

import (
	"errors"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

var asOf2025 = civil.MustDate(2025, 1, 1)

// DOMAIN.md "Test vectors": valid ID numbers and what they encode.
var validIDVectors = []struct {
	in       string
	birth    civil.Date
	male     bool
	address  string
	province string
}{
	{"11010519491231002X", civil.MustDate(1949, 12, 31), false, "110105", "11"},
	{"440524188001010014", civil.MustDate(1880, 1, 1), true, "440524", "44"},
	{"34052419800101001X", civil.MustDate(1980, 1, 1), true, "340524", "34"},
	{"370101190102039973", civil.MustDate(1901, 2, 3), true, "370101", "37"},
	{"440305199003071236", civil.MustDate(1990, 3, 7), true, "440305", "44"},
	{"410102197602290188", civil.MustDate(1976, 2, 29), false, "410102", "41"},
	{"320583198001150190", civil.MustDate(1980, 1, 15), true, "320583", "32"},
}

func TestRuleI1_ResidentID_ValidVectors(t *testing.T) {
	for _, v := range validIDVectors {
		for _, asOf := range []civil.Date{{}, asOf2025, v.birth} {
			id, err := ParseResidentID(v.in, asOf)
			if err != nil {
				t.Fatalf("ParseResidentID(%q, %v): %v", v.in, asOf, err)
			}
			if id.String() != v.in {
				t.Errorf("String() = %q, want %q", id.String(), v.in)
			}
			if id.Birth() != v.birth {
				t.Errorf("%s: Birth() = %v, want %v", v.in, id.Birth(), v.birth)
			}
			if id.Male() != v.male {
				t.Errorf("%s: Male() = %v, want %v", v.in, id.Male(), v.male)
			}
			if id.AddressCode() != v.address {
				t.Errorf("%s: AddressCode() = %q, want %q", v.in, id.AddressCode(), v.address)
			}
			if id.Province() != v.province {
				t.Errorf("%s: Province() = %q, want %q", v.in, id.Province(), v.province)
			}
			if id.IsZero() {
				t.Errorf("%s: IsZero() = true", v.in)
			}
		}
	}
}

func TestRuleI1_ResidentID_LowerCaseX(t *testing.T) {
	id, err := ParseResidentID("11010519491231002x", asOf2025)
	if err != nil {
		t.Fatalf("lower-case x rejected: %v", err)
	}
	if id.String() != "11010519491231002X" {
		t.Fatalf("String() = %q, want upper-case X", id.String())
	}
	upper, _ := ParseResidentID("11010519491231002X", asOf2025)
	if id != upper {
		t.Fatalf("lower- and upper-case forms differ: %#v vs %#v", id, upper)
	}
	// x is only allowed as the check character.
	_, err = ParseResidentID("1101051949123100x2", asOf2025)
	wantReason(t, err, RuleResidentID, ReasonFormat)
}

func TestRuleI1_ResidentID_InvalidReasons(t *testing.T) {
	d := civil.MustDate
	cases := []struct {
		name, in string
		asOf     civil.Date
		reason   string
	}{
		// DOMAIN.md vectors.
		{"domain checksum", "110105194912310021", asOf2025, ReasonChecksum},
		{"domain birthdate 30 Feb", "110105199902300012", asOf2025, ReasonBirthdate},
		{"domain province 99", "990105194912310021", asOf2025, ReasonProvince},
		{"domain format 17 chars", "11010519491231002", asOf2025, ReasonFormat},

		// Format.
		{"empty", "", asOf2025, ReasonFormat},
		{"one char", "1", asOf2025, ReasonFormat},
		{"19 chars", "11010519491231002X0", asOf2025, ReasonFormat},
		{"legacy 15 digits", "110105491231002", asOf2025, ReasonFormat},
		{"leading space", " 11010519491231002X", asOf2025, ReasonFormat},
		{"trailing space", "11010519491231002X ", asOf2025, ReasonFormat},
		{"inner space", "110105 19491231002", asOf2025, ReasonFormat},
		{"hyphen", "110105-19491231002", asOf2025, ReasonFormat},
		{"check Y", "11010519491231002Y", asOf2025, ReasonFormat},
		{"check x-like unicode", "11010519491231002×", asOf2025, ReasonFormat},
		{"letter in body", "1101051949123100A2", asOf2025, ReasonFormat},
		{"X in body", "X10105194912310021", asOf2025, ReasonFormat},
		{"fullwidth digits", "１１０１０５１９４９１２３１００２Ｘ", asOf2025, ReasonFormat},
		{"18 bytes of CJK", "中国人民共和", asOf2025, ReasonFormat},
		{"arabic-indic digits", "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", asOf2025, ReasonFormat},
		{"invalid utf8", "\xff\xfe0105194912310021", asOf2025, ReasonFormat},
		{"NUL byte", "11010519491231002\x00", asOf2025, ReasonFormat},
		{"minus sign", "-10105194912310021", asOf2025, ReasonFormat},
		{"plus sign", "+10105194912310021", asOf2025, ReasonFormat},

		// Province (checksums made valid so only the prefix is wrong).
		{"prefix 00", withCheck(t, "00010519491231002"), asOf2025, ReasonProvince},
		{"prefix 10", withCheck(t, "10010519491231002"), asOf2025, ReasonProvince},
		{"prefix 16", withCheck(t, "16010519491231002"), asOf2025, ReasonProvince},
		{"prefix 55", withCheck(t, "55010519491231002"), asOf2025, ReasonProvince},
		{"prefix 66 (Corps has none)", withCheck(t, "66010519491231002"), asOf2025, ReasonProvince},
		{"prefix 72", withCheck(t, "72010519491231002"), asOf2025, ReasonProvince},
		{"prefix 84", withCheck(t, "84010519491231002"), asOf2025, ReasonProvince},
		{"prefix 91 (foreigner card)", withCheck(t, "91010519491231002"), asOf2025, ReasonProvince},

		// Birth date (checksums made valid).
		{"1900-02-29 not leap", withCheck(t, "11010519000229002"), asOf2025, ReasonBirthdate},
		{"2100-02-29 not leap", withCheck(t, "11010521000229002"), civil.Date{}, ReasonBirthdate},
		{"1999-02-29", withCheck(t, "11010519990229002"), asOf2025, ReasonBirthdate},
		{"month 00", withCheck(t, "11010519490031002"), asOf2025, ReasonBirthdate},
		{"month 13", withCheck(t, "11010519491331002"), asOf2025, ReasonBirthdate},
		{"day 00", withCheck(t, "11010519491200002"), asOf2025, ReasonBirthdate},
		{"day 32", withCheck(t, "11010519491232002"), asOf2025, ReasonBirthdate},
		{"April 31", withCheck(t, "11010519490431002"), asOf2025, ReasonBirthdate},
		{"year 0000", withCheck(t, "11010500000101002"), civil.Date{}, ReasonBirthdate},
		{"year 1799 (before the calendar)", withCheck(t, "11010517991231002"), civil.Date{}, ReasonBirthdate},
		{"future: one day after asOf", withCheck(t, "11010520240602002"), d(2024, 6, 1), ReasonBirthdate},
		{"future: next year", withCheck(t, "11010520250101002"), d(2024, 12, 31), ReasonBirthdate},
		{"future: year 9999", withCheck(t, "11010599991231002"), asOf2025, ReasonBirthdate},

		// Checksum.
		{"check 0 instead of X", "110105194912310020", asOf2025, ReasonChecksum},
		{"check X instead of 4", "44052418800101001X", asOf2025, ReasonChecksum},
		{"check x instead of 4", "44052418800101001x", asOf2025, ReasonChecksum},
		{"adjacent transposition", "440524188001010104", asOf2025, ReasonChecksum},
		{"year 0000, zeros", "110000000001010000", asOf2025, ReasonBirthdate},

		// Order of checks: the first failing check wins.
		{"format before province", "99010519491231002Y", asOf2025, ReasonFormat},
		{"province before birthdate", "990105199902300012", asOf2025, ReasonProvince},
		{"province before checksum", "990105194912310020", asOf2025, ReasonProvince},
		{"birthdate before checksum", "110105199902300010", asOf2025, ReasonBirthdate},
		{"future before checksum", "110105202406020020", d(2024, 6, 1), ReasonBirthdate},
	}
	// The order cases really do carry the later failure too.
	for _, s := range []string{"990105194912310020", "110105199902300010", "110105202406020020"} {
		if c, _ := CheckChar(s[:17]); c == s[17] {
			t.Fatalf("%s: checksum unexpectedly valid", s)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := ParseResidentID(c.in, c.asOf)
			e := wantReason(t, err, RuleResidentID, c.reason)
			if e.Input != c.in {
				t.Errorf("Input = %q, want the input as given %q", e.Input, c.in)
			}
			if e.Detail == "" {
				t.Errorf("empty Detail")
			}
			if !id.IsZero() {
				t.Errorf("got non-zero ID %v with error", id)
			}
			if !errors.Is(err, &Error{Rule: RuleResidentID, Reason: c.reason}) {
				t.Errorf("errors.Is does not match rule and reason")
			}
		})
	}
}

func TestRuleI1_ResidentID_LeapDays(t *testing.T) {
	for _, c := range []struct {
		date string
		ok   bool
	}{
		{"19000229", false}, {"20000229", true}, {"19960229", true}, {"18960229", true},
		{"18000229", false}, {"21000229", false}, {"20240229", true}, {"20230229", false},
	} {
		s := withCheck(t, "110105"+c.date+"003")
		id, err := ParseResidentID(s, civil.Date{})
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.date, err)
			} else if id.Birth().Day != 29 || id.Birth().Month != 2 {
				t.Errorf("%s: Birth() = %v", c.date, id.Birth())
			}
			continue
		}
		wantReason(t, err, RuleResidentID, ReasonBirthdate)
	}
}

func TestRuleI1_ResidentID_FutureBirth(t *testing.T) {
	s := withCheck(t, "44030520240602123") // born 2024-06-02
	birth := civil.MustDate(2024, 6, 2)
	if _, err := ParseResidentID(s, birth); err != nil {
		t.Errorf("born on asOf: %v", err)
	}
	if _, err := ParseResidentID(s, birth.AddDays(1)); err != nil {
		t.Errorf("born the day before asOf: %v", err)
	}
	_, err := ParseResidentID(s, birth.AddDays(-1))
	wantReason(t, err, RuleResidentID, ReasonBirthdate)
	if _, err := ParseResidentID(s, civil.Date{}); err != nil {
		t.Errorf("zero asOf must skip the future check: %v", err)
	}
	// Even a far-future date is accepted with a zero asOf if it is a real date.
	if _, err := ParseResidentID(withCheck(t, "44030599991231123"), civil.Date{}); err != nil {
		t.Errorf("zero asOf, year 9999: %v", err)
	}
}

func TestRuleI1_ResidentID_Before1900(t *testing.T) {
	for _, first17 := range []string{"44052418000101001", "11010518991231002", "31011518601015123"} {
		s := withCheck(t, first17)
		id, err := ParseResidentID(s, asOf2025)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if id.Birth().Year >= 1900 {
			t.Errorf("%s: Birth() = %v", s, id.Birth())
		}
	}
}

func TestRuleI1_ResidentID_ExtraPrefixes(t *testing.T) {
	// 71 Taiwan, 81 Hong Kong, 82 Macau, 83 Taiwan residents' residence permits.
	for _, p := range []string{"71", "81", "82", "83"} {
		s := withCheck(t, p+"000019800101001")
		id, err := ParseResidentID(s, asOf2025)
		if err != nil {
			t.Errorf("prefix %s: %v", p, err)
			continue
		}
		if id.Province() != p {
			t.Errorf("Province() = %q, want %q", id.Province(), p)
		}
		if IsProvince(p) {
			t.Errorf("IsProvince(%q) must stay false: I3 lists only the 31", p)
		}
	}
	for _, p := range Provinces() {
		if _, err := ParseResidentID(withCheck(t, p+"010119800101001"), asOf2025); err != nil {
			t.Errorf("province %s: %v", p, err)
		}
	}
	// Exactly 35 two-digit prefixes are accepted.
	n := 0
	for i := range 100 {
		if _, err := ParseResidentID(withCheck(t, itoaPad(i, 2)+"010119800101001"), asOf2025); err == nil {
			n++
		}
	}
	if n != 35 {
		t.Errorf("%d prefixes accepted, want 31 + 4", n)
	}
}

func TestRuleI1_ResidentID_Sex(t *testing.T) {
	for d := range 10 {
		s := withCheck(t, "1101051980010100"+string(rune('0'+d)))
		id, err := ParseResidentID(s, asOf2025)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if id.Male() != (d%2 == 1) {
			t.Errorf("%s: Male() = %v", s, id.Male())
		}
	}
}

func TestRuleI1_ResidentID_ZeroValue(t *testing.T) {
	var id ResidentID
	if !id.IsZero() || id.String() != "" || id.Birth() != (civil.Date{}) || id.Male() ||
		id.AddressCode() != "" || id.Province() != "" {
		t.Fatalf("zero ResidentID methods: %q %v %v %q %q", id.String(), id.Birth(), id.Male(), id.AddressCode(), id.Province())
	}
}

func TestRuleI1_NormaliseResidentID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"11010519491231002x", "11010519491231002X"},
		{"  11010519491231002x\t\r\n", "11010519491231002X"},
		{"\v\f440524188001010014 ", "440524188001010014"},
		{"xx", "XX"},
		{"1101 0519", "1101 0519"}, // inner spaces are kept
		{"\u00a011010519491231002X", "\u00a011010519491231002X"}, // not ASCII: kept
		{"\u3000x", "\u3000X"},
		{"abc", "abc"}, // only x is upper-cased
	} {
		if got := NormaliseResidentID(c.in); got != c.want {
			t.Errorf("NormaliseResidentID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	id, err := ParseResidentID(NormaliseResidentID(" 11010519491231002x "), asOf2025)
	if err != nil || id.String() != "11010519491231002X" {
		t.Fatalf("normalise then parse: %v %v", id, err)
	}
}

func TestRuleI1_CheckChar(t *testing.T) {
	for _, v := range validIDVectors {
		c, err := CheckChar(v.in[:17])
		if err != nil {
			t.Fatalf("CheckChar(%q): %v", v.in[:17], err)
		}
		if c != v.in[17] {
			t.Errorf("CheckChar(%q) = %c, want %c", v.in[:17], c, v.in[17])
		}
	}
	// Every check character is reachable: vary the last digit of the sequence and the address.
	seen := map[byte]bool{}
	for i := range 1000 {
		c, _ := CheckChar("110105198001" + itoaPad(i, 5))
		seen[c] = true
	}
	if len(seen) != 11 {
		t.Errorf("check characters seen: %d, want 11", len(seen))
	}
	for _, bad := range []string{"", "1101051949123100", "110105194912310021", "1101051949123100X",
		"11010519491231 02", "１１０１０５１９４９１", "\xff1010519491231002"} {
		_, err := CheckChar(bad)
		wantReason(t, err, RuleResidentID, ReasonFormat)
	}
}

// Property: for random 17-digit prefixes with a valid province and date, prefix+CheckChar parses;
// changing any single character (digit to another digit, or check character to any other allowed
// check character) makes it fail.
func TestRuleI1_ResidentID_Property(t *testing.T) {
	r := &rng{state: 0x1999_1101}
	n := 2000
	if testing.Short() {
		n = 200
	}
	const checkAlphabet = "0123456789X"
	for range n {
		first17, birth := randomFirst17(r)
		s := withCheck(t, first17)
		id, err := ParseResidentID(s, asOf2025)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if id.String() != s || id.Birth() != birth || id.AddressCode() != s[:6] {
			t.Fatalf("%s: decoded %v %v %v", s, id, id.Birth(), id.AddressCode())
		}
		for pos := range 18 {
			alphabet := "0123456789"
			if pos == 17 {
				alphabet = checkAlphabet
			}
			for k := 0; k < len(alphabet); k++ {
				c := alphabet[k]
				if c == s[pos] {
					continue
				}
				mutated := s[:pos] + string(c) + s[pos+1:]
				if _, err := ParseResidentID(mutated, civil.Date{}); err == nil {
					t.Fatalf("%s parses but differs from %s in position %d", mutated, s, pos+1)
				}
			}
		}
	}
}

func TestRuleI1_LegacyUpgrade(t *testing.T) {
	id, err := UpgradeLegacyID("110105491231002", asOf2025)
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != "11010519491231002X" {
		t.Fatalf("UpgradeLegacyID = %q, want 11010519491231002X", id)
	}
	if want, _ := ParseResidentID("11010519491231002X", asOf2025); id != want {
		t.Fatalf("upgraded value %#v differs from parsed %#v", id, want)
	}

	// Round trip: every 20th-century vector, shortened to 15 digits, upgrades back to itself.
	for _, v := range validIDVectors {
		if v.in[6:8] != "19" {
			continue
		}
		s15 := v.in[:6] + v.in[8:17]
		got, err := UpgradeLegacyID(s15, asOf2025)
		if err != nil {
			t.Errorf("UpgradeLegacyID(%q): %v", s15, err)
			continue
		}
		if got.String() != v.in {
			t.Errorf("UpgradeLegacyID(%q) = %q, want %q", s15, got, v.in)
		}
	}
	r := &rng{state: 15}
	for range 500 {
		first17, _ := randomFirst17(r)
		first17 = first17[:6] + "19" + first17[8:]
		if _, err := birthOfDigits(first17); err != nil {
			continue // e.g. 1900-02-29 produced by splicing 19 into a leap-day date
		}
		s18 := withCheck(t, first17)
		s15 := s18[:6] + s18[8:17]
		got, err := UpgradeLegacyID(s15, asOf2025)
		if err != nil || got.String() != s18 {
			t.Fatalf("UpgradeLegacyID(%q) = %q, %v; want %q", s15, got, err, s18)
		}
	}

	for _, c := range []struct {
		name, in string
		asOf     civil.Date
		reason   string
	}{
		{"empty", "", asOf2025, ReasonFormat},
		{"14 digits", "11010549123100", asOf2025, ReasonFormat},
		{"16 digits", "1101054912310021", asOf2025, ReasonFormat},
		{"18 digits", "11010519491231002X", asOf2025, ReasonFormat},
		{"trailing X", "11010549123100X", asOf2025, ReasonFormat},
		{"letter", "11010549123A002", asOf2025, ReasonFormat},
		{"space", " 10105491231002", asOf2025, ReasonFormat},
		{"unicode", "１１０１０５４９１", asOf2025, ReasonFormat},
		{"province 99", "990105491231002", asOf2025, ReasonProvince},
		{"province 00", "000105491231002", asOf2025, ReasonProvince},
		{"30 Feb", "110105490230002", asOf2025, ReasonBirthdate},
		{"1900-02-29", "110105000229002", asOf2025, ReasonBirthdate},
		{"month 13", "110105491301002", asOf2025, ReasonBirthdate},
		{"born after asOf", "110105990101002", civil.MustDate(1998, 12, 31), ReasonBirthdate},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := UpgradeLegacyID(c.in, c.asOf)
			e := wantReason(t, err, RuleResidentID, c.reason)
			if e.Input != c.in {
				t.Errorf("Input = %q, want the legacy input %q", e.Input, c.in)
			}
		})
	}
	// 1996-02-29 exists; with a zero asOf no future check is made.
	if _, err := UpgradeLegacyID("110105960229002", civil.Date{}); err != nil {
		t.Errorf("leap day 1996: %v", err)
	}
}

// birthOfDigits decodes the birth date of 17 or 18 digits (test helper).
func birthOfDigits(s string) (civil.Date, error) {
	return civil.ParseDate(s[6:10] + "-" + s[10:12] + "-" + s[12:14])
}

func TestRuleI1_ErrorMessage(t *testing.T) {
	_, err := ParseResidentID("110105194912310021", asOf2025)
	want := `ids: I1 checksum: "110105194912310021": check character is 1, want X`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	long := strings.Repeat("9", 1000)
	_, err = ParseResidentID(long, asOf2025)
	e := wantReason(t, err, RuleResidentID, ReasonFormat)
	if e.Input != long {
		t.Errorf("Input field must hold the full input")
	}
	msg := err.Error()
	if !strings.Contains(msg, `"`+strings.Repeat("9", 40)+`…"`) || strings.Contains(msg, strings.Repeat("9", 41)) {
		t.Errorf("message not truncated to 40 characters: %q", msg)
	}
	_, err = ParseResidentID(strings.Repeat("中", 50), asOf2025)
	if msg := err.Error(); !strings.Contains(msg, strings.Repeat("中", 40)+"…") || strings.Contains(msg, strings.Repeat("中", 41)) {
		t.Errorf("unicode input not truncated by characters: %q", msg)
	}
	_, err = ParseResidentID(strings.Repeat("\xff", 50), asOf2025)
	if msg := err.Error(); strings.Count(msg, `\xff`) != 40 {
		t.Errorf("invalid UTF-8 not truncated to 40 bytes: %q", msg)
	}
}
