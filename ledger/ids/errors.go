package ids

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reason codes for rejected identifiers, carried in [Error.Reason].
const (
	// ReasonFormat: wrong length, a character outside the allowed alphabet, or a character of the
	// wrong kind in a position (for example a letter where a digit is required).
	ReasonFormat = "format"
	// ReasonProvince: the address code of a resident ID number does not start with a
	// province-level code.
	ReasonProvince = "province"
	// ReasonBirthdate: the birth date in a resident ID number is not a real date, or lies after the
	// reference date.
	ReasonBirthdate = "birthdate"
	// ReasonChecksum: the check character does not match the rest of the identifier.
	ReasonChecksum = "checksum"
)

// Rule names used in [Error.Rule].
const (
	RuleResidentID = "I1"
	RuleUSCC       = "I2"
	RuleRegion     = "I3"
)

// maxInputInMessage is the number of characters of the rejected input quoted by [Error.Error].
const maxInputInMessage = 40

// Error is returned by the parsers of this package. Rule is "I1", "I2" or "I3"; Reason is one of the
// Reason* constants; Input is the rejected text as given; Detail is a human-readable explanation.
type Error struct {
	Rule   string
	Reason string
	Input  string
	Detail string
}

// Error formats the error as `ids: I1 checksum: "…": detail`. The input is quoted and truncated to
// 40 characters so that an oversized or hostile input cannot blow up logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ids: ")
	b.WriteString(e.Rule)
	b.WriteByte(' ')
	b.WriteString(e.Reason)
	b.WriteString(": ")
	b.WriteString(strconv.Quote(truncate(e.Input, maxInputInMessage)))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Is reports whether target is an *Error whose non-empty fields all equal e's: empty fields of the
// target are wildcards, so errors.Is(err, &ids.Error{Reason: ids.ReasonChecksum}) matches any
// checksum failure and &ids.Error{Rule: "I2"} any rejected social credit code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	return match(t.Rule, e.Rule) && match(t.Reason, e.Reason) &&
		match(t.Input, e.Input) && match(t.Detail, e.Detail)
}

func match(pattern, v string) bool { return pattern == "" || pattern == v }

// truncate returns at most n characters of s (invalid UTF-8 bytes count as one character each),
// followed by "…" if anything was cut.
func truncate(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

func newError(rule, reason, input, detail string) error {
	return &Error{Rule: rule, Reason: reason, Input: input, Detail: detail}
}
