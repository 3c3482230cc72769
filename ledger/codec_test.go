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
	rs := &recordState{Seq: uint64(rint(r)), Code: rtext(r), Type: RecordType(rtext(r)), Author: KeyID(rbytes(r)), Body: rbytes(r), Corrected: r.IntN(2) == 0}
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
		if len(x.Body) == 0 {
			x.Body = nil
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
		rec := NewRecord(KeyID(rbytes(r)), uint64(rint(r)), randomContribution(r))
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
}

func FuzzDecodeRecordFast(f *testing.F) {
	addSeeds(f, "FuzzDecodeRecord")
	f.Fuzz(func(t *testing.T, b []byte) { checkFastMatchesGeneral(t, b) })
}
