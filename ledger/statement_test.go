package ledger

import (
	"errors"
	"slices"
	"testing"
)

// certify makes the finality certificate of a result with all ministry keys.
func (n *tnet) certify(res *Result) Certificate { return n.certifyBy(res, n.ministry) }

// certifyBy makes the finality certificate of a result with the votes of signers.
func (n *tnet) certifyBy(res *Result, signers []*Signer) Certificate {
	var votes []Vote
	for _, s := range signers {
		votes = append(votes, SignVote(s, n.g.Network, res.Seq, res.Checkpoint, res.StateRoot))
	}
	return Certify(res.Seq, res.Checkpoint, res.StateRoot, votes)
}

// proveAll applies blocks as one checkpoint and returns a proof of every record.
func (n *tnet) proveAll(blocks ...*Block) []RecordProof {
	n.t.Helper()
	return n.proveAllBy(n.ministry, blocks...)
}

// proveAllBy is proveAll with the checkpoint certified by the votes of signers.
func (n *tnet) proveAllBy(signers []*Signer, blocks ...*Block) []RecordProof {
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
	cert := n.certifyBy(res, signers)
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

// TestStatement_CountsCorrectionsAsApplied: a corrected contribution counts as its replacement
// and a withdrawn one not at all, in the statement's sums as in the ledger.
func TestStatement_CountsCorrectionsAsApplied(t *testing.T) {
	n := newTnet(t)
	b44 := n.bureau["44"]
	w := worker(9)
	c1 := n.contribution(w, "440300", 202301, 800000)
	c2 := n.contribution(w, "440300", 202302, 800000)
	n.advanceDays(40)
	r1, r2 := n.rec(b44, c1), n.rec(b44, c2)
	proofs := n.proveAll(n.block(b44, r1, r2))
	id1, id2 := mustID(t, r1), mustID(t, r2)
	repl := n.contribution(w, "440300", 202301, 900000)
	replBody := NewRecord(b44.ID(), 0, repl).Body
	fix := n.rec(b44, &Correction{Target: id1, Reason: ReasonWrongAmount, Replacement: replBody})
	withdraw := n.rec(b44, &Correction{Target: id2, Reason: ReasonWithdrawn})
	more := n.proveAll(n.block(b44, fix, withdraw))
	for i, p := range more {
		if p.Code != CodeOK {
			t.Fatalf("correction %d: receipt %s", i, p.Code)
		}
	}
	all := append(append([]RecordProof{}, proofs...), more...)
	sum, err := (&Statement{Network: n.g.Network, Worker: w, Proofs: all}).Verify(n.g)
	if err != nil {
		t.Fatal(err)
	}
	got := sum.Regions["44"]
	if got.Months != 1 || got.EmployeeAmount != repl.EmployeeAmount || got.EmployerAmount != repl.EmployerAmount || sum.Records != 4 {
		t.Fatalf("summary %+v, want one month of the replacement (%d, %d)", sum, repl.EmployeeAmount, repl.EmployerAmount)
	}
	// The ledger agrees: the account holds one month.
	if a := n.account(w, SchemePension, "44"); a.Months != 1 {
		t.Fatalf("the ledger's account has %d months", a.Months)
	}
	// A withdrawal whose target is not in the statement cannot be attributed to the worker.
	partial := []RecordProof{proofs[0], more[0], more[1]}
	if _, err := (&Statement{Network: n.g.Network, Worker: w, Proofs: partial}).Verify(n.g); !errors.Is(err, ErrStatement) {
		t.Fatalf("withdrawal without its target verified: %v", err)
	}
	// Without the corrections the statement still verifies, with the original figures (a
	// statement cannot prove that nothing was left out).
	if sum, err := (&Statement{Network: n.g.Network, Worker: w, Proofs: proofs}).Verify(n.g); err != nil || sum.Regions["44"].Months != 2 {
		t.Fatalf("originals only: %+v %v", sum, err)
	}
}

// TestStatement_WrongWorkerCorrection: a contribution booked to the wrong worker and corrected
// to the right one leaves the first worker's statement without it and adds it to the second's.
func TestStatement_WrongWorkerCorrection(t *testing.T) {
	n := newTnet(t)
	b44 := n.bureau["44"]
	wrong, right := worker(10), worker(11)
	orig := n.rec(b44, n.contribution(wrong, "440300", 202301, 800000))
	first := n.proveAll(n.block(b44, orig))
	repl := n.contribution(right, "440300", 202301, 800000)
	fix := n.proveAll(n.block(b44, n.rec(b44, &Correction{Target: mustID(t, orig), Reason: ReasonWrongWorker, Replacement: NewRecord(b44.ID(), 0, repl).Body})))
	if fix[0].Code != CodeOK {
		t.Fatalf("correction: %s", fix[0].Code)
	}
	for _, c := range []struct {
		w      WorkerID
		proofs []RecordProof
		months int
	}{{wrong, append(first, fix...), 0}, {right, fix, 1}} {
		sum, err := (&Statement{Network: n.g.Network, Worker: c.w, Proofs: c.proofs}).Verify(n.g)
		if err != nil || sum.Regions["44"].Months != c.months {
			t.Fatalf("worker %x: %+v %v, want %d months", c.w[:4], sum, err, c.months)
		}
	}
	if _, err := (&Statement{Network: n.g.Network, Worker: worker(12), Proofs: fix}).Verify(n.g); !errors.Is(err, ErrStatement) {
		t.Fatalf("a third worker's statement accepted the correction: %v", err)
	}
}

// TestStatement_FollowsMinistryChanges: after the ministry admits a member and revokes another,
// certificates of the new set verify offline when the statement carries the two governance
// records, and not without them, out of order, or with a change that was not accepted; the
// history's set is the one the state machine computes.
func TestStatement_FollowsMinistryChanges(t *testing.T) {
	n := newTnet(t)
	m0, m1, m2 := n.ministry[0], n.ministry[1], n.ministry[2]
	s3 := fixtureSigner(0x57)
	b44 := n.bureau["44"]
	w := worker(9)

	admit := &GovMember{Member: Member{ID: s3.ID(), Role: RoleMinistry, Name: "Ministry node 4"}}
	changes := n.proveAllBy([]*Signer{m0, m1, m2}, n.block(m0, n.rec(m0, admit, m0, m1)))
	// Four members now: a majority is three, for the revocation and for its certificate.
	revoke := &GovRevoke{Member: m0.ID(), Reason: "key compromised"}
	changes = append(changes, n.proveAllBy([]*Signer{m1, m2, s3}, n.block(m1, n.rec(m1, revoke, m1, m2, s3)))...)
	for i, p := range changes {
		if p.Code != CodeOK {
			t.Fatalf("change %d: %s", i, p.Code)
		}
	}
	n.advanceDays(1)
	// {m1, m2, s3}: two of three is a majority; under the genesis set only m1 would count.
	proofs := n.proveAllBy([]*Signer{m1, s3}, n.block(b44, n.rec(b44, n.contribution(w, "440300", 202301, 800000))))

	meta, _ := ReadMeta(n.st)
	h, err := NewMinistryHistory(n.g, changes)
	if err != nil {
		t.Fatal(err)
	}
	want, err := MinistrySet(n.st, n.time)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Set(meta.Seq+1, n.time); !slices.Equal(got, want) {
		t.Fatalf("history's ministry set %v, the state machine's %v", got, want)
	}
	if got := h.Set(changes[0].Checkpoint.Seq, n.time); !slices.Equal(got, GenesisMinistry(n.g, n.time)) {
		t.Fatalf("before the first change: %v", got)
	}

	st := &Statement{Network: n.g.Network, Worker: w, Proofs: proofs, Ministry: changes}
	dec, err := DecodeStatement(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := dec.Verify(n.g); err != nil || sum.Records != 1 {
		t.Fatalf("statement with the changes: %+v, %v", sum, err)
	}

	// A proof of a rejected governance record (one signature of three is not a majority).
	n.advanceDays(1)
	rejected := n.proveAllBy([]*Signer{m1, m2, s3}, n.block(m1, n.rec(m1, &GovRevoke{Member: m2.ID()}, m1)))
	if rejected[0].Code != CodeGov {
		t.Fatalf("a revocation signed by one member: %s", rejected[0].Code)
	}
	// A governance record certified by keys that are not the ministry.
	forged := changes[1]
	forged.Certificate = Certify(forged.Certificate.Seq, forged.Certificate.Checkpoint, forged.Certificate.StateRoot,
		[]Vote{SignVote(fixtureSigner(0x66), n.g.Network, forged.Certificate.Seq, forged.Certificate.Checkpoint, forged.Certificate.StateRoot),
			SignVote(fixtureSigner(0x67), n.g.Network, forged.Certificate.Seq, forged.Certificate.Checkpoint, forged.Certificate.StateRoot),
			SignVote(fixtureSigner(0x68), n.g.Network, forged.Certificate.Seq, forged.Certificate.Checkpoint, forged.Certificate.StateRoot)})
	bad := map[string][]RecordProof{
		"no changes":              nil,
		"revocation left out":     changes[:1],
		"out of order":            {changes[1], changes[0]},
		"repeated":                {changes[0], changes[0], changes[1]},
		"a rejected change":       {changes[0], changes[1], rejected[0]},
		"not a governance record": {changes[0], changes[1], proofs[0]},
		"forged certificate":      {changes[0], forged},
	}
	for name, ch := range bad {
		s := &Statement{Network: n.g.Network, Worker: w, Proofs: proofs, Ministry: ch}
		if _, err := s.Verify(n.g); !errors.Is(err, ErrStatement) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A proof that travels alone carries the changes itself; without them it fails, and a change
	// may not carry changes of its own.
	alone := proofs[0]
	if _, _, err := alone.Verify(n.g); !errors.Is(err, ErrStatement) {
		t.Fatalf("a proof certified by the new set verified against the genesis set: %v", err)
	}
	alone.Ministry = changes
	decoded, err := DecodeRecordProof(alone.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decoded.Verify(n.g); err != nil {
		t.Fatalf("a proof carrying the changes: %v", err)
	}
	nested := slices.Clone(changes)
	nested[1].Ministry = changes[:1]
	if _, err := NewMinistryHistory(n.g, nested); !errors.Is(err, ErrStatement) {
		t.Fatalf("a change carrying changes: %v", err)
	}
	// The revoked member's vote does not count after the revocation: m0 with m1 is not a majority.
	late := n.proveAllBy([]*Signer{m0, m1}, n.block(b44, n.rec(b44, n.contribution(w, "440300", 202302, 800000))))
	if _, _, err := late[0].VerifyWith(h); !errors.Is(err, ErrStatement) {
		t.Errorf("a certificate of a revoked and a current member verified: %v", err)
	}
}
