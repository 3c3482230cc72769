package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/maphash"
)

// StateReader is what the state machine reads: a key-value store. The badger store and MemState
// implement it. Get returns ok=false for a missing key; an error means the store failed, never
// that the key is absent.
type StateReader interface {
	Get(key []byte) (value []byte, ok bool, err error)
}

// Write is one change produced by Apply. The writes of a checkpoint are committed together by the
// caller, or not at all.
type Write struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// StateDigest computes the full-state digest: SHA-256 over every (key, value) pair in ascending
// key order, each as uvarint(len key) || key || 0x00 || uvarint(len value) || value. It is the
// fingerprint of an exported snapshot and of two states being compared (docs/wire.md §14).
type StateDigest struct {
	h    hash.Hash
	buf  []byte
	last []byte
	n    uint64
}

// NewStateDigest starts an empty digest.
func NewStateDigest() *StateDigest { return &StateDigest{h: sha256.New()} }

// Add adds one pair. Keys must be strictly ascending; an out-of-order or repeated key is an error
// and leaves the digest unchanged.
func (d *StateDigest) Add(k, v []byte) error {
	if d.n > 0 && string(k) <= string(d.last) {
		return fmt.Errorf("state digest: key %x does not follow %x", k, d.last)
	}
	d.buf = writeKV(d.h, d.buf, k, v, false)
	d.last = append(d.last[:0], k...)
	d.n++
	return nil
}

// Len returns the number of pairs added.
func (d *StateDigest) Len() uint64 { return d.n }

// Sum returns the digest of the pairs added so far.
func (d *StateDigest) Sum() Hash {
	var out Hash
	d.h.Sum(out[:0])
	return out
}

// writeKV hashes one (key, value) pair or deletion; scratch is a reusable buffer (it is returned
// grown so that the next call need not allocate).
func writeKV(h hash.Hash, scratch []byte, k, v []byte, del bool) []byte {
	b := appendKV(scratch[:0], k, v, del)
	h.Write(b)
	return b
}

// appendKV appends the bytes writeKV hashes for one pair or deletion.
func appendKV(b []byte, k, v []byte, del bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	if del {
		return append(b, 1)
	}
	b = binary.AppendUvarint(append(b, 0), uint64(len(v)))
	return append(b, v...)
}

// txn stages the writes of one checkpoint over a StateReader, with a nested level for the record
// being applied: a rejected record's writes are dropped whole, so it never changes state.
type txn struct {
	base StateReader
	mem  *MemState // base, when it is one: looked up with the hashes the txn computed
	err  error     // first read error; Apply fails with it
	sink uint64    // keeps prefetch's loads

	cp    writeIndex // key -> index in cpLog
	cpLog []Write
	rec   []Write        // the record's writes, one per key, in first-write order
	recH  []uint64       // the hashes of rec's keys
	recIx map[string]int // index into rec, built only for records writing many keys
	dig   hash.Hash

	digBuf []byte // the writes not yet hashed into dig (see commitRecord)
	values arena  // encoded values of the checkpoint
}

// arena hands out immutable copies of small byte slices from large chunks, so that the values of
// a checkpoint cost a few allocations instead of one each, and no pointers for the GC to follow.
// It takes chunks from spare (those of a released Result) before it allocates new ones.
type arena struct {
	chunk []byte
	used  [][]byte // every chunk handed out from, chunk included
	spare [][]byte
}

const arenaChunk = 64 << 10

// copy returns a copy of b whose capacity ends where it does, so appending to it never writes
// into a neighbour.
func (a *arena) copy(b []byte) []byte {
	if len(b) > cap(a.chunk)-len(a.chunk) {
		if len(b) > arenaChunk/4 {
			return append([]byte(nil), b...)
		}
		if n := len(a.spare); n > 0 {
			a.chunk, a.spare = a.spare[n-1][:0], a.spare[:n-1]
		} else {
			a.chunk = make([]byte, 0, arenaChunk)
		}
		a.used = append(a.used, a.chunk)
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

// writeIndex finds a checkpoint's writes by key: open addressing over (hash, index) pairs whose
// keys live in the write log itself, so that indexing a write allocates nothing.
type writeIndex struct {
	seed  maphash.Seed
	slots []indexSlot
	n     int
}

func (x *writeIndex) init(seed maphash.Seed, hint int, spare []indexSlot) {
	x.seed = seed
	size := 64
	for size*3 < hint*4 {
		size *= 2
	}
	if cap(spare) >= size {
		x.slots = spare[:size]
		clear(x.slots)
		return
	}
	x.slots = make([]indexSlot, size)
}

func (x *writeIndex) hash(key []byte) uint64 { return maphash.Bytes(x.seed, key) }

// find returns the log index of key, or -1.
func (x *writeIndex) find(log []Write, key []byte, h uint64) int {
	mask := len(x.slots) - 1
	for p := int(h) & mask; ; p = (p + 1) & mask {
		sl := &x.slots[p]
		if sl.entry == 0 {
			return -1
		}
		if sl.hash == uint32(h) && string(log[sl.entry-1].Key) == string(key) {
			return int(sl.entry - 1)
		}
	}
}

// indexSlot is 8 bytes, so that the index of a checkpoint's writes stays small enough to be
// cached; 32 bits of the hash rule out all but one key in four billion before comparing keys.
type indexSlot struct {
	hash  uint32 // the low half of the key's hash
	entry uint32 // index into the log + 1; 0 marks an empty slot
}

// add indexes a key known to be absent.
func (x *writeIndex) add(h uint64, i int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]indexSlot, 2*len(old))
		for _, sl := range old {
			if sl.entry != 0 {
				x.put(sl)
			}
		}
	}
	x.put(indexSlot{hash: uint32(h), entry: uint32(i + 1)})
	x.n++
}

func (x *writeIndex) put(sl indexSlot) {
	mask := len(x.slots) - 1
	p := int(sl.hash) & mask
	for x.slots[p].entry != 0 {
		p = (p + 1) & mask
	}
	x.slots[p] = sl
}

// recIndexFrom is the number of record-level writes above which look-ups use a map.
const recIndexFrom = 16

// newTxn starts a checkpoint; hint is the expected number of keys written. Its buffers come
// from spare when they are large enough (spare may be nil).
func newTxn(base StateReader, hint int, spare *txnBufs) *txn {
	t := &txn{base: base, dig: sha256.New()}
	if spare == nil {
		spare = &txnBufs{}
	}
	if cap(spare.cpLog) >= hint {
		t.cpLog = spare.cpLog[:0]
	} else {
		t.cpLog = make([]Write, 0, hint)
	}
	t.values.spare = spare.chunks
	seed := maphash.MakeSeed()
	if m, ok := base.(*MemState); ok {
		t.mem, seed = m, m.seed // one hash per key serves the checkpoint's index and the state
	}
	t.cp.init(seed, hint, spare.slots)
	return t
}

// txnBufs are the buffers of a checkpoint's txn that outlive it in its Result: the write log,
// the chunks its keys and values were copied into, the index of the log, and the receipts.
// Result.Release hands them to the next Apply.
type txnBufs struct {
	cpLog    []Write
	chunks   [][]byte
	slots    []indexSlot
	receipts []Receipt
}

// bufs returns t's buffers, for reuse once nothing refers to the writes any more.
func (t *txn) bufs() *txnBufs {
	return &txnBufs{cpLog: t.cpLog, chunks: append(t.values.used, t.values.spare...), slots: t.cp.slots}
}

// hash returns the hash of key that the checkpoint's index (and a MemState base) use. Callers
// that read and then write a key pass the hash to getH and setH, so that it is computed once.
func (t *txn) hash(key []byte) uint64 { return t.cp.hash(key) }

// prefetch loads the slots of the hashes in the checkpoint's index, and their slots and entries
// when the state is a MemState, into cache: in loops whose loads do not wait for one another,
// rather than one cache miss after another as the reads come.
func (t *txn) prefetch(hs ...uint64) {
	mask := len(t.cp.slots) - 1
	for _, h := range hs {
		t.sink += uint64(t.cp.slots[int(h)&mask].hash)
	}
	if t.mem != nil && len(t.mem.slots) != 0 {
		t.sink += t.mem.touch(hs)
	}
}

// recFind returns the index of key among the record's writes, or -1.
func (t *txn) recFind(key []byte) int {
	if t.recIx != nil {
		if i, ok := t.recIx[string(key)]; ok {
			return i
		}
		return -1
	}
	for i := range t.rec {
		if string(t.rec[i].Key) == string(key) {
			return i
		}
	}
	return -1
}

func (t *txn) get(key []byte) ([]byte, bool) { return t.getH(key, t.hash(key)) }

// getH is get of a key whose hash is h.
func (t *txn) getH(key []byte, h uint64) ([]byte, bool) {
	if i := t.recFind(key); i >= 0 {
		w := &t.rec[i]
		return w.Value, !w.Delete
	}
	if i := t.cp.find(t.cpLog, key, h); i >= 0 {
		w := &t.cpLog[i]
		return w.Value, !w.Delete
	}
	if t.mem != nil {
		v, ok := t.mem.getHashed(key, h)
		return v, ok
	}
	v, ok, err := t.base.Get(key)
	if err != nil && t.err == nil {
		t.err = err
	}
	return v, ok
}

// set stages a write. The txn keeps key and value: callers pass slices they no longer change.
func (t *txn) set(key, value []byte) { t.write(Write{Key: key, Value: value}, t.hash(key)) }

// setH is set of a key whose hash is h.
func (t *txn) setH(key, value []byte, h uint64) { t.write(Write{Key: key, Value: value}, h) }

func (t *txn) del(key []byte) { t.write(Write{Key: key, Delete: true}, t.hash(key)) }

func (t *txn) write(w Write, h uint64) {
	if i := t.recFind(w.Key); i >= 0 {
		t.rec[i] = w
		return
	}
	t.rec = append(t.rec, w)
	t.recH = append(t.recH, h)
	switch {
	case t.recIx != nil:
		t.recIx[string(w.Key)] = len(t.rec) - 1
	case len(t.rec) > recIndexFrom:
		t.recIx = make(map[string]int, 2*len(t.rec))
		for i := range t.rec {
			t.recIx[string(t.rec[i].Key)] = i
		}
	}
}

// commitRecord folds the record's writes into the checkpoint level and the writes digest.
func (t *txn) commitRecord() {
	for j, w := range t.rec {
		// The digest's input is gathered over records and hashed a few kilobytes at a time:
		// SHA-256 of the same bytes, in far fewer, larger calls.
		t.digBuf = appendKV(t.digBuf, w.Key, w.Value, w.Delete)
		h := t.recH[j]
		if i := t.cp.find(t.cpLog, w.Key, h); i >= 0 {
			t.cpLog[i] = w
		} else {
			t.cp.add(h, len(t.cpLog))
			t.cpLog = append(t.cpLog, w)
		}
	}
	if len(t.digBuf) >= digestBatch {
		t.flushDigest()
	}
	t.dropRecord()
}

// digestBatch is how many bytes of writes commitRecord gathers before hashing them.
const digestBatch = 4 << 10

// flushDigest hashes the gathered writes into the writes digest.
func (t *txn) flushDigest() {
	t.dig.Write(t.digBuf)
	t.digBuf = t.digBuf[:0]
}

// dropRecord discards the record's writes.
func (t *txn) dropRecord() {
	clear(t.rec)
	t.rec = t.rec[:0]
	t.recH = t.recH[:0]
	t.recIx = nil
}

func (t *txn) digest() Hash {
	t.flushDigest()
	var out Hash
	t.dig.Sum(out[:0])
	return out
}
