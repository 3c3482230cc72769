package intake

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
)

const testEmployer = "91440300123456788M"

// net is a one-bureau network (province 44) for checking that what intake produces, Apply accepts.
type net struct {
	g      *ledger.Genesis
	m      *ledger.Machine
	st     *ledger.MemState
	bureau *ledger.Signer
	tip    *ledger.BlockHeader
	time   uint64
	conv   *Converter
	today  civil.Date
}

func newNet(t testing.TB) *net {
	ministry := ledger.SignerFromSeed(bytes.Repeat([]byte{1}, 32))
	bureau := ledger.SignerFromSeed(bytes.Repeat([]byte{2}, 32))
	g := &ledger.Genesis{Network: "intake-test", Time: 1735660800000, Params: ledger.DefaultParams(), UTCOffset: 8 * 3600,
		Members: []ledger.Member{{ID: ministry.ID(), Role: ledger.RoleMinistry, Name: "m"}, {ID: bureau.ID(), Role: ledger.RoleBureau, Region: "44", Name: "b"}}}
	g.Normalise()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	n := &net{g: g, m: ledger.NewMachine(g), st: ledger.NewMemState(), bureau: bureau, time: g.Time, conv: NewConverter(g, []byte("pepper"))}
	n.st.Commit(ledger.GenesisWrites(g))
	n.today = civil.DateOfUnixMilli(int64(g.Time), 8*3600) // 2025-01-01
	return n
}

// apply submits bodies as one block and checkpoint and returns the receipt codes.
func (n *net) apply(t *testing.T, bodies ...ledger.Body) []string {
	t.Helper()
	var recs [][]byte
	for _, b := range bodies {
		n.time++
		r := ledger.NewRecord(n.bureau.ID(), n.time, b)
		recs = append(recs, r.Encode())
	}
	blk, err := ledger.BuildBlock(n.bureau, n.g.Network, n.tip, n.time, recs)
	if err != nil {
		t.Fatal(err)
	}
	h := blk.Header
	n.tip = &h
	meta, _ := ledger.ReadMeta(n.st)
	n.time += 1000
	cb := ledger.NewCheckpoint(n.g.Network, meta.Seq+1, meta.Checkpoint, n.time, []ledger.Hash{blk.Hash()})
	res, err := n.m.Apply(n.st, &cb, []*ledger.Block{blk})
	if err != nil {
		t.Fatal(err)
	}
	n.st.Commit(res.Writes)
	var codes []string
	for _, r := range res.Receipts {
		codes = append(codes, r.Code+" "+r.Message)
	}
	return codes
}

func i64(v int64) *int64 { return &v }

// TestDerivedContributionsAreAccepted: contributions built by intake from client fields, for
// wages below the floor, in range and above the ceiling, every scheme, back payments and people
// insured as individuals, are accepted by the state machine.
func TestDerivedContributionsAreAccepted(t *testing.T) {
	n := newNet(t)
	ids := []string{"11010519491231002X", "440305199003071236", "34052419800101001X", "370101190102039973", "410102197602290188", "320583198001150190"}
	var bodies []ledger.Body
	i := 0
	for _, scheme := range []string{"pension", "medical", "unemployment", "injury"} {
		for _, wage := range []int64{100, 300000, 800000, 9000000} {
			in := &Input{Type: "contribution", WorkerID: ids[i%len(ids)], Hukou: "51", Employer: testEmployer, Region: "440300",
				Period: fmt.Sprintf("2024-%02d", 1+i%12), Scheme: scheme, Wage: i64(wage)}
			i++
			b, err := n.conv.Body(in, n.today)
			if err != nil {
				t.Fatalf("%s wage %d: %v", scheme, wage, err)
			}
			bodies = append(bodies, b)
		}
	}
	// A person insured as an individual, and a three-month back payment.
	flex := &Input{Type: "contribution", WorkerID: "440524188001010014", Hukou: "44", Region: "440300", Period: "2024-06", Scheme: "pension", Flexible: true, Base: i64(600000)}
	back := &Input{Type: "contribution", WorkerID: "440305199003071236", Hukou: "44", Employer: testEmployer, Region: "440100", Period: "2023-01", Through: "2023-03", Scheme: "pension", Wage: i64(700000)}
	for _, in := range []*Input{flex, back} {
		b, err := n.conv.Body(in, n.today)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	for j, code := range n.apply(t, bodies...) {
		if !strings.HasPrefix(code, "ok") {
			t.Errorf("body %d (%+v): %s", j, bodies[j], code)
		}
	}
}

func TestFieldErrors(t *testing.T) {
	n := newNet(t)
	good := func() *Input {
		return &Input{Type: "contribution", WorkerID: "440305199003071236", Hukou: "44", Employer: testEmployer, Region: "440300", Period: "2024-05", Scheme: "pension", Wage: i64(800000)}
	}
	cases := []struct {
		name, field, code string
		mutate            func(in *Input)
	}{
		{"no type", "type", "format", func(in *Input) { in.Type = "" }},
		{"bad type", "type", "format", func(in *Input) { in.Type = "transfer.out" }},
		{"id checksum", "worker_id", "I1", func(in *Input) { in.WorkerID = "110105194912310021" }},
		{"id birthdate", "worker_id", "I1", func(in *Input) { in.WorkerID = "110105199902300012" }},
		{"no id", "worker_id", "I1", func(in *Input) { in.WorkerID = "" }},
		{"hukou", "hukou", "I3", func(in *Input) { in.Hukou = "99" }},
		{"region", "region", "I3", func(in *Input) { in.Region = "44" }},
		{"employer checksum", "employer", "I2", func(in *Input) { in.Employer = "91310115MA1H8R7C6D" }},
		{"period", "period", "format", func(in *Input) { in.Period = "2024-13" }},
		{"future", "period", "format", func(in *Input) { in.Period = "2031-01" }},
		{"through before", "through", "format", func(in *Input) { in.Through = "2024-01" }},
		{"scheme", "scheme", "format", func(in *Input) { in.Scheme = "pensoin" }},
		{"no wage", "wage", "C1", func(in *Input) { in.Wage = nil }},
		{"zero wage", "wage", "C1", func(in *Input) { in.Wage = i64(0) }},
		{"base given", "base", "C1", func(in *Input) { in.Base = i64(800000) }},
		{"wrong amount", "employee_amount", "C2", func(in *Input) { in.EmployeeAmount = i64(1) }},
		{"wrong employer amount", "employer_amount", "C2", func(in *Input) { in.EmployerAmount = i64(1) }},
		{"flex with employer", "employer", "format", func(in *Input) { in.Flexible, in.Base = true, i64(600000) }},
		{"flex base out of range", "base", "C1", func(in *Input) { in.Flexible, in.Employer, in.Base = true, "", i64(1) }},
		{"flex no base", "base", "C1", func(in *Input) { in.Flexible, in.Employer = true, "" }},
		{"evidence", "evidence", "format", func(in *Input) { in.Evidence = "zz" }},
		{"enrolled", "enrolled", "format", func(in *Input) { in.Enrolled = "2024-02-30" }},
	}
	for _, c := range cases {
		in := good()
		c.mutate(in)
		_, err := n.conv.Body(in, n.today)
		var fe *Error
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Code != c.code {
			t.Errorf("%s: got %v (%+v), want field %s code %s", c.name, err, fe, c.field, c.code)
		}
	}
	if _, err := n.conv.Body(good(), n.today); err != nil {
		t.Fatalf("the good input fails: %v", err)
	}
}

func TestEmploymentAndCorrection(t *testing.T) {
	n := newNet(t)
	end := "2024-12-31"
	emp, err := n.conv.Body(&Input{Type: "employment", WorkerID: "440305199003071236", Employer: testEmployer, Region: "440300", Start: "2024-01-01", End: &end}, n.today)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := n.conv.Body(&Input{Type: "contribution", WorkerID: "440305199003071236", Hukou: "44", Employer: testEmployer, Region: "440300", Period: "2025-01", Scheme: "pension", Wage: i64(800000)}, n.today)
	if err != nil {
		t.Fatal(err)
	}
	codes := n.apply(t, emp, orig)
	if !strings.HasPrefix(codes[0], "ok") || !strings.HasPrefix(codes[1], "ok") {
		t.Fatalf("%v", codes)
	}
	r := ledger.NewRecord(n.bureau.ID(), n.time-1000, orig)
	target := r.ID()
	corr, err := n.conv.Body(&Input{Type: "correction", Target: target.String(), Reason: "wrong_amount",
		Record: &Input{WorkerID: "440305199003071236", Hukou: "44", Employer: testEmployer, Region: "440300", Period: "2025-01", Scheme: "pension", Wage: i64(900000)}}, n.today)
	if err != nil {
		t.Fatal(err)
	}
	if codes := n.apply(t, corr); !strings.HasPrefix(codes[0], "ok") {
		t.Fatalf("correction: %v", codes)
	}
	bad := []*Input{
		{Type: "employment", WorkerID: "440305199003071236", Employer: testEmployer, Region: "440300", Start: "2024-01-01", End: ptr("2023-01-01")},
		{Type: "correction", Target: "nothex", Reason: "withdrawn"},
		{Type: "correction", Target: target.String(), Reason: "because"},
		{Type: "correction", Target: target.String(), Reason: "wrong_amount"},
		{Type: "correction", Target: target.String(), Reason: "wrong_amount", Record: &Input{Type: "employment"}},
	}
	for i, in := range bad {
		if _, err := n.conv.Body(in, n.today); err == nil {
			t.Errorf("bad %d accepted", i)
		}
	}
}

func ptr(s string) *string { return &s }
