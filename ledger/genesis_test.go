package ledger

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fixtureGenesis returns a small valid genesis: three ministry nodes (seeds 0x03–0x05), the
// producing bureau (0x01), an employer (0x02), two parameters and one calendar.
func fixtureGenesis() *Genesis {
	_, ministry := fixtureMinistry(3)
	g := &Genesis{
		Network: fixtureNetwork,
		Time:    1735689600000,
		Members: []Member{
			{ID: fixtureSigner(1).ID(), Role: RoleBureau, Region: "110105", Name: "Beijing Chaoyang bureau"},
			{ID: fixtureSigner(2).ID(), Role: RoleEmployer, Region: "110105", Name: "Employer", From: 1735689600000, Until: 1893456000000},
		},
		Params: []Param{
			{Name: ParamAvgWage, Scope: "11", Effective: 20240101, Value: 1204900},
			{Name: ParamPensionEmployee, Effective: 19980101, Value: 800},
		},
		Calendars: []Calendar{{Year: 2025, Holidays: []uint32{20250101}, Workdays: []uint32{20250126}}},
		UTCOffset: 8 * 3600,
	}
	for i, id := range ministry {
		g.Members = append(g.Members, Member{ID: id, Role: RoleMinistry, Name: "ministry " + string(rune('A'+i))})
	}
	g.Normalise()
	return g
}

func TestGenesisRoundTrip(t *testing.T) {
	g := fixtureGenesis()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	b := g.Encode()
	got, err := DecodeGenesis(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("decoded %+v, want %+v", got, g)
	}
	if !bytes.Equal(got.Encode(), b) || got.Hash() != g.Hash() {
		t.Fatal("re-encoding differs")
	}
	if g.Hash() != taggedHash(tagGenesis, b) {
		t.Fatal("genesis hash is not the tagged hash of its encoding")
	}

	// The JSON form parses back to the same genesis and hash, whatever the order of its lists.
	js, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ParseGenesisJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON.Hash() != g.Hash() {
		t.Fatalf("JSON round trip changed the hash:\n%s", js)
	}
	shuffled := fixtureGenesis()
	shuffled.Members[0], shuffled.Members[4] = shuffled.Members[4], shuffled.Members[0]
	shuffled.Params[0], shuffled.Params[1] = shuffled.Params[1], shuffled.Params[0]
	js, _ = shuffled.JSON()
	if fromJSON, err = ParseGenesisJSON(js); err != nil || fromJSON.Hash() != g.Hash() {
		t.Fatalf("unsorted JSON: %v", err)
	}
}

func TestParseGenesisJSONReportsEveryField(t *testing.T) {
	bad := `{
	  "network": "",
	  "time": 1,
	  "utc_offset": 90000,
	  "extra_regions": ["11", "6x"],
	  "members": [
	    {"id": "` + fixtureSigner(1).ID().String() + `", "role": "bureau", "region": "999999", "name": "b"},
	    {"id": "` + fixtureSigner(2).ID().String() + `", "role": "king", "region": "110105", "name": ""},
	    {"id": "` + fixtureSigner(3).ID().String() + `", "role": "employer", "name": "e", "from": 5, "until": 5}
	  ],
	  "params": [
	    {"name": "", "effective": 20240101, "value": 1},
	    {"name": "x", "scope": "1", "effective": 20240101, "value": 1},
	    {"name": "y", "effective": 20240230, "value": 1},
	    {"name": "z", "effective": 20240101, "value": -1}
	  ],
	  "calendars": [{"year": 2025, "holidays": [20240101]}]
	}`
	_, err := ParseGenesisJSON([]byte(bad))
	if err == nil {
		t.Fatal("invalid genesis accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"network:",
		"utc_offset:",
		`extra_regions: "11"`,
		`extra_regions: "6x"`,
		"region: \"999999\"",
		"role: \"king\"",
		"name: must be",
		"region: \"\"", // employer without a region
		"until: must be after from",
		"members: no ministry member",
		"params[0]: name:",
		"params[1]: scope:",
		"params[2]: effective:",
		"params[3]: value:",
		"calendars[0]: date 20240101",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n < 15 {
		t.Errorf("%d problems reported, want at least 15:\n%s", n, msg)
	}
}

func TestParseGenesisJSONRejects(t *testing.T) {
	for name, js := range map[string]string{
		"unknown field":  `{"network": "n", "bogus": 1}`,
		"bad key id":     `{"network": "n", "members": [{"id": "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "role": "ministry", "name": "m"}]}`,
		"not json":       `{`,
		"wrong type":     `{"network": 5}`,
		"no ministry":    `{"network": "n", "members": []}`,
		"trailing field": `{"network": "n", "time": "x"}`,
	} {
		if _, err := ParseGenesisJSON([]byte(js)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeGenesisValidates(t *testing.T) {
	g := fixtureGenesis()
	g.Members[0].Role = "king"
	if _, err := DecodeGenesis(g.Encode()); err == nil || errors.Is(err, ErrEncoding) {
		t.Fatalf("invalid content: %v, want a validation error", err)
	}
	g = fixtureGenesis()
	g.Members[0], g.Members[1] = g.Members[1], g.Members[0]
	if _, err := DecodeGenesis(g.Encode()); err == nil || !strings.Contains(err.Error(), "not sorted") {
		t.Fatalf("unsorted members: %v", err)
	}
}
