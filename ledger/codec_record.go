package ledger

// The fast path for decoding contribution records, the bulk of all traffic. decodeRecordFast
// accepts exactly what DecodeRecord accepts for a contribution record and gives the same values
// (FuzzDecodeRecordFast checks both directions); for anything else it reports ok=false and
// DecodeRecord takes the general path, which also produces the error.

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

// read decodes a contribution and returns the set of keys it saw.
func (k *Contribution) read(r *cborReader) (seen uint32) {
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

// decodeRecordInto is decodeRecordFast decoding the body into k (which it zeroes first), taking
// repeated strings from strs when it is not nil.
func decodeRecordInto(raw []byte, k *Contribution, strs *strCache) (Record, *Contribution, bool) {
	var rec Record
	if len(raw) > MaxRecordSize {
		return rec, nil, false
	}
	r := cborReader{b: raw, strs: strs}
	n, key := r.mapLen(5), 0
	var body *Contribution
	var seen, bodySeen uint32
	for range n {
		key = r.key(key)
		seen |= 1 << key
		switch key {
		case 1:
			rec.Type = RecordType(r.text())
			if rec.Type != TypeContribution {
				return rec, nil, false
			}
		case 2:
			rec.Author = r.keyID()
		case 3:
			rec.At = r.uint(1<<64 - 1)
		case 4:
			if rec.Type != TypeContribution {
				return rec, nil, false
			}
			start := r.off
			*k = Contribution{}
			body = k
			bodySeen = body.read(&r)
			if r.bad {
				return rec, nil, false
			}
			rec.Body = raw[start:r.off:r.off]
		case 5:
			m := r.arrayLen(MaxRecordSigs)
			rec.Sigs = make([]Sig, 0, m)
			for range m {
				var s Sig
				if r.mapLen(2) != 2 || r.key(0) != 1 {
					return rec, nil, false
				}
				s.Signer = KeyID(r.bytes())
				if r.key(1) != 2 {
					return rec, nil, false
				}
				s.Sig = r.bytes()
				rec.Sigs = append(rec.Sigs, s)
			}
		default:
			return rec, nil, false
		}
	}
	if !r.done() || body == nil || !sigsSorted(rec.Sigs) {
		return rec, nil, false
	}
	// Canonical form. The reader already refused non-shortest heads, unsorted or repeated keys
	// and values of the wrong type; what remains is that exactly the keys the encoder writes are
	// present: required ones always, optional ones when not zero.
	const envelopeRequired = 1<<1 | 1<<2 | 1<<4
	if seen&envelopeRequired != envelopeRequired || (seen&(1<<3) != 0) != (rec.At != 0) ||
		(seen&(1<<5) != 0) != (len(rec.Sigs) != 0) || !body.canonicalGiven(bodySeen) {
		return rec, nil, false
	}
	return rec, body, true
}
