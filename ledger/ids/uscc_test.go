package ids

import (
	"errors"
	"strings"
	"testing"
)

// DOMAIN.md "Test vectors": valid unified social credit codes.
var validUSCCVectors = []struct{ in, region string }{
	{"91350100M000100Y43", "350100"}, // GB 32100-2015's own example
	{"91110000600037341L", "110000"},
	{"91440300123456788M", "440300"},
}

func TestRuleI2_USCC_ValidVectors(t *testing.T) {
	for _, v := range validUSCCVectors {
		u, err := ParseUSCC(v.in)
		if err != nil {
			t.Fatalf("ParseUSCC(%q): %v", v.in, err)
		}
		if u.String() != v.in || u.RegionCode() != v.region || u.Legacy || u.IsZero() {
			t.Errorf("ParseUSCC(%q) = %q region %q legacy %v", v.in, u, u.RegionCode(), u.Legacy)
		}
		l, err := ParseLegacyUSCC(v.in)
		if err != nil || l != u {
			t.Errorf("ParseLegacyUSCC(%q) = %#v, %v; want %#v", v.in, l, err, u)
		}
		c, err := USCCCheckChar(v.in[:17])
		if err != nil || c != v.in[17] {
			t.Errorf("USCCCheckChar(%q) = %c, %v; want %c", v.in[:17], c, err, v.in[17])
		}
	}
}

// The standard's worked example: Σ = 1640, 1640 mod 31 = 28, check value 3.
func TestRuleI2_USCC_StandardExample(t *testing.T) {
	const code = "91350100M000100Y4"
	sum := 0
	for i := range 17 {
		sum += strings.IndexByte(usccAlphabet, code[i]) * usccWeights[i]
	}
	if sum != 1640 || sum%31 != 28 {
		t.Fatalf("Σ = %d (mod 31 = %d), want 1640 (28)", sum, sum%31)
	}
	if c, _ := USCCCheckChar(code); c != '3' {
		t.Fatalf("check = %c, want 3", c)
	}
}

func TestRuleI2_USCC_Weights(t *testing.T) {
	w := 1
	for i := range 17 {
		if usccWeights[i] != w {
			t.Errorf("W_%d = %d, want 3^%d mod 31 = %d", i+1, usccWeights[i], i, w)
		}
		w = w * 3 % 31
	}
	if len(usccAlphabet) != 31 || strings.ContainsAny(usccAlphabet, "IOSVZ") {
		t.Fatalf("alphabet %q", usccAlphabet)
	}
}

func TestRuleI2_USCC_InvalidReasons(t *testing.T) {
	cases := []struct{ name, in, reason string }{
		// DOMAIN.md vectors.
		{"domain format Z", "91350100M000100Y4Z", ReasonFormat},
		{"domain checksum", "91310115MA1H8R7C6D", ReasonChecksum},

		{"empty", "", ReasonFormat},
		{"17 chars", "91350100M000100Y4", ReasonFormat},
		{"19 chars", "91350100M000100Y430", ReasonFormat},
		{"leading space", " 91350100M000100Y4", ReasonFormat},
		{"trailing space", "91350100M000100Y43 ", ReasonFormat},
		{"lower case", "91350100m000100y43", ReasonFormat},
		{"I", "91350100I000100Y43", ReasonFormat},
		{"O", "91350100O000100Y43", ReasonFormat},
		{"S", "S1350100M000100Y43", ReasonFormat},
		{"V", "9V350100M000100Y43", ReasonFormat},
		{"Z check", "91350100M000100Y4Z", ReasonFormat},
		{"hyphen", "9135-100M000100Y43", ReasonFormat},
		{"letter in region code", withUSCCCheck(t, "91A50100M000100Y4"), ReasonFormat},
		{"letter at position 8", withUSCCCheck(t, "9135010MM000100Y4"), ReasonFormat},
		{"fullwidth", "９１３５０１００Ｍ０００１００Ｙ４３", ReasonFormat},
		{"18 bytes CJK", "统一社会信用", ReasonFormat},
		{"invalid utf8", "\xff1350100M000100Y43", ReasonFormat},
		{"NUL", "91350100M000100Y4\x00", ReasonFormat},
		{"wrong check digit", "91350100M000100Y44", ReasonChecksum},
		{"wrong check letter", "91110000600037341M", ReasonChecksum},
		{"transposed", "91350100M000100Y34", ReasonChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := ParseUSCC(c.in)
			e := wantReason(t, err, RuleUSCC, c.reason)
			if e.Input != c.in || e.Detail == "" || !u.IsZero() {
				t.Errorf("Input %q Detail %q value %#v", e.Input, e.Detail, u)
			}
			if !errors.Is(err, &Error{Rule: RuleUSCC, Reason: c.reason}) {
				t.Errorf("errors.Is does not match")
			}
			l, lerr := ParseLegacyUSCC(c.in)
			if c.reason == ReasonFormat {
				wantReason(t, lerr, RuleUSCC, ReasonFormat)
				return
			}
			if lerr != nil || !l.Legacy || l.String() != c.in {
				t.Errorf("ParseLegacyUSCC(%q) = %#v, %v; want accepted and flagged", c.in, l, lerr)
			}
		})
	}
}

func TestRuleI2_USCC_Legacy(t *testing.T) {
	u, err := ParseLegacyUSCC("91310115MA1H8R7C6D")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Legacy || u.RegionCode() != "310115" || u.String() != "91310115MA1H8R7C6D" {
		t.Fatalf("got %#v region %q", u, u.RegionCode())
	}
	strict, err := ParseUSCC(u.String())
	wantReason(t, err, RuleUSCC, ReasonChecksum)
	if !strict.IsZero() {
		t.Fatalf("strict parse returned a value with an error")
	}
	if _, err := ParseUSCC("91310115MA1H8R7C67"); err != nil {
		t.Fatalf("corrected code: %v", err)
	}
}

func TestRuleI2_USCC_CheckChar(t *testing.T) {
	// Every value 0–30 is reachable, including the case 31 → 0 (Σ mod 31 = 0).
	seen := map[byte]bool{}
	zeroSum := false
	for i := range 2000 {
		first17 := "913501" + itoaPad(i, 11)
		c, err := USCCCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		seen[c] = true
		sum := 0
		for k := range 17 {
			sum += strings.IndexByte(usccAlphabet, first17[k]) * usccWeights[k]
		}
		if sum%31 == 0 {
			zeroSum = true
			if c != '0' {
				t.Errorf("Σ mod 31 = 0 for %s: check %c, want 0", first17, c)
			}
		}
		if want := usccAlphabet[(31-sum%31)%31]; c != want {
			t.Errorf("%s: check %c, want %c", first17, c, want)
		}
	}
	if len(seen) != 31 || !zeroSum {
		t.Errorf("check characters seen %d, zero sum seen %v", len(seen), zeroSum)
	}
	for _, bad := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100M000100YZ",
		"91350100m000100Y4", "９１３５０"} {
		_, err := USCCCheckChar(bad)
		wantReason(t, err, RuleUSCC, ReasonFormat)
	}
}

// Property: random codes with a correct check character parse; any single substitution by another
// character of the alphabet (a digit in positions 3–8) fails the strict parse and is flagged
// Legacy by the lenient one.
func TestRuleI2_USCC_Property(t *testing.T) {
	r := &rng{state: 32100}
	n := 1000
	if testing.Short() {
		n = 100
	}
	for range n {
		b := make([]byte, 17)
		for i := range b {
			if i >= 2 && i < 8 {
				b[i] = byte('0' + r.intn(10))
			} else {
				b[i] = usccAlphabet[r.intn(31)]
			}
		}
		s := withUSCCCheck(t, string(b))
		u, err := ParseUSCC(s)
		if err != nil || u.String() != s || u.RegionCode() != s[2:8] {
			t.Fatalf("%s: %#v %v", s, u, err)
		}
		for pos := range 18 {
			alphabet := usccAlphabet
			if pos >= 2 && pos < 8 {
				alphabet = "0123456789"
			}
			for k := 0; k < len(alphabet); k++ {
				if alphabet[k] == s[pos] {
					continue
				}
				m := s[:pos] + string(alphabet[k]) + s[pos+1:]
				_, err := ParseUSCC(m)
				wantReason(t, err, RuleUSCC, ReasonChecksum)
				if l, err := ParseLegacyUSCC(m); err != nil || !l.Legacy {
					t.Fatalf("ParseLegacyUSCC(%s) = %#v, %v", m, l, err)
				}
			}
		}
	}
}

func TestRuleI2_NormaliseUSCC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{" 91350100m000100y43\t", "91350100M000100Y43"},
		{"91350100M000100Y43", "91350100M000100Y43"},
		{"abc 中z", "ABC 中Z"},
	} {
		if got := NormaliseUSCC(c.in); got != c.want {
			t.Errorf("NormaliseUSCC(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if _, err := ParseUSCC(NormaliseUSCC(" 91350100m000100y43 ")); err != nil {
		t.Errorf("normalise then parse: %v", err)
	}
}

func TestRuleI2_USCC_ZeroValue(t *testing.T) {
	var u USCC
	if !u.IsZero() || u.String() != "" || u.RegionCode() != "" || u.Legacy {
		t.Fatalf("zero USCC: %#v", u)
	}
}
