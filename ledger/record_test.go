package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestFixtureBodiesCoverEveryType(t *testing.T) {
	for _, set := range [][]Body{fixtureBodies(), fixtureMinimalBodies()} {
		var got []RecordType
		for _, b := range set {
			got = append(got, b.RecordType())
		}
		slices.Sort(got)
		if !slices.Equal(got, RecordTypes()) {
			t.Fatalf("fixture bodies cover %v, want %v", got, RecordTypes())
		}
	}
	if len(bodyTypes) != len(RecordTypes()) {
		t.Fatalf("%d body constructors, %d record types", len(bodyTypes), len(RecordTypes()))
	}
	for _, rt := range RecordTypes() {
		if got := bodyTypes[rt]().RecordType(); got != rt {
			t.Fatalf("constructor of %s makes %s", rt, got)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	author := fixtureSigner(1)
	for _, set := range [][]Body{fixtureBodies(), fixtureMinimalBodies()} {
		for _, body := range set {
			for _, at := range []uint64{0, 1735689600000} {
				r := NewRecord(author.ID(), at, body)
				for signed := range 2 {
					if signed == 1 {
						r.Sign(fixtureNetwork, author)
					}
					b := r.Encode()
					got, gotBody, err := DecodeRecord(b)
					if err != nil {
						t.Fatalf("%s: %v", body.RecordType(), err)
					}
					if !reflect.DeepEqual(got, r) {
						t.Fatalf("%s: decoded %+v, want %+v", body.RecordType(), got, r)
					}
					if !reflect.DeepEqual(gotBody, body) {
						t.Fatalf("%s: decoded body %+v, want %+v", body.RecordType(), gotBody, body)
					}
					if !bytes.Equal(got.Encode(), b) {
						t.Fatalf("%s: re-encoding differs", body.RecordType())
					}
					if got.ID() != r.ID() {
						t.Fatalf("%s: ID changed", body.RecordType())
					}
					if got.Type != body.RecordType() || got.Author != author.ID() || got.At != at {
						t.Fatalf("%s: envelope %+v", body.RecordType(), got)
					}
				}
			}
		}
	}
}

func TestRecordSignatures(t *testing.T) {
	producer, employer, other := fixtureSigner(1), fixtureSigner(2), fixtureSigner(9)
	r := NewRecord(employer.ID(), 1, fixtureBodies()[1])
	id := r.ID()
	r.Sign(fixtureNetwork, employer)
	r.Sign(fixtureNetwork, producer)
	if r.ID() != id {
		t.Fatal("signing changed the record ID")
	}
	if !sigsSorted(r.Sigs) {
		t.Fatal("Sign left signatures unsorted")
	}
	signers, err := r.VerifySigs(fixtureNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if len(signers) != 2 || !signers[employer.ID()] || !signers[producer.ID()] || signers[other.ID()] {
		t.Fatalf("signers %v", signers)
	}

	// The signature covers exactly tag || 0 || network || 0 || record ID.
	msg := slices.Concat([]byte("jaminan/v1/record-sig\x00"), []byte(fixtureNetwork), []byte{0}, id[:])
	for _, s := range r.Sigs {
		if !ed25519.Verify(mustKeyIDPublicKey(t, s.Signer), msg, s.Sig) {
			t.Fatalf("signature of %s does not cover the documented message", s.Signer.Short())
		}
	}

	decoded, _, err := DecodeRecord(r.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decoded.VerifySigs(fixtureNetwork); err != nil {
		t.Fatalf("decoded record: %v", err)
	}

	mustFail := func(name string, r Record, network string) {
		t.Helper()
		if _, err := r.VerifySigs(network); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: %v, want ErrSignature", name, err)
		}
	}
	mustFail("wrong network", r, "jaminan-other")
	mustFail("network prefix", r, fixtureNetwork[:len(fixtureNetwork)-1])

	tampered := r
	tampered.Sigs = slices.Clone(r.Sigs)
	body := *fixtureBodies()[1].(*Employment)
	body.End = 20251231
	tampered.Body = encode(&body)
	if tampered.ID() == r.ID() {
		t.Fatal("changing the body kept the ID")
	}
	mustFail("tampered body", tampered, fixtureNetwork)
	for name, edit := range map[string]func(*Record){
		"tampered type":   func(r *Record) { r.Type = TypeEmployment + "x" },
		"tampered author": func(r *Record) { r.Author = other.ID() },
		"tampered time":   func(r *Record) { r.At++ },
	} {
		x := r
		x.Sigs = slices.Clone(r.Sigs)
		edit(&x)
		if x.ID() == r.ID() {
			t.Fatalf("%s kept the ID", name)
		}
		mustFail(name, x, fixtureNetwork)
	}

	sigEdits := map[string]func([]Sig) []Sig{
		"flipped signature byte": func(s []Sig) []Sig { s[0].Sig = slices.Clone(s[0].Sig); s[0].Sig[5] ^= 1; return s },
		"short signature":        func(s []Sig) []Sig { s[0].Sig = s[0].Sig[:63]; return s },
		"empty signature":        func(s []Sig) []Sig { s[0].Sig = nil; return s },
		"signer swapped":         func(s []Sig) []Sig { s[0].Signer = other.ID(); return s },
		"signer not ed25519":     func(s []Sig) []Sig { s[0].Signer = KeyID("\x12\x20" + string(make([]byte, 32))); return s },
		"duplicate signer":       func(s []Sig) []Sig { return append(s, s[0]) },
		"too many signatures": func(s []Sig) []Sig {
			for range MaxRecordSigs {
				s = append(s, s[0])
			}
			return s
		},
	}
	for name, edit := range sigEdits {
		x := r
		x.Sigs = edit(slices.Clone(r.Sigs))
		mustFail(name, x, fixtureNetwork)
	}

	// Signing twice with one key gives a duplicate that verification refuses, and that the
	// decoder refuses as not strictly sorted.
	twice := NewRecord(employer.ID(), 1, fixtureBodies()[1])
	twice.Sign(fixtureNetwork, employer)
	twice.Sign(fixtureNetwork, employer)
	mustFail("signed twice", twice, fixtureNetwork)
	if _, _, err := DecodeRecord(twice.Encode()); !errors.Is(err, ErrEncoding) {
		t.Fatalf("decode duplicate signer: %v", err)
	}
}

func TestDecodeRecordRejectsUnsortedSigs(t *testing.T) {
	r := NewRecord(fixtureSigner(1).ID(), 1, fixtureBodies()[0])
	for _, b := range []byte{1, 2, 3} {
		r.Sign(fixtureNetwork, fixtureSigner(b))
	}
	if _, _, err := DecodeRecord(r.Encode()); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(r.Sigs)
	if _, _, err := DecodeRecord(encode(&r)); !errors.Is(err, ErrEncoding) {
		t.Fatalf("unsorted signatures: %v", err)
	}
	// VerifySigs does not care about order (it is given values, not bytes).
	if _, err := r.VerifySigs(fixtureNetwork); err != nil {
		t.Fatal(err)
	}
	var many Record = NewRecord(fixtureSigner(1).ID(), 1, fixtureBodies()[0])
	for i := range MaxRecordSigs + 1 {
		many.Sign(fixtureNetwork, fixtureSigner(byte(10+i)))
	}
	if _, _, err := DecodeRecord(many.Encode()); !errors.Is(err, ErrEncoding) {
		t.Fatalf("%d signatures: %v", len(many.Sigs), err)
	}
}

func mustKeyIDPublicKey(t *testing.T, id KeyID) ed25519.PublicKey {
	t.Helper()
	pub, err := id.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// PeekRecordType reads the declared type of every kind of record, and refuses bytes that do not
// start like a record envelope.
func TestPeekRecordType(t *testing.T) {
	for _, body := range fixtureBodies() {
		r := NewRecord(fixtureSigner(1).ID(), 1735689600000, body)
		if got, ok := PeekRecordType(r.Encode()); !ok || got != body.RecordType() {
			t.Errorf("PeekRecordType = %q %v, want %s", got, ok, body.RecordType())
		}
	}
	for _, raw := range [][]byte{nil, {0xa5}, {0xa1, 0x02, 0x61, 'x'}, {0x80}, {0xa1, 0x01, 0x01}, {0xa1, 0x01, 0x62, 0xff, 0xfe}} {
		if got, ok := PeekRecordType(raw); ok {
			t.Errorf("PeekRecordType(%x) = %q, want not ok", raw, got)
		}
	}
}
