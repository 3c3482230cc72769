package ledger

import "encoding/binary"

// State keys: one prefix byte, then fixed-width fields, so related keys sort together.
var (
	keyMeta      = []byte("Mmeta")
	keyRegistry  = []byte("Mregistry")
	keyParams    = []byte("Mparams")
	keyCalendars = []byte("Mcalendars")
	keyTotals    = []byte("Mtotals")
)

// Key prefixes.
const (
	pfxRecord   = 'r' // r | record id            → recordState
	pfxTip      = 'h' // h | producer             → chainTip
	pfxWorker   = 'w' // w | worker               → workerState
	pfxAccount  = 'a' // a | worker | scheme | province → account
	pfxMonth    = 'n' // n | worker | scheme | province | period(4) → month
	pfxPool     = 'g' // g | province | scheme    → pooled fund balance
	pfxTransfer = 't' // t | case                 → transfer
	pfxEmploy   = 'E' // E | employer | worker    → employment
	pfxConsent  = 'o' // o | worker | grant id    → consent
	pfxWorkerK  = 'k' // k | worker               → registered key
	pfxKeyW     = 'K' // K | key id               → worker
	pfxAccess   = 'x' // x | worker | record id   → access
)

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// The layouts of the keys Apply writes most, each defined once: the package functions below
// allocate the key, the ctx methods build it in the checkpoint's arena (it lives as long as the
// checkpoint's values, and building it allocates nothing per key).

func appendKeyID(b []byte, prefix byte, id []byte) []byte { return append(append(b, prefix), id...) }

// appendKeyPlace is prefix | worker | scheme byte | province, the account layout (and the start
// of the month layout).
func appendKeyPlace(b []byte, prefix byte, w WorkerID, scheme, prov string) []byte {
	b = append(append(b, prefix), w[:]...)
	return append(append(b, schemeByte(scheme)), prov...)
}

func appendKeyMonth(b []byte, w WorkerID, scheme, prov string, p uint32) []byte {
	return binary.BigEndian.AppendUint32(appendKeyPlace(b, pfxMonth, w, scheme, prov), p)
}

func (c *ctx) keyRecord(id Hash) []byte {
	var buf [64]byte
	return c.t.values.copy(appendKeyID(buf[:0], pfxRecord, id[:]))
}
func (c *ctx) keyWorker(w WorkerID) []byte {
	var buf [64]byte
	return c.t.values.copy(appendKeyID(buf[:0], pfxWorker, w[:]))
}
func (c *ctx) keyAccount(w WorkerID, scheme, prov string) []byte {
	var buf [64]byte
	return c.t.values.copy(appendKeyPlace(buf[:0], pfxAccount, w, scheme, prov))
}
func (c *ctx) keyMonth(w WorkerID, scheme, prov string, p uint32) []byte {
	var buf [64]byte
	return c.t.values.copy(appendKeyMonth(buf[:0], w, scheme, prov, p))
}

func keyRecord(id Hash) []byte       { return appendKeyID(nil, pfxRecord, id[:]) }
func keyTip(p KeyID) []byte          { return key(pfxTip, []byte(p)) }
func keyWorker(w WorkerID) []byte    { return appendKeyID(nil, pfxWorker, w[:]) }
func keyTransfer(id Hash) []byte     { return key(pfxTransfer, id[:]) }
func keyWorkerKey(w WorkerID) []byte { return key(pfxWorkerK, w[:]) }
func keyKeyWorker(k KeyID) []byte    { return key(pfxKeyW, []byte(k)) }
func keyAccount(w WorkerID, scheme, prov string) []byte {
	return appendKeyPlace(make([]byte, 0, 40), pfxAccount, w, scheme, prov)
}
func keyMonth(w WorkerID, scheme, prov string, p uint32) []byte {
	return appendKeyMonth(make([]byte, 0, 44), w, scheme, prov, p)
}
func keyPool(prov, scheme string) []byte {
	return key(pfxPool, []byte(prov), []byte{schemeByte(scheme)})
}
func keyEmployment(employer string, w WorkerID) []byte {
	return key(pfxEmploy, []byte(employer), w[:])
}
func keyConsent(w WorkerID, grant Hash) []byte { return key(pfxConsent, w[:], grant[:]) }
func keyAccess(w WorkerID, id Hash) []byte     { return key(pfxAccess, w[:], id[:]) }

// schemeOfByte inverts schemeByte; "" for an unknown byte.
func schemeOfByte(b byte) string {
	switch b {
	case 'p':
		return SchemePension
	case 'm':
		return SchemeMedical
	case 'u':
		return SchemeUnemployment
	case 'i':
		return SchemeInjury
	}
	return ""
}

func schemeByte(s string) byte {
	switch s {
	case SchemePension:
		return 'p'
	case SchemeMedical:
		return 'm'
	case SchemeUnemployment:
		return 'u'
	case SchemeInjury:
		return 'i'
	}
	return '?'
}
