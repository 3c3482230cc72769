package ledger

import (
	"slices"
	"testing"
)

func TestGov_QuorumParamsAndRevocation(t *testing.T) {
	n := newTnet(t)
	m0, m1 := n.ministry[0], n.ministry[1]
	param := &GovParam{Param: Param{Name: ParamPensionEmployer, Scope: "44", Effective: 20230101, Value: 1400}}
	// One signature of three is not a majority; two are.
	got := codes(n.submit(m0, n.rec(m0, param, m0), n.rec(m0, &GovParam{Param: Param{Name: ParamPensionEmployer, Scope: "44", Effective: 20230101, Value: 1400}}, m0, m1)))
	if !slices.Equal(got, []string{CodeGov, CodeOK}) {
		t.Fatalf("gov params: %v", got)
	}
	// The new employer rate is in force: a contribution computed at 16% is now a C2 mismatch.
	b44 := n.bureau["44"]
	c := n.contribution(worker(1), "440300", 202301, 800000)
	if got := codes(n.submit(b44, n.rec(b44, c))); got[0] != "C2" {
		t.Fatalf("old rate accepted: %v", got)
	}
	c.EmployerAmount = c.Base * 1400 / 10000
	if got := codes(n.submit(b44, n.rec(b44, c))); got[0] != CodeOK {
		t.Fatalf("new rate: %v", n.results[len(n.results)-1].Receipts)
	}
	// Revoking the bureau: its later blocks are rejected whole.
	if got := codes(n.submit(m0, n.rec(m0, &GovRevoke{Member: b44.ID(), Reason: "key compromised"}, m0, m1))); got[0] != CodeOK {
		t.Fatalf("revoke: %v", got)
	}
	if got := codes(n.submit(b44, n.rec(b44, n.contribution(worker(2), "440300", 202301, 800000)))); got[0] != CodeBlock {
		t.Fatalf("revoked producer: %v", got)
	}
	// A new member admitted by quorum may produce.
	s := fixtureSigner(0x55)
	admit := &GovMember{Member: Member{ID: s.ID(), Role: RoleBureau, Region: "440300", Name: "Shenzhen bureau"}}
	if got := codes(n.submit(m0, n.rec(m0, admit, m0, m1))); got[0] != CodeOK {
		t.Fatalf("admit: %v", n.results[len(n.results)-1].Receipts)
	}
	if got := codes(n.submit(s, n.rec(s, n.contribution(worker(3), "440300", 202301, 800000)))); got[0] == CodeBlock {
		t.Fatalf("admitted bureau rejected: %v", n.results[len(n.results)-1].Receipts)
	}
	set, err := MinistrySet(n.st, n.time)
	if err != nil || len(set) != 3 {
		t.Fatalf("ministry set %v %v", set, err)
	}
}

// TestGov_ParamChangeWithinCheckpoint: a parameter changed by a gov.param record applies to the
// contributions after it in the same checkpoint, not only from the next one.
func TestGov_ParamChangeWithinCheckpoint(t *testing.T) {
	n := newTnet(t)
	m0, m1 := n.ministry[0], n.ministry[1]
	b44 := n.bureau["44"]
	before := n.contribution(worker(1), "440300", 202301, 800000)
	after := *n.contribution(worker(2), "440300", 202301, 800000)
	after.EmployerAmount = after.Base * 1400 / 10000
	param := &GovParam{Param: Param{Name: ParamPensionEmployer, Scope: "44", Effective: 20230101, Value: 1400}}
	res := n.apply(n.block(b44, n.rec(b44, before)), n.block(m0, n.rec(m0, param, m0, m1)), n.block(b44, n.rec(b44, &after)))
	if got := codes(res.Receipts); !slices.Equal(got, []string{CodeOK, CodeOK, CodeOK}) {
		t.Fatalf("receipts %v: %+v", got, res.Receipts)
	}
}

// TestGov_MachineSharedAcrossStates: one machine applying to two states (a node's state and a
// replay, say) keeps their governance tables apart. A revocation applied to one state, which
// changes the registry the machine decoded for it, must not reach the other state, whose
// registry is still the genesis one.
func TestGov_MachineSharedAcrossStates(t *testing.T) {
	n := newTnet(t)
	m0, m1, b44 := n.ministry[0], n.ministry[1], n.bureau["44"]
	other := NewMemState()
	other.Commit(GenesisWrites(n.g))
	if got := codes(n.submit(m0, n.rec(m0, &GovRevoke{Member: b44.ID(), Reason: "key compromised"}, m0, m1))); got[0] != CodeOK {
		t.Fatalf("revoke: %v", got)
	}
	blk := n.block(b44, n.rec(b44, n.contribution(worker(1), "440300", 202301, 800000)))
	cb := NewCheckpoint(n.g.Network, 1, n.g.Hash(), n.time, []Hash{blk.Hash()})
	res, err := n.m.Apply(other, &cb, []*Block{blk})
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(res.Receipts); got[0] != CodeOK {
		t.Fatalf("the other state took the revocation: %v", res.Receipts)
	}
	// And the first state still has it.
	if got := codes(n.submit(b44, n.rec(b44, n.contribution(worker(2), "440300", 202301, 800000)))); got[0] != CodeBlock {
		t.Fatalf("revoked producer: %v", got)
	}
}

// TestGov_ValidateGovBeforeSigning: ValidateGov refuses what the state machine would reject for
// its form, for each governance type, and passes well-formed bodies.
func TestGov_ValidateGovBeforeSigning(t *testing.T) {
	n := newTnet(t)
	s := fixtureSigner(0x58)
	good := []Body{
		&GovMember{Member: Member{ID: s.ID(), Role: RoleBureau, Region: "440300", Name: "bureau"}},
		&GovRevoke{Member: s.ID(), Reason: "closed"},
		&GovParam{Param: Param{Name: ParamAvgWage, Scope: "44", Effective: 20270101, Value: 1234500}},
		&GovCalendar{Calendar: Calendar{Year: 2027, Holidays: []uint32{20270101}}},
	}
	bad := []Body{
		&GovMember{Member: Member{ID: s.ID(), Role: "king", Name: "x"}},
		&GovRevoke{Member: "not a key"},
		&GovParam{Param: Param{Name: ParamAvgWage, Scope: "44", Effective: 20271301, Value: 1}},
		&GovCalendar{Calendar: Calendar{Year: 2027, Holidays: []uint32{20260101}}},
		&ConsentRevoke{},
	}
	for _, b := range good {
		if err := ValidateGov(n.g, b); err != nil {
			t.Errorf("%s: %v", b.RecordType(), err)
		}
	}
	for _, b := range bad {
		if err := ValidateGov(n.g, b); err == nil {
			t.Errorf("%s %+v passed", b.RecordType(), b)
		}
	}
}
