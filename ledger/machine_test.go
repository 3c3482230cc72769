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

// The employer's code is checked on every record, whichever employer the records before it
// named: an empty or invalid code after valid ones is still rejected.
func TestRuleI2_EmployerCheckedOnEveryRecord(t *testing.T) {
	n := newTnet(t)
	b := n.bureau["44"]
	c := func(w int, employer string) []byte {
		k := n.contribution(worker(w), "440300", 202301, 800000)
		k.Employer = employer
		return n.rec(b, k)
	}
	got := codes(n.submit(b, c(1, ""), c(2, testEmployer), c(3, ""), c(4, "91310115MA1H8R7C6D"), c(5, testEmployer), c(6, "")))
	want := []string{"I2", CodeOK, "I2", "I2", CodeOK, "I2"}
	if !slices.Equal(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
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
	// RecordIDOf, for callers holding only the bytes: unsigned and signed records, and bytes
	// that are not a record.
	signed := n.rec(n.bureau["44"], &ConsentGrant{Worker: worker(1), Grantee: testEmployer, Scope: "history", From: 20230101}, n.bureau["51"])
	for _, b := range [][]byte{raw, signed} {
		r, _, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if id, err := RecordIDOf(b); err != nil || id != r.ID() {
			t.Fatalf("RecordIDOf: %v, %v; want %v (signatures %d)", id, err, r.ID(), len(r.Sigs))
		}
	}
	if _, err := RecordIDOf(raw[:len(raw)-1]); err == nil {
		t.Fatal("RecordIDOf of truncated bytes: no error")
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

// plainReader hides a MemState behind the StateReader interface, so that Apply takes its general
// path (no shared hashes, no prefetching) as it does over the badger store.
type plainReader struct{ st *MemState }

func (p plainReader) Get(key []byte) ([]byte, bool, error) { return p.st.Get(key) }

// A block longer than Apply's window of prepared records, with a duplicate, an undecodable
// record, a repeated month and a second month of one worker across window boundaries, over
// workers who have accounts already and workers who have none, gives the same receipts, writes
// and state roots over a MemState (hashes shared with it, look-ups prefetched) as over a plain
// StateReader.
func TestApply_WindowsAndMemStatePathMatchPlainReader(t *testing.T) {
	n := newTnet(t)
	b := n.bureau["44"]
	plain := NewMemState()
	plain.Commit(GenesisWrites(n.g))
	// apply applies blocks to both states and checks that they agree.
	apply := func(blocks ...*Block) *Result {
		t.Helper()
		cb := n.next(blocks)
		got, err := n.m.Apply(n.st, cb, blocks)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := n.m.Apply(plainReader{plain}, cb, blocks)
		if err != nil {
			t.Fatal(err)
		}
		if got.StateRoot != ref.StateRoot || !slices.Equal(codes(got.Receipts), codes(ref.Receipts)) || !slices.EqualFunc(got.Writes, ref.Writes, func(a, b Write) bool {
			return string(a.Key) == string(b.Key) && string(a.Value) == string(b.Value) && a.Delete == b.Delete
		}) {
			t.Fatalf("the MemState path and the plain reader's differ: %v, %v", codes(got.Receipts), codes(ref.Receipts))
		}
		n.st.Commit(got.Writes)
		plain.Commit(ref.Writes)
		return got
	}
	// Workers 0, 2, 4 … have an account and a month already.
	var first [][]byte
	for i := 0; i < 3*applyWindow+5; i += 2 {
		first = append(first, n.rec(b, n.contribution(worker(i), "440300", 202211, 700000)))
	}
	if res := apply(n.block(b, first...)); !slices.Equal(codes(res.Receipts), slices.Repeat([]string{CodeOK}, len(first))) {
		t.Fatalf("first checkpoint: %v", codes(res.Receipts))
	}
	var recs [][]byte
	var want []string
	for i := range 3*applyWindow + 5 {
		var r []byte
		code := CodeOK
		switch i {
		case applyWindow + 1: // the record of position 5 again, one window later
			r, code = recs[5], CodeDuplicate
		case applyWindow: // the first of the second window does not decode
			r, code = []byte{0xa1, 0x01}, CodeFormat
		case 2*applyWindow + 3: // worker 10's month again, in a new record
			r, code = n.rec(b, n.contribution(worker(10), "440300", 202301, 810000)), "C2"
		case 2*applyWindow + 4: // worker 10's month of the first checkpoint again
			r, code = n.rec(b, n.contribution(worker(10), "440300", 202211, 810000)), "C2"
		case 2*applyWindow + 2: // worker 11's previous month: fine
			r = n.rec(b, n.contribution(worker(11), "440300", 202212, 800000))
		default:
			r = n.rec(b, n.contribution(worker(i), "440300", 202301, 800000+int64(i)))
		}
		recs, want = append(recs, r), append(want, code)
	}
	if got := codes(apply(n.block(b, recs...)).Receipts); !slices.Equal(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if a := n.account(worker(10), SchemePension, "44"); a == nil || a.Months != 2 {
		t.Fatalf("worker 10's account: %+v", a)
	}
}
