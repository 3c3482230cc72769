package node

import (
	"bytes"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// TestSnapSourceProvesMinistryChanges: what a node serves to a peer joining from a snapshot
// (request 0x08) are proofs of the changes up to the asked checkpoint that verify from the
// genesis to the ministry set the state has; later changes are left out.
func TestSnapSourceProvesMinistryChanges(t *testing.T) {
	st := openMemStore(t)
	net := ledgertest.New(t)
	if err := st.Init(net.Genesis); err != nil {
		t.Fatal(err)
	}
	m0, m1, m2 := net.Ministry[0], net.Ministry[1], net.Ministry[2]
	m3 := ledger.SignerFromSeed(bytes.Repeat([]byte{0x5c}, 32))
	apply := func(certifiers []*ledger.Signer, body ledger.Body, cosigners ...*ledger.Signer) ledger.Meta {
		t.Helper()
		meta, err := st.Meta()
		if err != nil {
			t.Fatal(err)
		}
		b := net.Block(m1, net.Record(m1, body, cosigners...))
		res, err := st.Apply(net.Machine, net.Checkpoint(meta, b), []*ledger.Block{b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Receipts[0].Code != ledger.CodeOK {
			t.Fatalf("checkpoint %d: %+v", res.Seq, res.Receipts[0])
		}
		if err := st.PutCertificate(net.CertifyBy(res, certifiers...)); err != nil {
			t.Fatal(err)
		}
		meta, _ = st.Meta()
		return meta
	}
	apply([]*ledger.Signer{m0, m1, m2}, &ledger.GovMember{Member: ledger.Member{ID: m3.ID(), Role: ledger.RoleMinistry, Name: "ministry 4"}}, m1, m0)
	revoked := apply([]*ledger.Signer{m1, m2, m3}, &ledger.GovRevoke{Member: m0.ID(), Reason: "key compromised"}, m1, m2, m3)
	apply([]*ledger.Signer{m1, m2, m3}, &ledger.GovRevoke{Member: m3.ID(), Reason: "left"}, m1, m2, m3)

	src := snapSource{s: &snapshots{n: &Node{st: st}}}
	raw, err := src.MinistryChanges(revoked.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 {
		t.Fatalf("%d changes up to checkpoint %d, want 2", len(raw), revoked.Seq)
	}
	proofs := make([]ledger.RecordProof, len(raw))
	for i, b := range raw {
		p, err := ledger.DecodeRecordProof(b)
		if err != nil {
			t.Fatal(err)
		}
		proofs[i] = *p
	}
	h, err := ledger.NewMinistryHistory(net.Genesis, proofs)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.KeyID{m1.ID(), m2.ID(), m3.ID()}
	slices.Sort(want)
	if got := h.Set(revoked.Seq+1, revoked.Time); !slices.Equal(got, want) {
		t.Fatalf("proved set %v, want %v", got, want)
	}
	if all, err := src.MinistryChanges(revoked.Seq + 1); err != nil || len(all) != 3 {
		t.Fatalf("changes up to the last checkpoint: %d, %v", len(all), err)
	}
	if one, err := src.MinistryChanges(1); err != nil || len(one) != 1 {
		t.Fatalf("changes up to checkpoint 1: %d, %v", len(one), err)
	}
}
