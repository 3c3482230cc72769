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

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// arenaKey is key built in the arena a: keys written by Apply live as long as the checkpoint's
// values, and building them allocates nothing per key.
func (a *arena) key(prefix byte, parts ...[]byte) []byte {
	var buf [128]byte
	k := append(buf[:0], prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return a.copy(k)
}

func (c *ctx) keyRecord(id Hash) []byte    { return c.t.values.key(pfxRecord, id[:]) }
func (c *ctx) keyWorker(w WorkerID) []byte { return c.t.values.key(pfxWorker, w[:]) }
func (c *ctx) keyAccount(w WorkerID, scheme, prov string) []byte {
	return c.t.values.key(pfxAccount, w[:], []byte{schemeByte(scheme)}, []byte(prov))
}
func (c *ctx) keyMonth(w WorkerID, scheme, prov string, p uint32) []byte {
	return c.t.values.key(pfxMonth, w[:], []byte{schemeByte(scheme)}, []byte(prov), u32(p))
}

func keyRecord(id Hash) []byte       { return key(pfxRecord, id[:]) }
func keyTip(p KeyID) []byte          { return key(pfxTip, []byte(p)) }
func keyWorker(w WorkerID) []byte    { return key(pfxWorker, w[:]) }
func keyTransfer(id Hash) []byte     { return key(pfxTransfer, id[:]) }
func keyWorkerKey(w WorkerID) []byte { return key(pfxWorkerK, w[:]) }
func keyKeyWorker(k KeyID) []byte    { return key(pfxKeyW, []byte(k)) }
func keyAccount(w WorkerID, scheme, prov string) []byte {
	return key(pfxAccount, w[:], []byte{schemeByte(scheme)}, []byte(prov))
}
func keyMonth(w WorkerID, scheme, prov string, p uint32) []byte {
	return key(pfxMonth, w[:], []byte{schemeByte(scheme)}, []byte(prov), u32(p))
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
