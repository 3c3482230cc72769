package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A hand-written CBOR writer, independent of the library, so that the tests can build exactly the
// non-canonical byte forms the decoders must refuse.

// cborHead returns the head of a data item of major type major with argument n, in the shortest
// form, or with an argument of width bytes (1, 2, 4 or 8) when width is not zero.
func cborHead(major byte, n uint64, width int) []byte {
	m := major << 5
	if width == 0 {
		switch {
		case n < 24:
			return []byte{m | byte(n)}
		case n <= 0xff:
			width = 1
		case n <= 0xffff:
			width = 2
		case n <= 0xffffffff:
			width = 4
		default:
			width = 8
		}
	}
	var arg [8]byte
	binary.BigEndian.PutUint64(arg[:], n)
	info := map[int]byte{1: 24, 2: 25, 4: 26, 8: 27}[width]
	return append([]byte{m | info}, arg[8-width:]...)
}

func cborUint(n uint64) []byte  { return cborHead(0, n, 0) }
func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b)), 0), b...) }
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s)), 0), s...) }

// cborMap returns a definite-length map of the given key and value items, in the order given.
func cborMap(kv ...[]byte) []byte {
	return slices.Concat(append([][]byte{cborHead(5, uint64(len(kv)/2), 0)}, kv...)...)
}

// recordParts returns the key and value items of the fixture record envelope, in canonical order.
func recordParts(t *testing.T) (Record, [][]byte) {
	t.Helper()
	r := NewRecord(fixtureSigner(1).ID(), 1735689600000, fixtureBodies()[0])
	return r, [][]byte{
		cborUint(1), cborText(string(r.Type)),
		cborUint(2), cborBytes([]byte(r.Author)),
		cborUint(3), cborUint(r.At),
		cborUint(4), r.Body,
	}
}

// TestRecordEncodingByHand checks the envelope layout documented in docs/wire.md.
func TestRecordEncodingByHand(t *testing.T) {
	r, parts := recordParts(t)
	if got, want := r.Encode(), cborMap(parts...); !bytes.Equal(got, want) {
		t.Fatalf("record encodes as\n%x\nwant\n%x", got, want)
	}
	if _, _, err := DecodeRecord(cborMap(parts...)); err != nil {
		t.Fatal(err)
	}
	s := fixtureSigner(1)
	r.Sign(fixtureNetwork, s)
	sig := cborMap(cborUint(1), cborBytes([]byte(s.ID())), cborUint(2), cborBytes(r.Sigs[0].Sig))
	want := cborMap(append(slices.Clone(parts), cborUint(5), append(cborHead(4, 1, 0), sig...))...)
	if got := r.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("signed record encodes as\n%x\nwant\n%x", got, want)
	}
	// The ID covers the envelope without key 5.
	if got, want := r.ID(), taggedHash(tagRecord, cborMap(parts...)); got != want {
		t.Fatalf("ID %s, want %s", got, want)
	}
}

// TestDecodeRecordRejectsNonCanonical lists byte forms that decode to a valid record under a
// lenient decoder but are not the one canonical encoding.
func TestDecodeRecordRejectsNonCanonical(t *testing.T) {
	r, p := recordParts(t)
	k1, v1, k2, v2, k3, v3, k4, v4 := p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
	join := func(items ...[]byte) []byte { return slices.Concat(items...) }
	body := func(b Body, edit func([]byte) []byte) []byte { return edit(encode(b)) }
	contribution := fixtureBodies()[0].(*Contribution)

	cases := []struct {
		name string
		in   []byte
	}{
		{"empty input", nil},
		{"not a map", cborUint(1)},
		{"array instead of map", join(cborHead(4, 4, 0), v1, v2, v3, v4)},
		{"non-shortest integer value", cborMap(k1, v1, k2, v2, k3, cborHead(0, 1<<20, 8), k4, v4)},
		{"non-shortest small integer", cborMap(k1, v1, k2, v2, cborUint(3), cborHead(0, 3, 1), k4, v4)},
		{"non-shortest key", cborMap(cborHead(0, 1, 1), v1, k2, v2, k3, v3, k4, v4)},
		{"non-shortest map length", join(cborHead(5, 4, 1), k1, v1, k2, v2, k3, v3, k4, v4)},
		{"non-shortest text length", cborMap(k1, append(cborHead(3, uint64(len(r.Type)), 2), r.Type...), k2, v2, k3, v3, k4, v4)},
		{"non-shortest byte string length", cborMap(k1, v1, k2, append(cborHead(2, uint64(len(r.Author)), 4), r.Author...), k3, v3, k4, v4)},
		{"unsorted map keys", cborMap(k2, v2, k1, v1, k3, v3, k4, v4)},
		{"unsorted map keys at the end", cborMap(k1, v1, k2, v2, k4, v4, k3, v3)},
		{"indefinite-length map", join([]byte{0xbf}, k1, v1, k2, v2, k3, v3, k4, v4, []byte{0xff})},
		{"indefinite-length text", cborMap(k1, join([]byte{0x7f}, v1, []byte{0xff}), k2, v2, k3, v3, k4, v4)},
		{"indefinite-length bytes", cborMap(k1, v1, k2, join([]byte{0x5f}, v2, []byte{0xff}), k3, v3, k4, v4)},
		{"duplicate key, same value", cborMap(k1, v1, k1, v1, k2, v2, k3, v3, k4, v4)},
		{"duplicate key, other value", cborMap(k1, v1, k2, v2, k3, v3, k3, cborUint(r.At+1), k4, v4)},
		{"unknown field key", cborMap(k1, v1, k2, v2, k3, v3, k4, v4, cborUint(9), cborUint(0))},
		{"unknown field key 0", cborMap(cborUint(0), cborUint(0), k1, v1, k2, v2, k3, v3, k4, v4)},
		{"text key", cborMap(cborText("1"), v1, k2, v2, k3, v3, k4, v4)},
		{"negative key", cborMap(cborHead(1, 0, 0), v1, k2, v2, k3, v3, k4, v4)},
		{"trailing zero byte", append(cborMap(p...), 0x00)},
		{"trailing item", append(cborMap(p...), cborMap(p...)...)},
		{"zero field not omitted", cborMap(k1, v1, k2, v2, k3, cborUint(0), k4, v4)},
		{"empty signatures not omitted", cborMap(k1, v1, k2, v2, k3, v3, k4, v4, cborUint(5), cborHead(4, 0, 0))},
		{"null signatures", cborMap(k1, v1, k2, v2, k3, v3, k4, v4, cborUint(5), []byte{0xf6})},
		{"tagged value", cborMap(k1, v1, k2, v2, k3, append([]byte{0xc1}, v3...), k4, v4)},
		{"tagged record", append([]byte{0xd8, 0x37}, cborMap(p...)...)},
		{"float for integer", cborMap(k1, v1, k2, v2, k3, []byte{0xfb, 0x42, 0x79, 0x41, 0x2e, 0x3b, 0x50, 0x00, 0x00}, k4, v4)},
		{"negative integer for unsigned", cborMap(k1, v1, k2, v2, k3, cborHead(1, 5, 0), k4, v4)},
		{"text author", cborMap(k1, v1, k2, cborText(string(r.Author)), k3, v3, k4, v4)},
		{"null author", cborMap(k1, v1, k2, []byte{0xf6}, k3, v3, k4, v4)},
		{"invalid UTF-8 type", cborMap(k1, cborText("contribution\xff"), k2, v2, k3, v3, k4, v4)},
		{"unknown type", cborMap(k1, cborText("bogus"), k2, v2, k3, v3, k4, v4)},
		{"body of another type", cborMap(k1, cborText(string(TypeEmployment)), k2, v2, k3, v3, k4, v4)},
		{"body missing", cborMap(k1, v1, k2, v2, k3, v3)},
		{"body null", cborMap(k1, v1, k2, v2, k3, v3, k4, []byte{0xf6})},
		{"body as byte string", cborMap(k1, v1, k2, v2, k3, v3, k4, cborBytes(v4))},
		{"body with non-shortest integer", cborMap(k1, v1, k2, v2, k3, v3, k4, body(contribution, func(b []byte) []byte {
			// Key 3 (Birth) follows keys 1 (32-byte worker) and 2 (2-char hukou).
			i := bytes.Index(b, append(cborUint(3), cborUint(uint64(contribution.Birth))...))
			return slices.Concat(b[:i+1], cborHead(0, uint64(contribution.Birth), 8), b[i+1+5:])
		}))},
		{"body with unknown key", cborMap(k1, v1, k2, v2, k3, v3, k4, body(&TransferIn{Case: fixtureHash("c")}, func(b []byte) []byte {
			return slices.Concat([]byte{0xa2}, b[1:], cborUint(2), cborUint(0))
		}))},
		{"body with unsorted keys", cborMap(k1, v1, k2, v2, k3, v3, k4, cborMap(cborUint(2), cborUint(5), cborUint(1), cborBytes(make([]byte, 32))))},
		{"body with short hash", cborMap(k1, v1, k2, v2, k3, v3, k4, cborMap(cborUint(1), cborBytes(make([]byte, 31))))},
		{"body with long hash", cborMap(k1, v1, k2, v2, k3, v3, k4, cborMap(cborUint(1), cborBytes(make([]byte, 33))))},
		{"body with false flag", cborMap(k1, cborText(string(TypeWorkerKey)), k2, v2, k3, v3, k4,
			cborMap(cborUint(1), cborBytes(fixtureWorker[:]), cborUint(2), cborBytes([]byte(r.Author)), cborUint(3), []byte{0xf4}))},
		{"body with a date beyond 32 bits", cborMap(k1, cborText(string(TypePensionStart)), k2, v2, k3, v3, k4,
			cborMap(cborUint(1), cborBytes(fixtureWorker[:]), cborUint(2), cborText("44"), cborUint(3), cborUint(1<<32)))},
		{"body with trailing bytes inside", cborMap(k1, v1, k2, v2, k3, v3, k4, append(slices.Clone(v4), 0x00))},
	}
	if got := r.Encode(); !bytes.Equal(got, cborMap(p...)) {
		t.Fatalf("hand-built record differs from Encode: %x", got)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeRecord(tc.in)
			if !errors.Is(err, ErrEncoding) {
				t.Fatalf("DecodeRecord(%x) = %v, want ErrEncoding", tc.in, err)
			}
		})
	}
	for i := range len(cborMap(p...)) {
		if _, _, err := DecodeRecord(cborMap(p...)[:i]); !errors.Is(err, ErrEncoding) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
}

func TestDecodeRecordSizeLimit(t *testing.T) {
	author := fixtureSigner(1).ID()
	fits := func(n int) []byte {
		r := NewRecord(author, 1, &Access{Worker: fixtureWorker, Reader: "r", What: strings.Repeat("x", n)})
		return r.Encode()
	}
	// Find the largest record that fits, then one byte more.
	n := MaxRecordSize - 200
	for len(fits(n+1)) <= MaxRecordSize {
		n++
	}
	if b := fits(n); len(b) > MaxRecordSize {
		t.Fatalf("setup: %d bytes", len(b))
	} else if _, _, err := DecodeRecord(b); err != nil {
		t.Fatalf("record of %d bytes: %v", len(b), err)
	}
	b := fits(n + 1)
	if _, _, err := DecodeRecord(b); !errors.Is(err, ErrEncoding) || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("record of %d bytes: %v", len(b), err)
	}
}

// Every decoder of untrusted bytes rejects truncation, trailing bytes and a tag around a valid
// encoding.
func TestDecodersRejectFraming(t *testing.T) {
	blk := fixtureBlock(t)
	cp := NewCheckpoint(fixtureNetwork, 1, fixtureHash("genesis"), 1, []Hash{blk.Hash()})
	_, ministry := fixtureMinistry(3)
	vote := SignVote(fixtureSigner(3), fixtureNetwork, 1, cp.Checkpoint.Hash(), fixtureHash("state"))
	cert := Certify(1, cp.Checkpoint.Hash(), fixtureHash("state"), []Vote{vote})
	_ = ministry
	g := fixtureGenesis()
	decoders := []struct {
		name  string
		valid []byte
		dec   func([]byte) error
	}{
		{"record", fixtureRecords(t)[0], func(b []byte) error { _, _, err := DecodeRecord(b); return err }},
		{"block", blk.Encode(), func(b []byte) error { _, err := DecodeBlock(b); return err }},
		{"checkpoint", cp.Encode(), func(b []byte) error { _, err := DecodeCheckpointBody(b, fixtureNetwork); return err }},
		{"vote", encode(vote), func(b []byte) error { _, err := DecodeVote(b); return err }},
		{"certificate", cert.Encode(), func(b []byte) error { _, err := DecodeCertificate(b); return err }},
		{"genesis", g.Encode(), func(b []byte) error { _, err := DecodeGenesis(b); return err }},
		{"merkle proof", encode(MerkleProof{Index: 1, Size: 3, Path: []Hash{fixtureHash("a"), fixtureHash("b")}}),
			func(b []byte) error { var p MerkleProof; return decodeCanonical(b, &p) }},
	}
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			if err := d.dec(d.valid); err != nil {
				t.Fatalf("valid encoding: %v", err)
			}
			for i := range d.valid {
				if err := d.dec(d.valid[:i]); !errors.Is(err, ErrEncoding) {
					t.Fatalf("prefix of %d bytes: %v", i, err)
				}
			}
			for _, bad := range [][]byte{
				append(slices.Clone(d.valid), 0x00),
				append(slices.Clone(d.valid), d.valid...),
				append([]byte{0xc0}, d.valid...),
				append([]byte{0xbf}, append(slices.Clone(d.valid[1:]), 0xff)...), // indefinite map
			} {
				if err := d.dec(bad); !errors.Is(err, ErrEncoding) {
					t.Fatalf("%x: %v", bad, err)
				}
			}
			// Flipping the low bit of the map head changes the pair count.
			bad := slices.Clone(d.valid)
			bad[0] ^= 1
			if err := d.dec(bad); err == nil {
				t.Fatalf("map head %#x accepted", bad[0])
			}
		})
	}
}

// Every exported object encodes its integer keys in ascending order with the shortest heads:
// decoding what we encode and re-encoding must give the same bytes.
func TestEncodeIsCanonical(t *testing.T) {
	for _, b := range append(fixtureBodies(), fixtureMinimalBodies()...) {
		enc := encode(b)
		got, err := DecodeBody(b.RecordType(), enc)
		if err != nil {
			t.Fatalf("%s: %v", b.RecordType(), err)
		}
		if re := encode(got); !bytes.Equal(re, enc) {
			t.Fatalf("%s: re-encoding differs", b.RecordType())
		}
	}
	if err := decodeCanonical(encode(struct{}{}), &struct{}{}); err != nil {
		t.Fatal(err)
	}
	var x Vote
	if err := decodeCanonical([]byte{0xa0}, &x); err == nil {
		t.Fatal("empty map accepted as a vote")
	} else if !strings.Contains(err.Error(), fmt.Sprintf("%T", &x)) {
		t.Fatalf("error does not name the type: %v", err)
	}
}

// TestEncodingEdgeCases pins the behaviours docs/wire.md §1 spells out for other implementations.
func TestEncodingEdgeCases(t *testing.T) {
	// A fixed-size hash is never omitted, even under omitempty.
	a := encode(&Access{Worker: fixtureWorker, Reader: "r", What: "w"})
	if want := append([]byte{0x05, 0x58, 0x20}, make([]byte, 32)...); a[0] != 0xa4 || !bytes.HasSuffix(a, want) {
		t.Fatalf("access with no consent: %x", a)
	}
	// The empty key ID is an empty byte string, not null.
	if got := encode(KeyID("")); !bytes.Equal(got, []byte{0x40}) {
		t.Fatalf("empty key id: %x", got)
	}
	// A list that is always present encodes as [] whether nil or empty; null is rejected.
	p := MerkleProof{Index: 0, Size: 1}
	if got := encode(p); !bytes.Equal(got, []byte{0xa3, 0x01, 0x00, 0x02, 0x01, 0x03, 0x80}) {
		t.Fatalf("one-leaf proof: %x", got)
	}
	var nullList MerkleProof
	if err := decodeCanonical([]byte{0xa3, 0x01, 0x00, 0x02, 0x01, 0x03, 0xf6}, &nullList); !errors.Is(err, ErrEncoding) {
		t.Fatalf("null list accepted: %v", err)
	}
	for _, b := range [][]byte{{0xa3, 0x01, 0x00, 0x02, 0x01, 0x03, 0x80}} {
		var q MerkleProof
		if err := decodeCanonical(b, &q); err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		if _, err := q.RootFromProof(Hash{}); err != nil {
			t.Fatalf("%x: %v", b, err)
		}
	}
	g := fixtureGenesis()
	g.Params = nil
	nilParams := g.Encode()
	g.Params = []Param{}
	emptyParams := g.Encode()
	if !bytes.Equal(nilParams, emptyParams) {
		t.Fatal("nil and empty params encode differently, so two genesis files could hash differently")
	}
	for _, b := range [][]byte{nilParams, emptyParams} {
		got, err := DecodeGenesis(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Encode(), b) {
			t.Fatal("genesis params do not re-encode as they came")
		}
	}
	// Negative integers use major type 1.
	if got := encode(&TransferOut{Case: Hash{}, Individual: -1}); !bytes.HasSuffix(got, []byte{0x02, 0x20}) {
		t.Fatalf("negative amount: %x", got)
	}
}
