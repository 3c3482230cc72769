package ledger

// The fast path for decoding contribution and employment records, the bulk of all traffic.
// decodeRecordFast accepts exactly what DecodeRecord accepts for a contribution record and gives
// the same values, decodeEmploymentFast the same for an employment record (FuzzDecodeRecordFast
// checks both directions); for anything else they report ok=false and DecodeRecord takes the
// general path, which also produces the error.

func (k *Contribution) appendCBOR(b []byte) []byte {
	b = mapHead(b, true, true, true, true, k.Employer != "", true, true, k.Through != 0, true,
		k.Wage != 0, true, k.EmployeeAmount != 0, k.EmployerAmount != 0, k.Flexible,
		len(k.Evidence) != 0, k.Approved, k.Enrolled != 0, k.LegacyEmployer)
	b = appendBytes(appendKey(b, 1), k.Worker[:])
	b = appendText(appendKey(b, 2), k.Hukou)
	b = appendHead(appendKey(b, 3), majUint, uint64(k.Birth))
	b = appendHead(appendKey(b, 4), majUint, uint64(k.Sex))
	if k.Employer != "" {
		b = appendText(appendKey(b, 5), k.Employer)
	}
	b = appendText(appendKey(b, 6), k.Region)
	b = appendHead(appendKey(b, 7), majUint, uint64(k.Period))
	if k.Through != 0 {
		b = appendHead(appendKey(b, 8), majUint, uint64(k.Through))
	}
	b = appendText(appendKey(b, 9), k.Scheme)
	if k.Wage != 0 {
		b = appendInt(appendKey(b, 10), k.Wage)
	}
	b = appendInt(appendKey(b, 11), k.Base)
	if k.EmployeeAmount != 0 {
		b = appendInt(appendKey(b, 12), k.EmployeeAmount)
	}
	if k.EmployerAmount != 0 {
		b = appendInt(appendKey(b, 13), k.EmployerAmount)
	}
	if k.Flexible {
		b = appendBool(appendKey(b, 14), true)
	}
	if len(k.Evidence) != 0 {
		b = appendBytes(appendKey(b, 15), k.Evidence)
	}
	if k.Approved {
		b = appendBool(appendKey(b, 16), true)
	}
	if k.Enrolled != 0 {
		b = appendHead(appendKey(b, 17), majUint, uint64(k.Enrolled))
	}
	if k.LegacyEmployer {
		b = appendBool(appendKey(b, 18), true)
	}
	return b
}

func (k *Contribution) readCBOR(r *cborReader) { k.read(r) }

// Keys of a contribution that are always encoded (the others are omitted when zero).
const contributionRequired = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<6 | 1<<7 | 1<<9 | 1<<11

// canonicalGiven reports whether the keys seen are exactly those the canonical encoding of k has:
// every required key, and an optional key if and only if its field is not zero.
func (k *Contribution) canonicalGiven(seen uint32) bool {
	opt := func(key int, nonzero bool) bool { return (seen&(1<<key) != 0) == nonzero }
	return seen&contributionRequired == contributionRequired &&
		opt(5, k.Employer != "") && opt(8, k.Through != 0) && opt(10, k.Wage != 0) &&
		opt(12, k.EmployeeAmount != 0) && opt(13, k.EmployerAmount != 0) && opt(14, k.Flexible) &&
		opt(15, len(k.Evidence) != 0) && opt(16, k.Approved) && opt(17, k.Enrolled != 0) && opt(18, k.LegacyEmployer)
}

// read decodes a contribution into k, zeroed first, and returns the set of keys it saw.
func (k *Contribution) read(r *cborReader) (seen uint32) {
	*k = Contribution{}
	n, key := r.mapLen(18), 0
	for range n {
		key = r.key(key)
		seen |= 1 << key
		switch key {
		case 1:
			k.Worker = WorkerID(r.hash())
		case 2:
			k.Hukou = r.text()
		case 3:
			k.Birth = uint32(r.uint(1<<32 - 1))
		case 4:
			k.Sex = uint8(r.uint(255))
		case 5:
			k.Employer = r.text()
		case 6:
			k.Region = r.text()
		case 7:
			k.Period = uint32(r.uint(1<<32 - 1))
		case 8:
			k.Through = uint32(r.uint(1<<32 - 1))
		case 9:
			k.Scheme = r.text()
		case 10:
			k.Wage = r.int()
		case 11:
			k.Base = r.int()
		case 12:
			k.EmployeeAmount = r.int()
		case 13:
			k.EmployerAmount = r.int()
		case 14:
			k.Flexible = r.bool()
		case 15:
			k.Evidence = r.bytes()
		case 16:
			k.Approved = r.bool()
		case 17:
			k.Enrolled = uint32(r.uint(1<<32 - 1))
		case 18:
			k.LegacyEmployer = r.bool()
		default:
			r.bad = true
		}
	}
	return seen
}

// Keys of an employment record that are always encoded (the others are omitted when zero).
const employmentRequired = 1<<1 | 1<<2 | 1<<3 | 1<<4

// canonicalGiven reports whether the keys seen are exactly those the canonical encoding of k has.
func (k *Employment) canonicalGiven(seen uint32) bool {
	opt := func(key int, nonzero bool) bool { return (seen&(1<<key) != 0) == nonzero }
	return seen&employmentRequired == employmentRequired &&
		opt(5, k.End != 0) && opt(6, k.Hukou != "") && opt(7, k.Birth != 0) && opt(8, k.Sex != 0)
}

// read decodes an employment record's body into k, zeroed first, and returns the set of keys
// it saw.
func (k *Employment) read(r *cborReader) (seen uint32) {
	*k = Employment{}
	n, key := r.mapLen(8), 0
	for range n {
		key = r.key(key)
		seen |= 1 << key
		switch key {
		case 1:
			k.Worker = WorkerID(r.hash())
		case 2:
			k.Employer = r.text()
		case 3:
			k.Region = r.text()
		case 4:
			k.Start = uint32(r.uint(1<<32 - 1))
		case 5:
			k.End = uint32(r.uint(1<<32 - 1))
		case 6:
			k.Hukou = r.text()
		case 7:
			k.Birth = uint32(r.uint(1<<32 - 1))
		case 8:
			k.Sex = uint8(r.uint(255))
		default:
			r.bad = true
		}
	}
	return seen
}

// appendSigs appends the canonical encoding of a signature list.
func appendSigs(b []byte, sigs []Sig) []byte {
	b = appendHead(b, majArray, uint64(len(sigs)))
	for _, s := range sigs {
		b = appendHead(b, majMap, 2)
		b = appendBytes(appendKey(b, 1), []byte(s.Signer))
		b = appendBytes(appendKey(b, 2), s.Sig)
	}
	return b
}

// appendRecord appends the canonical encoding of r, with its signatures when sigs is set.
func appendRecord(b []byte, r *Record, sigs bool) []byte {
	sigs = sigs && len(r.Sigs) != 0
	b = mapHead(b, true, true, r.At != 0, true, sigs)
	b = appendText(appendKey(b, 1), string(r.Type))
	b = appendBytes(appendKey(b, 2), []byte(r.Author))
	if r.At != 0 {
		b = appendHead(appendKey(b, 3), majUint, r.At)
	}
	b = append(appendKey(b, 4), r.Body...)
	if sigs {
		b = appendSigs(appendKey(b, 5), r.Sigs)
	}
	return b
}

// decodeRecordFast decodes a contribution record; ok is false for anything else or anything
// not canonical.
func decodeRecordFast(raw []byte) (Record, *Contribution, bool) {
	return decodeRecordInto(raw, new(Contribution), nil)
}

// PeekRecordType returns the type an encoded record declares, read from the first entry of its
// envelope without decoding the rest: for callers that look for records of a few types among
// many (a checkpoint's transfer records among its contributions). ok is false when the bytes do
// not start like a record; a type returned is not a promise that the record decodes.
func PeekRecordType(raw []byte) (RecordType, bool) {
	r := cborReader{b: raw}
	if r.mapLen(5) == 0 || r.key(0) != 1 {
		return "", false
	}
	t := r.text()
	return RecordType(t), !r.bad
}

// fastBody is a record body the fast path decodes: it reads its CBOR map from r (after zeroing
// itself) and says whether the keys it saw are exactly those of its canonical encoding.
type fastBody interface {
	Body
	read(r *cborReader) (seen uint32)
	canonicalGiven(seen uint32) bool
}

// decodeRecordInto is decodeRecordFast decoding the body into k (which it zeroes first), taking
// repeated strings from strs when it is not nil.
func decodeRecordInto(raw []byte, k *Contribution, strs *strCache) (Record, *Contribution, bool) {
	rec, ok := decodeRecordAs(raw, TypeContribution, k, strs)
	if !ok {
		return rec, nil, false
	}
	return rec, k, true
}

// decodeEmploymentFast decodes an employment record; ok is false for anything else or anything
// not canonical.
func decodeEmploymentFast(raw []byte, strs *strCache) (Record, *Employment, bool) {
	k := new(Employment)
	rec, ok := decodeRecordAs(raw, TypeEmployment, k, strs)
	return rec, k, ok
}

// decodeRecordAs decodes a record of type typ whose body body reads, and reports whether the
// bytes are exactly its canonical encoding.
func decodeRecordAs[B fastBody](raw []byte, typ RecordType, body B, strs *strCache) (Record, bool) {
	var rec Record
	if len(raw) > MaxRecordSize {
		return rec, false
	}
	r := cborReader{b: raw, strs: strs}
	n, key := r.mapLen(5), 0
	var seen, bodySeen uint32
	haveBody := false
	for range n {
		key = r.key(key)
		seen |= 1 << key
		switch key {
		case 1:
			rec.Type = RecordType(r.text())
			if rec.Type != typ {
				return rec, false
			}
		case 2:
			rec.Author = r.keyID()
		case 3:
			rec.At = r.uint(1<<64 - 1)
		case 4:
			if rec.Type != typ {
				return rec, false
			}
			start := r.off
			bodySeen, haveBody = body.read(&r), true
			if r.bad {
				return rec, false
			}
			rec.Body = raw[start:r.off:r.off]
		case 5:
			m := r.arrayLen(MaxRecordSigs)
			rec.Sigs = make([]Sig, 0, m)
			for range m {
				var s Sig
				if r.mapLen(2) != 2 || r.key(0) != 1 {
					return rec, false
				}
				s.Signer = KeyID(r.bytes())
				if r.key(1) != 2 {
					return rec, false
				}
				s.Sig = r.bytes()
				rec.Sigs = append(rec.Sigs, s)
			}
		default:
			return rec, false
		}
	}
	if !r.done() || !haveBody || !sigsSorted(rec.Sigs) {
		return rec, false
	}
	// Canonical form. The reader already refused non-shortest heads, unsorted or repeated keys
	// and values of the wrong type; what remains is that exactly the keys the encoder writes are
	// present: required ones always, optional ones when not zero.
	const envelopeRequired = 1<<1 | 1<<2 | 1<<4
	if seen&envelopeRequired != envelopeRequired || (seen&(1<<3) != 0) != (rec.At != 0) ||
		(seen&(1<<5) != 0) != (len(rec.Sigs) != 0) || !body.canonicalGiven(bodySeen) {
		return rec, false
	}
	return rec, true
}
