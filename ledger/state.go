package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"strings"
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

// MemState is an in-memory StateReader for tests, replay and offline verification.
type MemState struct {
	m map[string][]byte
}

// NewMemState returns an empty state.
func NewMemState() *MemState { return &MemState{m: make(map[string][]byte)} }

// Get implements StateReader.
func (s *MemState) Get(key []byte) ([]byte, bool, error) {
	v, ok := s.m[string(key)]
	return v, ok, nil
}

// Commit applies writes in order.
func (s *MemState) Commit(ws []Write) {
	for _, w := range ws {
		if w.Delete {
			delete(s.m, string(w.Key))
		} else {
			s.m[string(w.Key)] = slices.Clone(w.Value)
		}
	}
}

// Len returns the number of keys.
func (s *MemState) Len() int { return len(s.m) }

// Keys returns the keys with prefix, sorted.
func (s *MemState) Keys(prefix []byte) [][]byte {
	var out [][]byte
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			out = append(out, []byte(k))
		}
	}
	slices.SortFunc(out, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	return out
}

// Digest returns the full-state digest of s (see StateDigest).
func (s *MemState) Digest() Hash {
	d := NewStateDigest()
	for _, k := range s.Keys(nil) {
		if err := d.Add(k, s.m[string(k)]); err != nil {
			panic(err) // Keys is sorted and distinct
		}
	}
	return d.Sum()
}

// StateDigest computes the full-state digest: SHA-256 over every (key, value) pair in ascending
// key order, each as uvarint(len key) || key || 0x00 || uvarint(len value) || value. It is the
// fingerprint of an exported snapshot and of two states being compared (docs/wire.md §14).
type StateDigest struct {
	h    hash.Hash
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
	writeKV(d.h, k, v, false)
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

func writeKV(h hash.Hash, k, v []byte, del bool) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
	h.Write(k)
	if del {
		h.Write([]byte{1})
		return
	}
	h.Write([]byte{0})
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
	h.Write(v)
}

// txn stages the writes of one checkpoint over a StateReader, with a nested level for the record
// being applied: a rejected record's writes are dropped whole, so it never changes state.
type txn struct {
	base StateReader
	err  error // first read error; Apply fails with it

	cp    map[string]int // key -> index in cpLog
	cpLog []Write
	rec   map[string]Write
	order []string // record-level keys in first-write order
	dig   hash.Hash
}

func newTxn(base StateReader) *txn {
	return &txn{base: base, cp: make(map[string]int), rec: make(map[string]Write), dig: sha256.New()}
}

func (t *txn) get(key []byte) ([]byte, bool) {
	if w, ok := t.rec[string(key)]; ok {
		return w.Value, !w.Delete
	}
	if i, ok := t.cp[string(key)]; ok {
		w := t.cpLog[i]
		return w.Value, !w.Delete
	}
	v, ok, err := t.base.Get(key)
	if err != nil && t.err == nil {
		t.err = err
	}
	return v, ok
}

func (t *txn) set(key, value []byte) {
	k := string(key)
	if _, ok := t.rec[k]; !ok {
		t.order = append(t.order, k)
	}
	t.rec[k] = Write{Key: []byte(k), Value: value}
}

func (t *txn) del(key []byte) {
	k := string(key)
	if _, ok := t.rec[k]; !ok {
		t.order = append(t.order, k)
	}
	t.rec[k] = Write{Key: []byte(k), Delete: true}
}

// commitRecord folds the record's writes into the checkpoint level and the writes digest.
func (t *txn) commitRecord() {
	for _, k := range t.order {
		w := t.rec[k]
		writeKV(t.dig, w.Key, w.Value, w.Delete)
		if i, ok := t.cp[k]; ok {
			t.cpLog[i] = w
		} else {
			t.cp[k] = len(t.cpLog)
			t.cpLog = append(t.cpLog, w)
		}
	}
	t.dropRecord()
}

// dropRecord discards the record's writes.
func (t *txn) dropRecord() {
	clear(t.rec)
	t.order = t.order[:0]
}

func (t *txn) digest() Hash {
	var out Hash
	t.dig.Sum(out[:0])
	return out
}
