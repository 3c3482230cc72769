package ledger

import (
	"errors"
	"slices"
	"testing"
)

func TestApply_RejectsCheckpointOutOfOrder(t *testing.T) {
	n := newTnet(t)
	b := n.block(n.bureau["44"], n.rec(n.bureau["44"], n.contribution(worker(1), "440300", 202301, 800000)))
	cb := NewCheckpoint(n.g.Network, 2, n.g.Hash(), n.time, []Hash{b.Hash()})
	if _, err := n.m.Apply(n.st, &cb, []*Block{b}); !errors.Is(err, ErrApply) {
		t.Fatalf("seq 2 first: %v", err)
	}
	cb = NewCheckpoint(n.g.Network, 1, n.g.Hash(), n.time, []Hash{b.Hash()})
	if _, err := n.m.Apply(n.st, &cb, nil); !errors.Is(err, ErrApply) {
		t.Fatalf("missing block: %v", err)
	}
}

func TestRuleC1C2_ContributionRecomputed(t *testing.T) {
	n := newTnet(t)
	b := n.bureau["44"]
	ok := n.contribution(worker(1), "440300", 202301, 800000)
	badBase := *n.contribution(worker(2), "440300", 202301, 800000)
	badBase.Base += 100
	badAmount := *n.contribution(worker(3), "440300", 202301, 800000)
	badAmount.EmployeeAmount++
	low := n.contribution(worker(4), "440300", 202301, 100000) // below the floor: base raised
	badEmployer := *n.contribution(worker(5), "440300", 202301, 800000)
	badEmployer.Employer = "91310115MA1H8R7C6D"
	otherProv := n.contribution(worker(6), "510100", 202301, 800000)
	got := codes(n.submit(b, n.rec(b, ok), n.rec(b, &badBase), n.rec(b, &badAmount), n.rec(b, low), n.rec(b, &badEmployer), n.rec(b, otherProv)))
	want := []string{CodeOK, "C1", "C2", CodeOK, "I2", CodeRole}
	if !slices.Equal(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if a := n.account(worker(1), SchemePension, "44"); a == nil || a.IA != ok.EmployeeAmount || a.Months != 1 {
		t.Fatalf("account %+v", a)
	}
	if n.account(worker(2), SchemePension, "44") != nil {
		t.Fatal("a rejected contribution opened an account")
	}
	// The same record again is a duplicate; the same month in a new record breaks C2's one-month rule.
	r1 := n.rec(b, ok)
	again := n.contribution(worker(1), "440300", 202301, 800000)
	got = codes(n.submit(b, r1, r1, n.rec(b, again)))
	if !slices.Equal(got, []string{"C2", CodeDuplicate, "C2"}) {
		t.Fatalf("duplicates: %v", got)
	}
}

func TestApply_ForgedAndForeignRecords(t *testing.T) {
	n := newTnet(t)
	b44, b51 := n.bureau["44"], n.bureau["51"]
	stranger := fixtureSigner(0x77)
	// A record authored by another bureau without its signature is rejected; a stranger's block is rejected whole.
	foreign := n.rec(b51, n.contribution(worker(1), "510100", 202301, 800000))
	got := codes(n.submit(b44, foreign, []byte{0xff, 0x00}))
	if !slices.Equal(got, []string{CodeAuth, CodeFormat}) {
		t.Fatalf("codes %v", got)
	}
	blk, err := BuildBlock(stranger, n.g.Network, nil, n.time, [][]byte{n.rec(stranger, n.contribution(worker(2), "440300", 202301, 800000))})
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(n.apply(blk).Receipts); !slices.Equal(got, []string{CodeBlock}) {
		t.Fatalf("stranger: %v", got)
	}
}

func TestRecordIDShortcutMatches(t *testing.T) {
	n := newTnet(t)
	raw := n.rec(n.bureau["44"], n.contribution(worker(1), "440300", 202301, 800000))
	rec, _, err := DecodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if recordID(&rec, raw) != rec.ID() {
		t.Fatal("unsigned shortcut gives another ID")
	}
}

// Apply skips the block check only for a value built or verified for its network: a block decoded
// from bytes, or verified against another network, is checked again.
func TestApply_VerifiesBlocksNotYetVerified(t *testing.T) {
	n := newTnet(t)
	b44 := n.bureau["44"]
	blk := n.block(b44, n.rec(b44, n.contribution(worker(1), "440300", 202301, 800000)))
	enc := blk.Encode()
	enc[len(enc)-1] ^= 1 // the signature's last byte
	forged, err := DecodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(n.apply(forged).Receipts); !slices.Equal(got, []string{CodeBlock}) {
		t.Fatalf("forged signature: %v", got)
	}
	other, err := DecodeBlock(blk.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Verify("another-network"); err == nil {
		t.Fatal("verified against the wrong network")
	}
	other.Sig = append([]byte(nil), enc[len(enc)-len(other.Sig):]...)
	if err := other.Verify(n.g.Network); err == nil {
		t.Fatal("verified a forged signature")
	}
	if got := codes(n.apply(other).Receipts); !slices.Equal(got, []string{CodeBlock}) {
		t.Fatalf("forged after a failed check: %v", got)
	}
}
