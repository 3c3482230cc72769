package ledger

// Hand-written canonical CBOR for the state objects Apply reads and writes for every
// contribution, and for receipts. The bytes equal encMode's for the same value
// (TestFastCodecsMatchReflection); state objects are written by this package only, so their
// decoders need not enforce canonical form, but they do reject anything they cannot read.

// fastObj is a value with a hand-written codec.
type fastObj interface {
	appendCBOR(b []byte) []byte
	readCBOR(r *cborReader)
}

// fastEncode encodes v with its hand-written codec.
func fastEncode(v fastObj) []byte {
	n := 96
	if rs, ok := v.(*recordState); ok {
		n += len(rs.Ref) + len(rs.Author)
	}
	return v.appendCBOR(make([]byte, 0, n))
}

// fastDecode decodes b into v; ok is false when b is not a value v can read.
func fastDecode(b []byte, v fastObj) bool {
	r := cborReader{b: b}
	v.readCBOR(&r)
	return r.done()
}

// mapHead appends the head of a map with the given pairs present.
func mapHead(b []byte, present ...bool) []byte {
	n := 0
	for _, p := range present {
		if p {
			n++
		}
	}
	return appendHead(b, majMap, uint64(n))
}

func (a *account) appendCBOR(b []byte) []byte {
	b = mapHead(b, true, a.Temporary, true, true, true, true, true, true, true, true,
		a.UnevMonths != 0, a.UnevIA != 0, a.UnevPFNum != 0, a.Individual)
	b = appendText(appendKey(b, 1), a.Status)
	if a.Temporary {
		b = appendBool(appendKey(b, 2), true)
	}
	b = appendHead(appendKey(b, 3), majUint, uint64(a.Enrolled))
	b = appendHead(appendKey(b, 4), majUint, uint64(a.First))
	b = appendHead(appendKey(b, 5), majUint, uint64(a.Last))
	b = appendHead(appendKey(b, 6), majUint, uint64(a.Months))
	b = appendInt(appendKey(b, 7), a.IA)
	b = appendHead(appendKey(b, 8), majUint, uint64(a.InterestYear))
	b = appendHead(appendKey(b, 9), majArray, uint64(len(a.Pending)))
	for i := range a.Pending {
		b = a.Pending[i].appendCBOR(b)
	}
	b = appendInt(appendKey(b, 10), a.PFNum)
	if a.UnevMonths != 0 {
		b = appendHead(appendKey(b, 11), majUint, uint64(a.UnevMonths))
	}
	if a.UnevIA != 0 {
		b = appendInt(appendKey(b, 12), a.UnevIA)
	}
	if a.UnevPFNum != 0 {
		b = appendInt(appendKey(b, 13), a.UnevPFNum)
	}
	if a.Individual {
		b = appendBool(appendKey(b, 14), true)
	}
	return b
}

func (a *account) readCBOR(r *cborReader) {
	n, k := r.mapLen(14), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			a.Status = r.text()
		case 2:
			a.Temporary = r.bool()
		case 3:
			a.Enrolled = uint32(r.uint(1<<32 - 1))
		case 4:
			a.First = uint32(r.uint(1<<32 - 1))
		case 5:
			a.Last = uint32(r.uint(1<<32 - 1))
		case 6:
			a.Months = uint32(r.uint(1<<32 - 1))
		case 7:
			a.IA = r.int()
		case 8:
			a.InterestYear = uint16(r.uint(1<<16 - 1))
		case 9:
			m := r.arrayLen(maxArrayElements)
			a.Pending = reuse(a.Pending, int(m))
			for range m {
				var y yearAcc
				y.readCBOR(r)
				a.Pending = append(a.Pending, y)
			}
		case 10:
			a.PFNum = r.int()
		case 11:
			a.UnevMonths = uint32(r.uint(1<<32 - 1))
		case 12:
			a.UnevIA = r.int()
		case 13:
			a.UnevPFNum = r.int()
		case 14:
			a.Individual = r.bool()
		default:
			r.bad = true
		}
	}
}

func (y *yearAcc) appendCBOR(b []byte) []byte {
	b = appendHead(b, majMap, 3)
	b = appendHead(appendKey(b, 1), majUint, uint64(y.Year))
	b = appendInt(appendKey(b, 2), y.Sum)
	return appendInt(appendKey(b, 3), y.Weighted)
}

func (y *yearAcc) readCBOR(r *cborReader) {
	n, k := r.mapLen(3), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			y.Year = uint16(r.uint(1<<16 - 1))
		case 2:
			y.Sum = r.int()
		case 3:
			y.Weighted = r.int()
		default:
			r.bad = true
		}
	}
}

func (m *month) appendCBOR(b []byte) []byte {
	b = mapHead(b, true, true, true, true, true, m.Unev)
	b = appendInt(appendKey(b, 1), m.Base)
	b = appendInt(appendKey(b, 2), m.Employee)
	b = appendInt(appendKey(b, 3), m.Employer)
	b = appendInt(appendKey(b, 4), m.PFNum)
	b = appendBytes(appendKey(b, 5), m.Record[:])
	if m.Unev {
		b = appendBool(appendKey(b, 6), true)
	}
	return b
}

func (m *month) readCBOR(r *cborReader) {
	n, k := r.mapLen(6), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			m.Base = r.int()
		case 2:
			m.Employee = r.int()
		case 3:
			m.Employer = r.int()
		case 4:
			m.PFNum = r.int()
		case 5:
			m.Record = r.hash()
		case 6:
			m.Unev = r.bool()
		default:
			r.bad = true
		}
	}
}

func (w *workerState) appendCBOR(b []byte) []byte {
	b = mapHead(b, true, true, true, w.Drawing != 0, true, true)
	b = appendText(appendKey(b, 1), w.Hukou)
	b = appendHead(appendKey(b, 2), majUint, uint64(w.Birth))
	b = appendHead(appendKey(b, 3), majUint, uint64(w.Sex))
	if w.Drawing != 0 {
		b = appendHead(appendKey(b, 4), majUint, uint64(w.Drawing))
	}
	b = appendBytes(appendKey(b, 5), w.OpenCase[:])
	b = appendHead(appendKey(b, 6), majArray, uint64(len(w.Accounts)))
	for _, a := range w.Accounts {
		b = appendHead(b, majMap, 2)
		b = appendText(appendKey(b, 1), a.Scheme)
		b = appendText(appendKey(b, 2), a.Province)
	}
	return b
}

func (w *workerState) readCBOR(r *cborReader) {
	n, k := r.mapLen(6), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			w.Hukou = r.text()
		case 2:
			w.Birth = uint32(r.uint(1<<32 - 1))
		case 3:
			w.Sex = uint8(r.uint(255))
		case 4:
			w.Drawing = uint32(r.uint(1<<32 - 1))
		case 5:
			w.OpenCase = r.hash()
		case 6:
			m := r.arrayLen(maxArrayElements)
			w.Accounts = reuse(w.Accounts, int(m))
			for range m {
				var a accountRef
				if r.mapLen(2) != 2 || r.key(0) != 1 {
					r.bad = true
				}
				a.Scheme = r.text()
				if r.key(1) != 2 {
					r.bad = true
				}
				a.Province = r.text()
				w.Accounts = append(w.Accounts, a)
			}
		default:
			r.bad = true
		}
	}
}

func (s *recordState) appendCBOR(b []byte) []byte {
	b = mapHead(b, true, true, true, true, len(s.Ref) != 0, s.Corrected)
	b = appendHead(appendKey(b, 1), majUint, s.Seq)
	b = appendText(appendKey(b, 2), s.Code)
	b = appendText(appendKey(b, 3), string(s.Type))
	b = appendBytes(appendKey(b, 4), []byte(s.Author))
	if len(s.Ref) != 0 {
		b = appendBytes(appendKey(b, 5), s.Ref)
	}
	if s.Corrected {
		b = appendBool(appendKey(b, 6), true)
	}
	return b
}

func (s *recordState) readCBOR(r *cborReader) {
	n, k := r.mapLen(6), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			s.Seq = r.uint(1<<64 - 1)
		case 2:
			s.Code = r.text()
		case 3:
			s.Type = RecordType(r.text())
		case 4:
			s.Author = KeyID(r.bytes())
		case 5:
			s.Ref = append([]byte(nil), r.bytes()...) // the state's buffer is not ours to keep
		case 6:
			s.Corrected = r.bool()
		default:
			r.bad = true
		}
	}
}

func (t *chainTip) appendCBOR(b []byte) []byte {
	b = appendHead(b, majMap, 2)
	b = appendHead(appendKey(b, 1), majUint, t.Height)
	return appendBytes(appendKey(b, 2), t.Hash[:])
}

func (t *chainTip) readCBOR(r *cborReader) {
	if r.mapLen(2) != 2 || r.key(0) != 1 {
		r.bad = true
	}
	t.Height = r.uint(1<<64 - 1)
	if r.key(1) != 2 {
		r.bad = true
	}
	t.Hash = r.hash()
}

func (t *totals) appendCBOR(b []byte) []byte {
	b = appendHead(b, majMap, 4)
	b = appendInt(appendKey(b, 1), t.IAIn)
	b = appendInt(appendKey(b, 2), t.Interest)
	b = appendInt(appendKey(b, 3), t.Refunded)
	return appendInt(appendKey(b, 4), t.PoolIn)
}

func (t *totals) readCBOR(r *cborReader) {
	n, k := r.mapLen(4), 0
	for range n {
		switch k = r.key(k); k {
		case 1:
			t.IAIn = r.int()
		case 2:
			t.Interest = r.int()
		case 3:
			t.Refunded = r.int()
		case 4:
			t.PoolIn = r.int()
		default:
			r.bad = true
		}
	}
}

// poolBalance is a pooled fund balance, encoded as a plain integer.
type poolBalance int64

func (p *poolBalance) appendCBOR(b []byte) []byte { return appendInt(b, int64(*p)) }
func (p *poolBalance) readCBOR(r *cborReader)     { *p = poolBalance(r.int()) }

func (l *receiptLeaf) appendCBOR(b []byte) []byte {
	b = appendHead(b, majMap, 2)
	b = appendBytes(appendKey(b, 1), l.ID[:])
	return appendText(appendKey(b, 2), l.Code)
}

func (l *receiptLeaf) readCBOR(r *cborReader) {
	if r.mapLen(2) != 2 || r.key(0) != 1 {
		r.bad = true
	}
	l.ID = r.hash()
	if r.key(1) != 2 {
		r.bad = true
	}
	l.Code = r.text()
}

// reuse returns s emptied when it can hold n elements, else a new slice of capacity n.
func reuse[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:0]
	}
	return make([]T, 0, n)
}
