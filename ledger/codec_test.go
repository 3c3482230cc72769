package ledger

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// Random values for the hand-written codecs: zero and non-zero fields (so every omitempty branch
// is taken), boundary integers, and lists of every short length.

func rint(r *rand.Rand) int64 {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return []int64{math.MinInt64, math.MaxInt64, -1, 23, 24, -24, -25, 255, 256, 65535, 65536, 1 << 32, -1 << 32}[r.IntN(13)]
	case 2:
		return -r.Int64N(1 << 40)
	}
	return r.Int64N(1 << uint(r.IntN(62)+1))
}

func ru32(r *rand.Rand) uint32 {
	if r.IntN(3) == 0 {
		return 0
	}
	return uint32(rint(r))
}

func rtext(r *rand.Rand) string {
	return []string{"", "a", "44", "pension", "medical", "active", "sealed", "长沙", "91440300123456788M", string(bytes.Repeat([]byte("x"), 300))}[r.IntN(10)]
}

func rhash(r *rand.Rand) (h Hash) {
	if r.IntN(3) > 0 {
		for i := range h {
			h[i] = byte(r.Uint32())
		}
	}
	return h
}

func rbytes(r *rand.Rand) []byte {
	n := []int{0, 0, 1, 23, 24, 32, 300}[r.IntN(7)]
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randomFastObjs(r *rand.Rand) []fastObj {
	a := &account{Status: rtext(r), Temporary: r.IntN(2) == 0, Enrolled: ru32(r), First: ru32(r), Last: ru32(r), Months: ru32(r),
		IA: rint(r), InterestYear: uint16(ru32(r)), PFNum: rint(r), UnevMonths: ru32(r), UnevIA: rint(r), UnevPFNum: rint(r), Individual: r.IntN(2) == 0}
	for range r.IntN(4) {
		a.Pending = append(a.Pending, yearAcc{Year: uint16(ru32(r)), Sum: rint(r), Weighted: rint(r)})
	}
	w := &workerState{Hukou: rtext(r), Birth: ru32(r), Sex: uint8(ru32(r)), Drawing: ru32(r), OpenCase: rhash(r)}
	for range r.IntN(4) {
		w.Accounts = append(w.Accounts, accountRef{Scheme: rtext(r), Province: rtext(r)})
	}
	rs := &recordState{Seq: uint64(rint(r)), Code: rtext(r), Type: RecordType(rtext(r)), Author: KeyID(rbytes(r)), Ref: rbytes(r), Corrected: r.IntN(2) == 0}
	pb := poolBalance(rint(r))
	return []fastObj{
		a, w, rs, &pb,
		&month{Base: rint(r), Employee: rint(r), Employer: rint(r), PFNum: rint(r), Record: rhash(r), Unev: r.IntN(2) == 0},
		&chainTip{Height: uint64(rint(r)), Hash: rhash(r)},
		&totals{IAIn: rint(r), Interest: rint(r), Refunded: rint(r), PoolIn: rint(r)},
		&receiptLeaf{ID: rhash(r), Code: rtext(r)},
		randomContribution(r),
	}
}

func randomContribution(r *rand.Rand) *Contribution {
	return &Contribution{Worker: WorkerID(rhash(r)), Hukou: rtext(r), Birth: ru32(r), Sex: uint8(ru32(r)), Employer: rtext(r),
		Region: rtext(r), Period: ru32(r), Through: ru32(r), Scheme: rtext(r), Wage: rint(r), Base: rint(r),
		EmployeeAmount: rint(r), EmployerAmount: rint(r), Flexible: r.IntN(2) == 0, Evidence: rbytes(r),
		Approved: r.IntN(2) == 0, Enrolled: ru32(r), LegacyEmployer: r.IntN(2) == 0}
}

func randomEmployment(r *rand.Rand) *Employment {
	return &Employment{Worker: WorkerID(rhash(r)), Employer: rtext(r), Region: rtext(r), Start: ru32(r), End: ru32(r),
		Hukou: rtext(r), Birth: ru32(r), Sex: uint8(ru32(r))}
}

// normalise maps empty slices to nil, which the reflection decoder and the hand decoders treat
// differently but encode alike.
func normalise(v fastObj) {
	switch x := v.(type) {
	case *account:
		if len(x.Pending) == 0 {
			x.Pending = nil
		}
	case *workerState:
		if len(x.Accounts) == 0 {
			x.Accounts = nil
		}
	case *recordState:
		if len(x.Ref) == 0 {
			x.Ref = nil
		}
	case *Contribution:
		if len(x.Evidence) == 0 {
			x.Evidence = nil
		}
	}
}

func TestFastCodecsMatchReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		for _, v := range randomFastObjs(r) {
			want := encode(v)
			got := fastEncode(v)
			if !bytes.Equal(got, want) {
				t.Fatalf("case %d %T %+v:\n hand %x\n refl %x", i, v, v, got, want)
			}
			back := reflect.New(reflect.TypeOf(v).Elem()).Interface().(fastObj)
			if !fastDecode(want, back) {
				t.Fatalf("case %d %T: hand decoder refuses %x", i, v, want)
			}
			normalise(back)
			normalise(v)
			if !reflect.DeepEqual(back, v) {
				t.Fatalf("case %d %T: decoded %+v, want %+v", i, v, back, v)
			}
		}
	}
}

// TestFastCodecsRejectTruncated: every strict prefix of a valid encoding is refused.
func TestFastCodecsRejectTruncated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		for _, v := range randomFastObjs(r) {
			b := fastEncode(v)
			for n := range len(b) {
				back := reflect.New(reflect.TypeOf(v).Elem()).Interface().(fastObj)
				if fastDecode(b[:n], back) {
					t.Fatalf("%T: prefix %x of %x accepted", v, b[:n], b)
				}
			}
		}
	}
}

func TestRecordEncodingMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := SignerFromSeed(bytes.Repeat([]byte{7}, 32))
	for i := range 3000 {
		var body Body = randomContribution(r)
		if i%3 == 0 {
			body = randomEmployment(r)
		}
		rec := NewRecord(KeyID(rbytes(r)), uint64(rint(r)), body)
		for range r.IntN(3) {
			rec.Sign("n", s)
			rec.Sigs[len(rec.Sigs)-1].Signer = KeyID(rbytes(r))
		}
		sortSigs(rec.Sigs)
		if got, want := rec.Encode(), encode(&rec); !bytes.Equal(got, want) {
			t.Fatalf("case %d: record encodes as %x, reflection gives %x", i, got, want)
		}
		if got, want := rec.ID(), taggedHash(tagRecord, encode(unsignedRecord{rec.Type, rec.Author, rec.At, rec.Body})); got != want {
			t.Fatalf("case %d: record ID differs from the reflection encoding's", i)
		}
		checkFastMatchesGeneral(t, rec.Encode())
	}
}

// checkFastMatchesGeneral checks that the fast decoder accepts exactly what the general decoder
// accepts as a contribution record, with the same values.
func checkFastMatchesGeneral(t *testing.T, b []byte) {
	t.Helper()
	fr, fk, ok := decodeRecordFast(b)
	gr, gk, err := decodeRecordGeneral(b)
	checkEmploymentFastMatchesGeneral(t, b, gr, gk, err)
	_, isContribution := gk.(*Contribution)
	switch {
	case ok && err != nil:
		t.Fatalf("fast decoder accepts %x, general refuses: %v", b, err)
	case !ok && err == nil && isContribution:
		t.Fatalf("fast decoder refuses contribution record %x", b)
	case ok:
		if len(gr.Sigs) == 0 {
			gr.Sigs = nil
		}
		if len(fr.Sigs) == 0 {
			fr.Sigs = nil
		}
		normalise(gk.(*Contribution))
		normalise(fk)
		if !reflect.DeepEqual(fr, gr) || !reflect.DeepEqual(fk, gk) {
			t.Fatalf("decoders disagree on %x:\nfast %+v %+v\ngen  %+v %+v", b, fr, fk, gr, gk)
		}
	}
	// Apply's form of the fast decoder: into a body left over from the previous record, with
	// strings from a cache shared by every record decoded so far (so entries get replaced).
	ar, ak, aok := decodeRecordInto(b, &reusedBody, &sharedStrs)
	if aok != ok {
		t.Fatalf("decodeRecordInto accepts %x: %v, decodeRecordFast: %v", b, aok, ok)
	}
	if ok {
		if len(ar.Sigs) == 0 {
			ar.Sigs = nil
		}
		normalise(ak)
		if !reflect.DeepEqual(ar, fr) || !reflect.DeepEqual(ak, fk) {
			t.Fatalf("decodeRecordInto disagrees on %x:\n%+v %+v\n%+v %+v", b, ar, ak, fr, fk)
		}
	}
}

// checkEmploymentFastMatchesGeneral is checkFastMatchesGeneral for employment records, decoded
// with and without the shared string cache.
func checkEmploymentFastMatchesGeneral(t *testing.T, b []byte, gr Record, gk Body, err error) {
	t.Helper()
	_, isEmployment := gk.(*Employment)
	for _, strs := range []*strCache{nil, &sharedStrs} {
		er, ek, ok := decodeEmploymentFast(b, strs)
		switch {
		case ok && err != nil:
			t.Fatalf("fast employment decoder accepts %x, general refuses: %v", b, err)
		case !ok && err == nil && isEmployment:
			t.Fatalf("fast decoder refuses employment record %x", b)
		case ok:
			if len(gr.Sigs) == 0 {
				gr.Sigs = nil
			}
			if len(er.Sigs) == 0 {
				er.Sigs = nil
			}
			if !reflect.DeepEqual(er, gr) || !reflect.DeepEqual(ek, gk) {
				t.Fatalf("decoders disagree on %x:\nfast %+v %+v\ngen  %+v %+v", b, er, ek, gr, gk)
			}
		}
	}
}

// The reused body and string cache of checkFastMatchesGeneral.
var (
	reusedBody Contribution
	sharedStrs strCache
)

func FuzzDecodeRecordFast(f *testing.F) {
	addSeeds(f, "FuzzDecodeRecord")
	f.Fuzz(func(t *testing.T, b []byte) { checkFastMatchesGeneral(t, b) })
}

// encodeContributionKeys encodes k with exactly the given keys present, zero or not: a way to
// build the non-canonical encodings a sloppy encoder (or an attacker) would produce.
func encodeContributionKeys(k *Contribution, keys uint32) []byte {
	vals := map[int]func(b []byte) []byte{
		1:  func(b []byte) []byte { return appendBytes(b, k.Worker[:]) },
		2:  func(b []byte) []byte { return appendText(b, k.Hukou) },
		3:  func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Birth)) },
		4:  func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Sex)) },
		5:  func(b []byte) []byte { return appendText(b, k.Employer) },
		6:  func(b []byte) []byte { return appendText(b, k.Region) },
		7:  func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Period)) },
		8:  func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Through)) },
		9:  func(b []byte) []byte { return appendText(b, k.Scheme) },
		10: func(b []byte) []byte { return appendInt(b, k.Wage) },
		11: func(b []byte) []byte { return appendInt(b, k.Base) },
		12: func(b []byte) []byte { return appendInt(b, k.EmployeeAmount) },
		13: func(b []byte) []byte { return appendInt(b, k.EmployerAmount) },
		14: func(b []byte) []byte { return appendBool(b, k.Flexible) },
		15: func(b []byte) []byte { return appendBytes(b, k.Evidence) },
		16: func(b []byte) []byte { return appendBool(b, k.Approved) },
		17: func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Enrolled)) },
		18: func(b []byte) []byte { return appendBool(b, k.LegacyEmployer) },
	}
	n := 0
	for key := 1; key <= 18; key++ {
		if keys&(1<<key) != 0 {
			n++
		}
	}
	b := appendHead(nil, majMap, uint64(n))
	for key := 1; key <= 18; key++ {
		if keys&(1<<key) != 0 {
			b = vals[key](appendKey(b, byte(key)))
		}
	}
	return b
}

// TestFastDecoderRefusesNonCanonicalKeys: an optional field present with its zero value, or a
// required field missing, is refused by both decoders.
func TestFastDecoderRefusesNonCanonicalKeys(t *testing.T) {
	k := &Contribution{Worker: WorkerID{1}, Hukou: "44", Birth: 19900101, Sex: 1, Region: "440300", Period: 202301, Scheme: "pension", Base: 500000}
	author := fixtureSigner(1).ID()
	wrap := func(body []byte) []byte {
		return appendRecord(nil, &Record{Type: TypeContribution, Author: author, At: 5, Body: body}, false)
	}
	canonical := wrap(encodeContributionKeys(k, contributionRequired))
	if _, _, ok := decodeRecordFast(canonical); !ok {
		t.Fatal("the canonical form is refused")
	}
	for key := 1; key <= 18; key++ {
		keys := uint32(contributionRequired) ^ 1<<key // a required key dropped, or a zero optional one added
		b := wrap(encodeContributionKeys(k, keys))
		if _, _, ok := decodeRecordFast(b); ok {
			t.Errorf("key %d toggled: fast decoder accepts", key)
		}
		if _, _, err := decodeRecordGeneral(b); err == nil {
			t.Errorf("key %d toggled: general decoder accepts", key)
		}
	}
	// The envelope: At present with 0, and an empty signature list.
	at0 := appendHead(nil, majMap, 4)
	at0 = appendText(appendKey(at0, 1), string(TypeContribution))
	at0 = appendBytes(appendKey(at0, 2), []byte(author))
	at0 = appendHead(appendKey(at0, 3), majUint, 0)
	at0 = append(appendKey(at0, 4), encodeContributionKeys(k, contributionRequired)...)
	noSigs := append(bytes.Clone(canonical), 0)
	noSigs[0]++ // one more pair
	noSigs = append(noSigs[:len(noSigs)-1], 5, 0x80)
	for name, b := range map[string][]byte{"at zero": at0, "empty sigs": noSigs} {
		if _, _, ok := decodeRecordFast(b); ok {
			t.Errorf("%s: fast decoder accepts", name)
		}
		if _, _, err := decodeRecordGeneral(b); err == nil {
			t.Errorf("%s: general decoder accepts", name)
		}
	}
}

// TestFastEmploymentDecoderRefusesNonCanonicalKeys is TestFastDecoderRefusesNonCanonicalKeys for
// employment records: each key toggled against the canonical set of a record whose optional
// fields are zero.
func TestFastEmploymentDecoderRefusesNonCanonicalKeys(t *testing.T) {
	k := &Employment{Worker: WorkerID{1}, Employer: testEmployer, Region: "440300", Start: 20230101}
	vals := map[int]func([]byte) []byte{
		1: func(b []byte) []byte { return appendBytes(b, k.Worker[:]) },
		2: func(b []byte) []byte { return appendText(b, k.Employer) },
		3: func(b []byte) []byte { return appendText(b, k.Region) },
		4: func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Start)) },
		5: func(b []byte) []byte { return appendHead(b, majUint, uint64(k.End)) },
		6: func(b []byte) []byte { return appendText(b, k.Hukou) },
		7: func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Birth)) },
		8: func(b []byte) []byte { return appendHead(b, majUint, uint64(k.Sex)) },
	}
	encode := func(keys uint32) []byte {
		n := 0
		for key := 1; key <= 8; key++ {
			if keys&(1<<key) != 0 {
				n++
			}
		}
		b := appendHead(nil, majMap, uint64(n))
		for key := 1; key <= 8; key++ {
			if keys&(1<<key) != 0 {
				b = vals[key](appendKey(b, byte(key)))
			}
		}
		return appendRecord(nil, &Record{Type: TypeEmployment, Author: fixtureSigner(1).ID(), At: 5, Body: b}, false)
	}
	canonical := encode(employmentRequired)
	if _, _, err := decodeRecordGeneral(canonical); err != nil {
		t.Fatalf("the canonical form is refused by the general decoder: %v", err)
	}
	if _, _, ok := decodeEmploymentFast(canonical, nil); !ok {
		t.Fatal("the canonical form is refused")
	}
	for key := 1; key <= 8; key++ {
		b := encode(uint32(employmentRequired) ^ 1<<key) // a required key dropped, or a zero optional one added
		if _, _, ok := decodeEmploymentFast(b, nil); ok {
			t.Errorf("key %d toggled: fast decoder accepts", key)
		}
		if _, _, err := decodeRecordGeneral(b); err == nil {
			t.Errorf("key %d toggled: general decoder accepts", key)
		}
	}
}
