package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

func hashOf(s string) ledger.Hash {
	var h ledger.Hash
	copy(h[:], s)
	return h
}

func TestEquivocationEvidence(t *testing.T) {
	n := ledgertest.New(t)
	net := n.Genesis.Network
	set := ledger.GenesisMinistry(n.Genesis, n.Time)
	f := NewFinality(net, nil, nil, nil, nil)
	f.SetLocal(1, set, hashOf("cp"), hashOf("root"))
	m := n.Ministry[1]
	if err := f.HandleVote(ledger.SignVote(m, net, 1, hashOf("cp"), hashOf("root"))); err != nil {
		t.Fatal(err)
	}
	if err := f.HandleVote(ledger.SignVote(m, net, 1, hashOf("cp"), hashOf("other"))); err != nil {
		t.Fatal(err)
	}
	ev := f.ev.List()
	if len(ev) != 1 || ev[0].Kind != EvidenceEquivocation || ev[0].Offender() != m.ID() {
		t.Fatalf("evidence %+v", ev)
	}
	enc := ev[0].Encode()
	dec, err := DecodeEvidence(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify(net, nil); err != nil {
		t.Fatal(err)
	}
	if dec.ID() != ev[0].ID() {
		t.Fatal("evidence ID changed through encoding")
	}
	// A forged half does not verify.
	dec.Votes[1].Sig.Sig = bytes.Clone(dec.Votes[1].Sig.Sig)
	dec.Votes[1].Sig.Sig[0] ^= 1
	if err := dec.Verify(net, nil); !errors.Is(err, ErrEvidence) {
		t.Fatalf("forged evidence verified: %v", err)
	}
	if h := f.mon.Health(); h.State != HealthDegraded || h.Kind != AlarmEquivocation {
		t.Fatalf("health %+v", h)
	}
}

func TestDoubleBlockEvidence(t *testing.T) {
	n := ledgertest.New(t)
	net := n.Genesis.Network
	p := n.Bureau["44"]
	a, err := ledger.BuildBlock(p, net, nil, n.Time, [][]byte{[]byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.BuildBlock(p, net, nil, n.Time, [][]byte{[]byte("two")})
	if err != nil {
		t.Fatal(err)
	}
	e := newDoubleBlock(SignedHeader{a.Header, a.Sig}, SignedHeader{b.Header, b.Sig})
	dec, err := DecodeEvidence(e.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify(net, nil); err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify("other-network", nil); err == nil {
		t.Fatal("evidence verified for another network")
	}
	same := newDoubleBlock(SignedHeader{a.Header, a.Sig}, SignedHeader{a.Header, a.Sig})
	if _, err := DecodeEvidence(same.Encode()); err == nil {
		t.Fatal("two copies of one block accepted as evidence")
	}
}

func TestDecodeEvidenceRejectsNonCanonical(t *testing.T) {
	n := ledgertest.New(t)
	m := n.Ministry[0]
	e := newEquivocation(ledger.SignVote(m, n.Genesis.Network, 3, hashOf("a"), hashOf("r")),
		ledger.SignVote(m, n.Genesis.Network, 3, hashOf("b"), hashOf("r")))
	good := e.Encode()
	if _, err := DecodeEvidence(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"version":  append([]byte{2}, good[1:]...),
		"trailing": append(bytes.Clone(good), 0),
		"empty":    {},
		"kind":     (&Evidence{Kind: 9}).Encode(),
	} {
		if _, err := DecodeEvidence(b); !errors.Is(err, ErrEvidence) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Swapped order is not canonical.
	sw := &Evidence{Kind: EvidenceEquivocation, Votes: []ledger.Vote{e.Votes[1], e.Votes[0]}}
	if _, err := DecodeEvidence(sw.Encode()); err == nil {
		t.Error("unordered votes accepted")
	}
}

func FuzzDecodeEvidence(f *testing.F) {
	n := ledgertest.New(f)
	m := n.Ministry[0]
	e := newEquivocation(ledger.SignVote(m, n.Genesis.Network, 3, hashOf("a"), hashOf("r")),
		ledger.SignVote(m, n.Genesis.Network, 3, hashOf("b"), hashOf("r")))
	f.Add(e.Encode())
	p := n.Bureau["44"]
	a, _ := ledger.BuildBlock(p, n.Genesis.Network, nil, n.Time, [][]byte{[]byte("one")})
	b, _ := ledger.BuildBlock(p, n.Genesis.Network, nil, n.Time, [][]byte{[]byte("two")})
	f.Add(newDoubleBlock(SignedHeader{a.Header, a.Sig}, SignedHeader{b.Header, b.Sig}).Encode())
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeEvidence(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(ev.Encode(), raw) {
			t.Fatal("decoded evidence re-encodes differently")
		}
		_ = ev.Verify(n.Genesis.Network, nil) // must not panic
	})
}
