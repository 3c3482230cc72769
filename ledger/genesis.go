package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// Member roles.
const (
	RoleMinistry   = "ministry"
	RoleBureau     = "bureau"
	RoleEmployer   = "employer"
	RoleSupervisor = "supervisor"
)

// Member is an entry of the member registry: a key bound to a role, a region and a validity
// window (unix milliseconds; Until 0 means no expiry).
type Member struct {
	ID      KeyID  `cbor:"1,keyasint" json:"id"`
	Role    string `cbor:"2,keyasint" json:"role"`
	Region  string `cbor:"3,keyasint,omitempty" json:"region,omitempty"`
	Name    string `cbor:"4,keyasint" json:"name"`
	From    uint64 `cbor:"5,keyasint,omitempty" json:"from,omitempty"`
	Until   uint64 `cbor:"6,keyasint,omitempty" json:"until,omitempty"`
	Revoked bool   `cbor:"7,keyasint,omitempty" json:"revoked,omitempty"`
}

// ActiveAt reports whether the member may act at time t (unix ms): inside its window, not revoked.
func (m *Member) ActiveAt(t uint64) bool {
	return !m.Revoked && t >= m.From && (m.Until == 0 || t < m.Until)
}

// Province returns the two-digit province of the member's region ("" if none).
func (m *Member) Province() string {
	if len(m.Region) < 2 {
		return ""
	}
	return m.Region[:2]
}

// Param is one version of a rule parameter: Value applies to Scope (a province code, or "" for the
// whole network) from Effective (YYYYMMDD) until a later version of the same name and scope.
// Money is in fen, rates in basis points (1 bp = 0.01%), percentages in percent, durations in
// working days or months as the name says. DOMAIN.md lists the names in genesis.
type Param struct {
	Name      string `cbor:"1,keyasint" json:"name"`
	Scope     string `cbor:"2,keyasint,omitempty" json:"scope,omitempty"`
	Effective uint32 `cbor:"3,keyasint" json:"effective"`
	Value     int64  `cbor:"4,keyasint" json:"value"`
}

// Calendar is one year's working-day calendar: public holidays and make-up working days.
type Calendar struct {
	Year     uint16   `cbor:"1,keyasint" json:"year"`
	Holidays []uint32 `cbor:"2,keyasint,omitempty" json:"holidays,omitempty"` // YYYYMMDD, sorted
	Workdays []uint32 `cbor:"3,keyasint,omitempty" json:"workdays,omitempty"` // YYYYMMDD, sorted
}

// Genesis is the network's founding document: its name, members, rule parameters and calendars.
// Its hash is the "previous checkpoint" of checkpoint 1 and the state root before it.
type Genesis struct {
	Network   string     `cbor:"1,keyasint" json:"network"`
	Time      uint64     `cbor:"2,keyasint" json:"time"` // unix ms
	Members   []Member   `cbor:"3,keyasint" json:"members"`
	Params    []Param    `cbor:"4,keyasint" json:"params"`
	Calendars []Calendar `cbor:"5,keyasint,omitempty" json:"calendars,omitempty"`
	// ExtraRegions are configured province-level codes outside GB/T 2260 (the Xinjiang Production
	// and Construction Corps runs its own social insurance).
	ExtraRegions []string `cbor:"6,keyasint,omitempty" json:"extra_regions,omitempty"`
	// UTCOffset is the jurisdiction's offset in seconds, used to turn checkpoint times into days.
	UTCOffset int32 `cbor:"7,keyasint,omitempty" json:"utc_offset,omitempty"`
}

// Hash returns the genesis hash: the tagged hash of its canonical encoding.
func (g *Genesis) Hash() Hash { return taggedHash(tagGenesis, encode(g)) }

// Encode returns the canonical bytes.
func (g *Genesis) Encode() []byte { return encode(g) }

// DecodeGenesis decodes canonical genesis bytes and validates the content.
func DecodeGenesis(b []byte) (*Genesis, error) {
	var g Genesis
	if err := decodeCanonical(b, &g); err != nil {
		return nil, fmt.Errorf("decode genesis: %w", err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// ParseGenesisJSON reads the human-editable genesis.json form, normalises it (members and params
// sorted) and validates it.
func ParseGenesisJSON(b []byte) (*Genesis, error) {
	var g Genesis
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("parse genesis json: %w", err)
	}
	g.Normalise()
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// MarshalJSON-friendly helper: JSON returns the indented JSON form.
func (g *Genesis) JSON() ([]byte, error) { return json.MarshalIndent(g, "", "  ") }

// Normalise sorts members by ID, params by (name, scope, effective) and calendars by year, the
// order Validate requires.
func (g *Genesis) Normalise() {
	slices.SortFunc(g.Members, func(a, b Member) int { return strings.Compare(string(a.ID), string(b.ID)) })
	slices.SortFunc(g.Params, compareParam)
	slices.SortFunc(g.Calendars, func(a, b Calendar) int { return int(a.Year) - int(b.Year) })
	for i := range g.Calendars {
		slices.Sort(g.Calendars[i].Holidays)
		slices.Sort(g.Calendars[i].Workdays)
	}
}

func compareParam(a, b Param) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Scope, b.Scope); c != 0 {
		return c
	}
	return int(a.Effective) - int(b.Effective)
}

// Validate returns every problem with the genesis at once.
func (g *Genesis) Validate() error {
	var errs []error
	if g.Network == "" || len(g.Network) > 64 {
		errs = append(errs, errors.New("network: must be 1–64 characters"))
	}
	if g.UTCOffset < -14*3600 || g.UTCOffset > 14*3600 {
		errs = append(errs, fmt.Errorf("utc_offset: %d out of range", g.UTCOffset))
	}
	for _, r := range g.ExtraRegions {
		if len(r) != 2 || ids.IsProvince(r) || !isDigits(r) {
			errs = append(errs, fmt.Errorf("extra_regions: %q must be two digits outside GB/T 2260", r))
		}
	}
	ministry := 0
	for i := range g.Members {
		m := &g.Members[i]
		if err := validateMember(m, g.ExtraRegions); err != nil {
			errs = append(errs, fmt.Errorf("members[%d]: %w", i, err))
		}
		if i > 0 && g.Members[i-1].ID >= m.ID {
			errs = append(errs, fmt.Errorf("members[%d]: not sorted by id or duplicated", i))
		}
		if m.Role == RoleMinistry && !m.Revoked {
			ministry++
		}
	}
	if ministry == 0 {
		errs = append(errs, errors.New("members: no ministry member"))
	}
	for i, p := range g.Params {
		if err := validateParam(p); err != nil {
			errs = append(errs, fmt.Errorf("params[%d]: %w", i, err))
		}
		if i > 0 && compareParam(g.Params[i-1], p) >= 0 {
			errs = append(errs, fmt.Errorf("params[%d]: not sorted or duplicated", i))
		}
	}
	for i, c := range g.Calendars {
		if err := validateCalendar(c); err != nil {
			errs = append(errs, fmt.Errorf("calendars[%d]: %w", i, err))
		}
		if i > 0 && g.Calendars[i-1].Year >= c.Year {
			errs = append(errs, fmt.Errorf("calendars[%d]: not sorted or duplicated", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid genesis: %w", err)
	}
	return nil
}

// ValidateGov checks the body of a governance record as the state machine will when it applies
// it (a gov.revoke's member must also be in the registry then, which only the state knows), so
// that a drafter learns of a mistake before the ministry signs.
func ValidateGov(g *Genesis, body Body) error {
	switch b := body.(type) {
	case *GovMember:
		return validateMember(&b.Member, g.ExtraRegions)
	case *GovRevoke:
		if _, err := b.Member.PublicKey(); err != nil {
			return fmt.Errorf("member: %w", err)
		}
		return nil
	case *GovParam:
		return validateParam(b.Param)
	case *GovCalendar:
		return validateCalendar(b.Calendar)
	}
	return fmt.Errorf("a %s record is not a governance record", body.RecordType())
}

func validateMember(m *Member, extra []string) error {
	var errs []error
	if _, err := m.ID.PublicKey(); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	switch m.Role {
	case RoleMinistry, RoleSupervisor:
		if m.Region != "" && ids.ProvinceOf(m.Region, extra...) == "" {
			errs = append(errs, fmt.Errorf("region: %q is not a province or division code", m.Region))
		}
	case RoleBureau, RoleEmployer:
		if ids.ProvinceOf(m.Region, extra...) == "" {
			errs = append(errs, fmt.Errorf("region: %q is not a province or division code", m.Region))
		}
	default:
		errs = append(errs, fmt.Errorf("role: %q is not ministry, bureau, employer or supervisor", m.Role))
	}
	if m.Name == "" || len(m.Name) > maxTextField {
		errs = append(errs, errors.New("name: must be 1–256 bytes"))
	}
	if m.Until != 0 && m.Until <= m.From {
		errs = append(errs, errors.New("until: must be after from"))
	}
	return errors.Join(errs...)
}

func validateParam(p Param) error {
	if p.Name == "" || len(p.Name) > 64 {
		return errors.New("name: must be 1–64 bytes")
	}
	if p.Scope != "" && (len(p.Scope) != 2 || !isDigits(p.Scope)) {
		return fmt.Errorf("scope: %q must be empty or a 2-digit province", p.Scope)
	}
	if _, err := civil.DateFromInt(p.Effective); err != nil || p.Effective == 0 {
		return fmt.Errorf("effective: %d is not a YYYYMMDD date", p.Effective)
	}
	if p.Value < 0 {
		return fmt.Errorf("value: %d is negative", p.Value)
	}
	return nil
}

func validateCalendar(c Calendar) error {
	for _, list := range [][]uint32{c.Holidays, c.Workdays} {
		for i, v := range list {
			d, err := civil.DateFromInt(v)
			if err != nil || v == 0 || d.Year != int(c.Year) {
				return fmt.Errorf("date %d is not a day of %d", v, c.Year)
			}
			if i > 0 && list[i-1] >= v {
				return fmt.Errorf("dates not sorted or duplicated at %d", v)
			}
		}
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
