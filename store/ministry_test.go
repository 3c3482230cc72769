package store

import (
	"bytes"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// TestMinistryChangesIndexed: the store lists exactly the accepted governance records that
// change the ministry set (admitting a ministry member, revoking one, changing one's role), not
// those of bureaus or parameters, in ledger order; the proofs it builds for them give an
// offline verifier the ministry set the state machine has.
func TestMinistryChangesIndexed(t *testing.T) {
	s := openMem(t)
	n := ledgertest.New(t)
	if err := s.Init(n.Genesis); err != nil {
		t.Fatal(err)
	}
	m0, m1, m2 := n.Ministry[0], n.Ministry[1], n.Ministry[2]
	m3 := ledger.SignerFromSeed(bytes.Repeat([]byte{0x5a}, 32))
	bx := ledger.SignerFromSeed(bytes.Repeat([]byte{0x5b}, 32))
	apply := func(certifiers []*ledger.Signer, recs ...[]byte) []ledger.Receipt {
		t.Helper()
		meta, err := s.Meta()
		if err != nil {
			t.Fatal(err)
		}
		b := n.Block(m1, recs...)
		cb := n.Checkpoint(meta, b)
		res, err := s.Apply(n.Machine, cb, []*ledger.Block{b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutCertificate(n.CertifyBy(res, certifiers...)); err != nil {
			t.Fatal(err)
		}
		for i, rc := range res.Receipts {
			if rc.Code != ledger.CodeOK {
				t.Fatalf("checkpoint %d record %d: %s %s", res.Seq, i, rc.Code, rc.Message)
			}
		}
		return res.Receipts
	}
	var want []ledger.Hash
	// Genesis set {m0, m1, m2}: a bureau admitted (not a change), a ministry member admitted.
	rs := apply([]*ledger.Signer{m0, m1, m2},
		n.Record(m1, &ledger.GovMember{Member: ledger.Member{ID: bx.ID(), Role: ledger.RoleBureau, Region: ledgertest.Region("44"), Name: "bureau X"}}, m1, m0),
		n.Record(m1, &ledger.GovMember{Member: ledger.Member{ID: m3.ID(), Role: ledger.RoleMinistry, Name: "ministry 4"}}, m1, m0))
	want = append(want, rs[1].ID)
	// {m0, m1, m2, m3}, majority 3: the bureau revoked (not a change), m0 revoked, a parameter.
	rs = apply([]*ledger.Signer{m1, m2, m3},
		n.Record(m1, &ledger.GovRevoke{Member: bx.ID(), Reason: "closed"}, m1, m2, m3),
		n.Record(m1, &ledger.GovRevoke{Member: m0.ID(), Reason: "key compromised"}, m1, m2, m3),
		n.Record(m1, &ledger.GovParam{Param: ledger.Param{Name: ledger.ParamPensionEmployer, Scope: "44", Effective: 20230101, Value: 1500}}, m1, m2, m3))
	want = append(want, rs[1].ID)
	// {m1, m2, m3}: m3 becomes a bureau (a change: it leaves the set).
	rs = apply([]*ledger.Signer{m1, m2},
		n.Record(m1, &ledger.GovMember{Member: ledger.Member{ID: m3.ID(), Role: ledger.RoleBureau, Region: ledgertest.Region("51"), Name: "bureau 4"}}, m1, m2))
	want = append(want, rs[0].ID)

	v := s.View()
	defer v.Release()
	refs, err := v.MinistryChanges(Pos{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []ledger.Hash
	var proofs []ledger.RecordProof
	for _, r := range refs {
		got = append(got, r.ID)
		p, err := v.RecordProof(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		proofs = append(proofs, *p)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ministry changes %v, want %v", got, want)
	}
	if rest, err := v.MinistryChanges(refs[0].Pos, 0); err != nil || len(rest) != 2 || rest[0].ID != want[1] {
		t.Fatalf("changes after the first: %v %v", rest, err)
	}
	h, err := ledger.NewMinistryHistory(n.Genesis, proofs)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := s.Meta()
	set, err := ledger.MinistrySet(v.reader(), meta.Time)
	if err != nil {
		t.Fatal(err)
	}
	if hs := h.Set(meta.Seq+1, meta.Time); !slices.Equal(hs, set) || len(set) != 2 {
		t.Fatalf("verifier's ministry set %v, the state's %v", hs, set)
	}
}
