package ledger

import (
	"errors"
	"testing"
)

// certify makes the finality certificate of a result with all ministry keys.
func (n *tnet) certify(res *Result) Certificate {
	var votes []Vote
	for _, s := range n.ministry {
		votes = append(votes, SignVote(s, n.g.Network, res.Seq, res.Checkpoint, res.StateRoot))
	}
	return Certify(res.Seq, res.Checkpoint, res.StateRoot, votes)
}

// proveAll applies blocks as one checkpoint and returns a proof of every record.
func (n *tnet) proveAll(blocks ...*Block) []RecordProof {
	n.t.Helper()
	meta, _ := ReadMeta(n.st)
	res := n.apply(blocks...)
	hs := make([]Hash, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Hash()
	}
	cb := NewCheckpoint(n.g.Network, res.Seq, meta.Checkpoint, n.time, hs)
	if cb.Checkpoint.Hash() != res.Checkpoint {
		n.t.Fatal("rebuilt checkpoint differs")
	}
	cert := n.certify(res)
	var out []RecordProof
	for _, b := range blocks {
		for i := range b.Records {
			p, err := BuildRecordProof(b, i, &cb, res, cert)
			if err != nil {
				n.t.Fatal(err)
			}
			out = append(out, *p)
		}
	}
	return out
}

func TestStatement_VerifiesOffline(t *testing.T) {
	n := newTnet(t)
	b44, b51 := n.bureau["44"], n.bureau["51"]
	w := worker(7)
	c1 := n.contribution(w, "440300", 202301, 800000)
	bad := *n.contribution(w, "440300", 202301, 800000)
	bad.EmployeeAmount++
	other := n.contribution(worker(8), "510100", 202301, 900000)
	proofs := n.proveAll(n.block(b44, n.rec(b44, c1), n.rec(b44, &bad)), n.block(b51, n.rec(b51, other)))
	n.advanceDays(40)
	c2 := n.contribution(w, "510100", 202302, 900000)
	proofs = append(proofs, n.proveAll(n.block(b51, n.rec(b51, c2)))...)

	st := &Statement{Network: n.g.Network, Worker: w, Proofs: []RecordProof{proofs[0], proofs[1], proofs[3]}}
	dec, err := DecodeStatement(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := dec.Verify(n.g)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 3 || sum.Regions["44"].Months != 1 || sum.Regions["44"].EmployeeAmount != c1.EmployeeAmount ||
		sum.Regions["51"].EmployeeAmount != c2.EmployeeAmount {
		t.Fatalf("summary %+v", sum)
	}
	if proofs[1].Code != "C2" {
		t.Fatalf("the rejected record's proof says %s", proofs[1].Code)
	}

	// Every tamper fails.
	tampers := map[string]func(p *RecordProof){
		"record byte":   func(p *RecordProof) { p.Record = append([]byte(nil), p.Record...); p.Record[len(p.Record)-1] ^= 1 },
		"receipt code":  func(p *RecordProof) { p.Code = "C2" },
		"state root":    func(p *RecordProof) { p.PrevStateRoot[0] ^= 1 },
		"writes digest": func(p *RecordProof) { p.WritesDigest[0] ^= 1 },
		"few sigs":      func(p *RecordProof) { p.Certificate.Sigs = p.Certificate.Sigs[:1] },
		"block sig":     func(p *RecordProof) { p.BlockSig = append([]byte(nil), p.BlockSig...); p.BlockSig[0] ^= 1 },
		"block size":    func(p *RecordProof) { p.InBlock.Size++ },
		"checkpoint":    func(p *RecordProof) { p.Checkpoint.Time++ },
		"forged cert": func(p *RecordProof) {
			p.Certificate = Certify(p.Certificate.Seq, p.Certificate.Checkpoint, p.Certificate.StateRoot,
				[]Vote{SignVote(fixtureSigner(0x66), n.g.Network, p.Certificate.Seq, p.Certificate.Checkpoint, p.Certificate.StateRoot),
					SignVote(fixtureSigner(0x67), n.g.Network, p.Certificate.Seq, p.Certificate.Checkpoint, p.Certificate.StateRoot)})
		},
	}
	for name, f := range tampers {
		p, err := DecodeRecordProof(proofs[0].Encode())
		if err != nil {
			t.Fatal(err)
		}
		f(p)
		if _, _, err := p.Verify(n.g); !errors.Is(err, ErrStatement) {
			t.Errorf("%s: tampered proof verified (%v)", name, err)
		}
	}
	// A statement may not smuggle in another worker's record or repeat one.
	for name, ps := range map[string][]RecordProof{"other worker": {proofs[0], proofs[2]}, "repeat": {proofs[0], proofs[0]}} {
		s := &Statement{Network: n.g.Network, Worker: w, Proofs: ps}
		if _, err := s.Verify(n.g); !errors.Is(err, ErrStatement) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
