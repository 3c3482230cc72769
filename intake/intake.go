// Package intake turns records as clients submit them (JSON objects or CSV rows, with resident ID
// numbers, periods as "2026-10" and wages in fen) into ledger record bodies: it validates every
// field, derives what the rules derive (birth date and sex from the ID number, the worker
// pseudonym, the contribution base and amounts) and names the field at fault when it cannot.
//
// It is used by the node's POST /v1/records, by `jaminan submit` and by `jaminan validate`, so a
// file that validates offline is accepted by the node with the same parameters.
package intake

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// Input is one submitted record. Field names are the JSON contract of DESIGN.md §5; CSV columns
// carry the same names.
type Input struct {
	Type string `json:"type"`

	// contribution and employment
	WorkerID string `json:"worker_id,omitempty"` // 18-character resident ID number
	Hukou    string `json:"hukou,omitempty"`     // 2-digit hukou province
	Employer string `json:"employer,omitempty"`  // USCC; empty for people insured as individuals
	Region   string `json:"region,omitempty"`    // 6-digit division code of the collecting agency

	// contribution
	Period         string `json:"period,omitempty"`  // YYYY-MM
	Through        string `json:"through,omitempty"` // YYYY-MM, for a back payment
	Scheme         string `json:"scheme,omitempty"`
	Wage           *int64 `json:"wage,omitempty"`            // fen per month, employees
	Base           *int64 `json:"base,omitempty"`            // fen, declared by people insured as individuals
	EmployeeAmount *int64 `json:"employee_amount,omitempty"` // optional; checked against the rules
	EmployerAmount *int64 `json:"employer_amount,omitempty"`
	Flexible       bool   `json:"flexible,omitempty"`
	Evidence       string `json:"evidence,omitempty"` // hex SHA-256 of the evidence document
	Approved       bool   `json:"approved,omitempty"`
	Enrolled       string `json:"enrolled,omitempty"`        // YYYY-MM-DD
	LegacyEmployer bool   `json:"legacy_employer,omitempty"` // employer code imported under the legacy rule (I2)

	// employment
	Start string  `json:"start,omitempty"` // YYYY-MM-DD
	End   *string `json:"end,omitempty"`   // YYYY-MM-DD or null

	// correction
	Target string `json:"target,omitempty"` // record ID, hex
	Reason string `json:"reason,omitempty"`
	Record *Input `json:"record,omitempty"` // the replacement
}

// Error is a rejected input: Field names the JSON field, Code is a rule ("I1", "C1" …) or
// "format".
type Error struct {
	Field   string
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, code, format string, args ...any) *Error {
	return &Error{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Converter holds what conversion needs: the parameters in force, the network pepper and the
// extra region codes of the genesis.
type Converter struct {
	Params *ledger.Params
	Pepper []byte
	Extra  []string
}

// NewConverter returns a converter for the network founded by g (with its genesis parameters;
// a node passes the parameters of its current state instead).
func NewConverter(g *ledger.Genesis, pepper []byte) *Converter {
	return &Converter{Params: ledger.NewParams(g.Params), Pepper: pepper, Extra: g.ExtraRegions}
}

// Body converts one input. today is the submitting node's current date (an ID number's birth
// date may not lie after it).
func (c *Converter) Body(in *Input, today civil.Date) (ledger.Body, error) {
	switch in.Type {
	case string(ledger.TypeContribution):
		return c.contribution(in, today, "")
	case string(ledger.TypeEmployment):
		return c.employment(in, today)
	case string(ledger.TypeCorrection):
		return c.correction(in, today)
	case "":
		return nil, fieldErr("type", ledger.CodeFormat, "missing")
	}
	return nil, fieldErr("type", ledger.CodeFormat, "%q is not contribution, employment or correction", truncate(in.Type))
}

// worker parses the resident ID and returns the parsed ID and the pseudonym.
func (c *Converter) worker(field, s string, today civil.Date) (ids.ResidentID, ledger.WorkerID, error) {
	if s == "" {
		return ids.ResidentID{}, ledger.WorkerID{}, fieldErr(field, ids.RuleResidentID, "missing")
	}
	id, err := ids.ParseResidentID(ids.NormaliseResidentID(s), today)
	if err != nil {
		return ids.ResidentID{}, ledger.WorkerID{}, fieldErr(field, ids.RuleResidentID, "%v", err)
	}
	return id, ledger.Pseudonym(c.Pepper, id.String()), nil
}

func (c *Converter) province(field, code string, digits int) (string, error) {
	p := ids.ProvinceOf(code, c.Extra...)
	if len(code) != digits || p == "" || (digits == 6 && !ids.IsDivisionCode(code) && !isExtraDivision(code, c.Extra)) {
		return "", fieldErr(field, "I3", "%q is not a %d-digit region code", truncate(code), digits)
	}
	return p, nil
}

func isExtraDivision(code string, extra []string) bool {
	for _, e := range extra {
		if strings.HasPrefix(code, e) {
			return true
		}
	}
	return false
}

func (c *Converter) employer(field, s string, legacy bool) (string, error) {
	u := ids.NormaliseUSCC(s)
	if legacy {
		if _, err := ids.ParseLegacyUSCC(u); err != nil {
			return "", fieldErr(field, "I2", "%v", err)
		}
		return u, nil
	}
	if _, err := ids.ParseUSCC(u); err != nil {
		return "", fieldErr(field, "I2", "%v", err)
	}
	return u, nil
}

func (c *Converter) contribution(in *Input, today civil.Date, prefix string) (*ledger.Contribution, error) {
	id, w, err := c.worker(prefix+"worker_id", in.WorkerID, today)
	if err != nil {
		return nil, err
	}
	k := &ledger.Contribution{Worker: w, Birth: id.Birth().Int(), Sex: ledger.SexFemale, Flexible: in.Flexible, Approved: in.Approved}
	if id.Male() {
		k.Sex = ledger.SexMale
	}
	if k.Hukou, err = c.province(prefix+"hukou", in.Hukou, 2); err != nil {
		return nil, err
	}
	prov, err := c.province(prefix+"region", in.Region, 6)
	if err != nil {
		return nil, err
	}
	k.Region = in.Region
	switch {
	case in.Flexible && in.Employer != "":
		return nil, fieldErr(prefix+"employer", ledger.CodeFormat, "a person insured as an individual has no employer")
	case !in.Flexible:
		if k.Employer, err = c.employer(prefix+"employer", in.Employer, in.LegacyEmployer); err != nil {
			return nil, err
		}
		k.LegacyEmployer = in.LegacyEmployer
	}
	from, err := civil.ParsePeriod(in.Period)
	if err != nil {
		return nil, fieldErr(prefix+"period", ledger.CodeFormat, "%q is not YYYY-MM", truncate(in.Period))
	}
	if from.Compare(today.Period()) > 0 {
		return nil, fieldErr(prefix+"period", ledger.CodeFormat, "%s is after the current month %s", from, today.Period())
	}
	k.Period = from.Int()
	if in.Through != "" {
		to, err := civil.ParsePeriod(in.Through)
		if err != nil || to.Compare(from) <= 0 || from.MonthsThrough(to) > 600 || to.Compare(today.Period()) > 0 {
			return nil, fieldErr(prefix+"through", ledger.CodeFormat, "%q must be a month after period, not after the current month, within 600 months", truncate(in.Through))
		}
		k.Through = to.Int()
	}
	switch in.Scheme {
	case ledger.SchemePension, ledger.SchemeMedical, ledger.SchemeUnemployment, ledger.SchemeInjury:
		k.Scheme = in.Scheme
	default:
		return nil, fieldErr(prefix+"scheme", ledger.CodeFormat, "%q is not pension, medical, unemployment or injury", truncate(in.Scheme))
	}
	var wage, declared int64
	switch {
	case in.Flexible && in.Base == nil:
		return nil, fieldErr(prefix+"base", "C1", "a person insured as an individual declares a base")
	case in.Flexible:
		declared = *in.Base
	case in.Wage == nil:
		return nil, fieldErr(prefix+"wage", "C1", "missing")
	default:
		wage = *in.Wage
		if in.Base != nil {
			return nil, fieldErr(prefix+"base", "C1", "an employee's base is derived from the wage; omit it")
		}
	}
	k.Wage = wage
	if k.Base, k.EmployeeAmount, k.EmployerAmount, err = c.Params.ContributionTerms(k.Scheme, prov, from, wage, declared, in.Flexible); err != nil {
		field := prefix + "wage"
		if in.Flexible {
			field = prefix + "base"
		}
		return nil, fieldErr(field, "C1", "%v", err)
	}
	if in.EmployeeAmount != nil && *in.EmployeeAmount != k.EmployeeAmount {
		return nil, fieldErr(prefix+"employee_amount", "C2", "%d, the rules give %d", *in.EmployeeAmount, k.EmployeeAmount)
	}
	if in.EmployerAmount != nil && *in.EmployerAmount != k.EmployerAmount {
		return nil, fieldErr(prefix+"employer_amount", "C2", "%d, the rules give %d", *in.EmployerAmount, k.EmployerAmount)
	}
	if in.Evidence != "" {
		if k.Evidence, err = hex.DecodeString(in.Evidence); err != nil || len(k.Evidence) != 32 {
			return nil, fieldErr(prefix+"evidence", ledger.CodeFormat, "want 64 hex digits (SHA-256 of the document)")
		}
	}
	if in.Enrolled != "" {
		d, err := civil.ParseDate(in.Enrolled)
		if err != nil {
			return nil, fieldErr(prefix+"enrolled", ledger.CodeFormat, "%q is not YYYY-MM-DD", truncate(in.Enrolled))
		}
		k.Enrolled = d.Int()
	}
	return k, nil
}

func (c *Converter) employment(in *Input, today civil.Date) (*ledger.Employment, error) {
	id, w, err := c.worker("worker_id", in.WorkerID, today)
	if err != nil {
		return nil, err
	}
	e := &ledger.Employment{Worker: w, Birth: id.Birth().Int(), Sex: ledger.SexFemale}
	if id.Male() {
		e.Sex = ledger.SexMale
	}
	if e.Employer, err = c.employer("employer", in.Employer, false); err != nil {
		return nil, err
	}
	if _, err := c.province("region", in.Region, 6); err != nil {
		return nil, err
	}
	e.Region = in.Region
	if in.Hukou != "" {
		if e.Hukou, err = c.province("hukou", in.Hukou, 2); err != nil {
			return nil, err
		}
	}
	start, err := civil.ParseDate(in.Start)
	if err != nil {
		return nil, fieldErr("start", ledger.CodeFormat, "%q is not YYYY-MM-DD", truncate(in.Start))
	}
	e.Start = start.Int()
	if in.End != nil {
		end, err := civil.ParseDate(*in.End)
		if err != nil || end.Compare(start) < 0 {
			return nil, fieldErr("end", ledger.CodeFormat, "%q is not a YYYY-MM-DD date on or after start", truncate(*in.End))
		}
		e.End = end.Int()
	}
	return e, nil
}

func (c *Converter) correction(in *Input, today civil.Date) (*ledger.Correction, error) {
	target, err := ledger.ParseHash(in.Target)
	if err != nil {
		return nil, fieldErr("target", ledger.CodeFormat, "not a record ID")
	}
	switch in.Reason {
	case ledger.ReasonWrongAmount, ledger.ReasonWrongPeriod, ledger.ReasonWrongEmployer, ledger.ReasonWrongWorker, ledger.ReasonDuplicate, ledger.ReasonWithdrawn:
	default:
		return nil, fieldErr("reason", ledger.CodeFormat, "%q is not a correction reason", truncate(in.Reason))
	}
	k := &ledger.Correction{Target: target, Reason: in.Reason}
	if in.Record == nil {
		if in.Reason != ledger.ReasonWithdrawn && in.Reason != ledger.ReasonDuplicate {
			return nil, fieldErr("record", ledger.CodeFormat, "a %s correction needs the replacement record", in.Reason)
		}
		return k, nil
	}
	if in.Record.Type != "" && in.Record.Type != string(ledger.TypeContribution) {
		return nil, fieldErr("record.type", ledger.CodeFormat, "only contributions can be corrected")
	}
	repl, err := c.contribution(in.Record, today, "record.")
	if err != nil {
		return nil, err
	}
	r := ledger.NewRecord("", 0, repl)
	k.Replacement = r.Body
	return k, nil
}

// Code returns the receipt-style code of an intake error ("format" for anything else).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ledger.CodeFormat
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
