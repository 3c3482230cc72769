package ids

import (
	"errors"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
)

var fuzzAsOf = civil.MustDate(2025, 1, 1)

// checkError verifies the invariants of a rejection: an *Error of the given rule with a known
// reason, the input as given, and a bounded message.
func checkError(t *testing.T, err error, rule, input string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *ids.Error", err, err)
	}
	if e.Rule != rule {
		t.Fatalf("rule %q, want %q", e.Rule, rule)
	}
	switch e.Reason {
	case ReasonFormat, ReasonProvince, ReasonBirthdate, ReasonChecksum:
	default:
		t.Fatalf("unknown reason %q", e.Reason)
	}
	if rule == RuleUSCC && e.Reason != ReasonFormat && e.Reason != ReasonChecksum {
		t.Fatalf("USCC reason %q", e.Reason)
	}
	if e.Input != input {
		t.Fatalf("Input %q, want %q", e.Input, input)
	}
	// 40 characters quoted: at most 10 bytes per character (\U0001f600), plus prefix and detail.
	if msg := err.Error(); len(msg) > 40*10+300 {
		t.Fatalf("message too long (%d bytes): %q", len(msg), msg)
	}
}

// checkResidentID verifies the invariants of an accepted resident ID.
func checkResidentID(t *testing.T, id ResidentID, asOf civil.Date) {
	t.Helper()
	s := id.String()
	if len(s) != 18 || strings.ContainsRune(s, 'x') {
		t.Fatalf("String() = %q", s)
	}
	again, err := ParseResidentID(s, asOf)
	if err != nil || again != id {
		t.Fatalf("String() %q does not re-parse to the same value: %#v, %v", s, again, err)
	}
	if c, err := CheckChar(s[:17]); err != nil || c != s[17] {
		t.Fatalf("CheckChar(%q) = %c, %v; stored %c", s[:17], c, err, s[17])
	}
	b := id.Birth()
	if !b.Valid() || (!asOf.IsZero() && b.After(asOf)) {
		t.Fatalf("Birth() = %v with asOf %v", b, asOf)
	}
	if b.String() != s[6:10]+"-"+s[10:12]+"-"+s[12:14] {
		t.Fatalf("Birth() = %v for %s", b, s)
	}
	if id.AddressCode() != s[:6] || id.Province() != s[:2] {
		t.Fatalf("AddressCode %q Province %q for %s", id.AddressCode(), id.Province(), s)
	}
	if p := s[:2]; !IsProvince(p) && p != "71" && p != "81" && p != "82" && p != "83" {
		t.Fatalf("accepted prefix %q", p)
	}
	if id.Male() != ((s[16]-'0')%2 == 1) {
		t.Fatalf("Male() = %v for %s", id.Male(), s)
	}
}

func FuzzParseResidentID(f *testing.F) {
	for _, v := range validIDVectors {
		f.Add(v.in)
	}
	for _, s := range []string{"11010519491231002x", "110105194912310021", "110105199902300012",
		"990105194912310021", "11010519491231002", "", " 11010519491231002X ",
		"11010519000229002X", "110105200002290021", "１１０１０５１９４９１２３１００２Ｘ", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseResidentID(s, fuzzAsOf)
		idNoAsOf, errNoAsOf := ParseResidentID(s, civil.Date{})
		if err != nil {
			checkError(t, err, RuleResidentID, s)
			if !id.IsZero() {
				t.Fatalf("value %#v returned with error", id)
			}
		} else {
			checkResidentID(t, id, fuzzAsOf)
			if s != id.String() && !(s[17] == 'x' && s[:17]+"X" == id.String()) {
				t.Fatalf("ParseResidentID(%q) = %q", s, id)
			}
			if NormaliseResidentID(s) != id.String() {
				t.Fatalf("NormaliseResidentID(%q) = %q, parsed %q", s, NormaliseResidentID(s), id)
			}
			// Accepted with asOf ⇒ accepted without it, same value.
			if errNoAsOf != nil || idNoAsOf != id {
				t.Fatalf("zero asOf: %#v, %v", idNoAsOf, errNoAsOf)
			}
		}
		if errNoAsOf != nil {
			checkError(t, errNoAsOf, RuleResidentID, s)
		} else {
			checkResidentID(t, idNoAsOf, civil.Date{})
		}
		// The only difference a zero asOf can make is a future birth date.
		if err != nil && errNoAsOf == nil {
			var e *Error
			errors.As(err, &e)
			if e.Reason != ReasonBirthdate || !idNoAsOf.Birth().After(fuzzAsOf) {
				t.Fatalf("rejected only with asOf, reason %q birth %v", e.Reason, idNoAsOf.Birth())
			}
		}
		// Normalising never makes a valid number invalid.
		if errNoAsOf == nil {
			if n, err := ParseResidentID(NormaliseResidentID(" "+s+"\t"), civil.Date{}); err != nil || n != idNoAsOf {
				t.Fatalf("normalised %q: %#v, %v", s, n, err)
			}
		}
		if len(s) == 17 {
			if c, err := CheckChar(s); err == nil {
				if _, err := ParseResidentID(s+string(c), civil.Date{}); err != nil {
					checkError(t, err, RuleResidentID, s+string(c))
					var e *Error
					errors.As(err, &e)
					if e.Reason == ReasonChecksum || e.Reason == ReasonFormat {
						t.Fatalf("prefix+CheckChar(%q) rejected: %v", s, err)
					}
				}
			} else {
				checkError(t, err, RuleResidentID, s)
			}
		}
	})
}

func FuzzParseUSCC(f *testing.F) {
	for _, v := range validUSCCVectors {
		f.Add(v.in)
	}
	for _, s := range []string{"91350100M000100Y4Z", "91310115MA1H8R7C6D", "", "91350100m000100y43",
		"91A50100M000100Y43", "统一社会信用", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSCC(s)
		l, lerr := ParseLegacyUSCC(s)
		if err == nil {
			if u.Legacy || u.String() != s || u.RegionCode() != s[2:8] || !allDigits(u.RegionCode()) {
				t.Fatalf("ParseUSCC(%q) = %#v region %q", s, u, u.RegionCode())
			}
			again, err := ParseUSCC(u.String())
			if err != nil || again != u {
				t.Fatalf("String() %q does not re-parse: %#v, %v", u, again, err)
			}
			if c, err := USCCCheckChar(s[:17]); err != nil || c != s[17] {
				t.Fatalf("USCCCheckChar(%q) = %c, %v", s[:17], c, err)
			}
			if lerr != nil || l != u {
				t.Fatalf("lenient parse differs: %#v, %v", l, lerr)
			}
			return
		}
		checkError(t, err, RuleUSCC, s)
		if !u.IsZero() {
			t.Fatalf("value %#v returned with error", u)
		}
		var e *Error
		errors.As(err, &e)
		if e.Reason == ReasonFormat {
			if lerr == nil {
				t.Fatalf("lenient parse accepted a format error: %#v", l)
			}
			checkError(t, lerr, RuleUSCC, s)
			var le *Error
			errors.As(lerr, &le)
			if le.Reason != ReasonFormat {
				t.Fatalf("lenient reason %q", le.Reason)
			}
			return
		}
		// Checksum failure: lenient parse accepts and flags it.
		if lerr != nil || !l.Legacy || l.String() != s {
			t.Fatalf("ParseLegacyUSCC(%q) = %#v, %v", s, l, lerr)
		}
		again, err := ParseLegacyUSCC(l.String())
		if err != nil || again != l {
			t.Fatalf("legacy String() %q does not re-parse: %#v, %v", l, again, err)
		}
		if NormaliseUSCC(s) != s {
			t.Fatalf("NormaliseUSCC changed an accepted code %q", s)
		}
	})
}

func FuzzUpgradeLegacyID(f *testing.F) {
	for _, s := range []string{"110105491231002", "440305900307123", "410102760229018", "990105491231002",
		"110105490230002", "110105000229002", "11010549123100X", "", "1101054912310021",
		"１１０１０５４９１", "\xff10105491231002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := UpgradeLegacyID(s, fuzzAsOf)
		if err != nil {
			checkError(t, err, RuleResidentID, s)
			if !id.IsZero() {
				t.Fatalf("value %#v returned with error", id)
			}
			return
		}
		checkResidentID(t, id, fuzzAsOf)
		out := id.String()
		if len(s) != 15 || out[:6] != s[:6] || out[6:8] != "19" || out[8:17] != s[6:] {
			t.Fatalf("UpgradeLegacyID(%q) = %q", s, out)
		}
		if y := id.Birth().Year; y < 1900 || y > 1999 {
			t.Fatalf("birth year %d", y)
		}
		again, err := UpgradeLegacyID(out[:6]+out[8:17], fuzzAsOf)
		if err != nil || again != id {
			t.Fatalf("round trip: %#v, %v", again, err)
		}
	})
}
