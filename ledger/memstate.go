package ledger

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"slices"
)

// MemState is an in-memory StateReader for tests, replay and offline verification.
//
// Keys and values live in large byte chunks and are found through an open-addressing table whose
// slots hold the hash and the location of their entry, so that a state of millions of keys is a
// handful of pointer-free allocations (the GC does not trace it, inserts allocate nothing per key)
// and a look-up touches the slot and the entry's bytes, nothing between. An overwritten or deleted
// value leaves its old bytes behind until the chunks are compacted (when more than half of their
// bytes are dead). The hash seed is random per process but changes nothing observable: Keys and
// Digest sort.
type MemState struct {
	seed   maphash.Seed
	slots  []memSlot // power-of-two length, at most half full
	used   int       // slots in use, deleted keys included
	chunks [][]byte
	live   int // keys not deleted
	dead   int // bytes of chunks no entry refers to
	total  int // bytes in chunks
}

// memSlot is one table slot: an entry's hash and where its key and value are. keyLen 0 marks an
// empty slot (state keys are never empty).
type memSlot struct {
	hash    uint64
	chunk   uint32
	off     uint32
	valLen  uint32
	keyLen  uint16
	deleted bool
}

const memChunk = 1 << 20

// NewMemState returns an empty state.
func NewMemState() *MemState { return &MemState{seed: maphash.MakeSeed()} }

func (s *MemState) key(e *memSlot) []byte {
	return s.chunks[e.chunk][e.off : e.off+uint32(e.keyLen) : e.off+uint32(e.keyLen)]
}

func (s *MemState) value(e *memSlot) []byte {
	start := e.off + uint32(e.keyLen)
	return s.chunks[e.chunk][start : start+e.valLen : start+e.valLen]
}

// find returns the slot holding key, or the empty slot where it would go.
func (s *MemState) find(key []byte, h uint64) (slot int, found bool) {
	mask := len(s.slots) - 1
	for p := int(h) & mask; ; p = (p + 1) & mask {
		sl := &s.slots[p]
		if sl.keyLen == 0 {
			return p, false
		}
		if sl.hash == h && bytes.Equal(s.key(sl), key) {
			return p, true
		}
	}
}

// Get implements StateReader. The value must not be changed.
func (s *MemState) Get(key []byte) ([]byte, bool, error) {
	if len(s.slots) == 0 {
		return nil, false, nil
	}
	p, ok := s.find(key, maphash.Bytes(s.seed, key))
	if !ok || s.slots[p].deleted {
		return nil, false, nil
	}
	return s.value(&s.slots[p]), true, nil
}

// store copies key and value into the chunks and returns the slot that locates them.
func (s *MemState) store(h uint64, key, value []byte) memSlot {
	n := len(key) + len(value)
	last := len(s.chunks) - 1
	if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < n {
		s.chunks = append(s.chunks, make([]byte, 0, max(memChunk, n)))
		last++
	}
	c := s.chunks[last]
	e := memSlot{hash: h, chunk: uint32(last), off: uint32(len(c)), keyLen: uint16(len(key)), valLen: uint32(len(value))}
	c = append(c, key...)
	s.chunks[last] = append(c, value...)
	s.total += n
	return e
}

// Commit applies writes in order.
func (s *MemState) Commit(ws []Write) {
	for _, w := range ws {
		s.put(w)
	}
	if s.dead > memChunk && s.dead > s.total/2 {
		s.compact()
	}
}

func (s *MemState) put(w Write) {
	if len(w.Key) == 0 || len(w.Key) > 1<<16-1 {
		panic(fmt.Sprintf("ledger: state key of %d bytes", len(w.Key))) // keys are built by the ledger
	}
	if (s.used+1)*2 > len(s.slots) { // at most half full: linear probing stays short
		s.grow()
	}
	h := maphash.Bytes(s.seed, w.Key)
	p, ok := s.find(w.Key, h)
	if ok {
		old := &s.slots[p]
		if !old.deleted {
			s.live--
		}
		s.dead += int(old.keyLen) + int(old.valLen)
		if w.Delete {
			// Keep the key so the slot stays; only the value goes.
			*old = s.store(h, w.Key, nil)
			old.deleted = true
			return
		}
		*old = s.store(h, w.Key, w.Value)
		s.live++
		return
	}
	if w.Delete {
		return
	}
	s.slots[p] = s.store(h, w.Key, w.Value)
	s.used++
	s.live++
}

func (s *MemState) grow() {
	n := max(1024, 2*len(s.slots))
	old := s.slots
	s.slots = make([]memSlot, n)
	mask := n - 1
	for _, sl := range old {
		if sl.keyLen == 0 {
			continue
		}
		p := int(sl.hash) & mask
		for s.slots[p].keyLen != 0 {
			p = (p + 1) & mask
		}
		s.slots[p] = sl
	}
}

// compact rewrites the live entries into fresh chunks, dropping deleted keys.
func (s *MemState) compact() {
	old := *s
	*s = MemState{seed: old.seed}
	for i := range old.slots {
		e := &old.slots[i]
		if e.keyLen != 0 && !e.deleted {
			s.put(Write{Key: old.key(e), Value: old.value(e)})
		}
	}
}

// Len returns the number of keys.
func (s *MemState) Len() int { return s.live }

// Keys returns the keys with prefix, sorted.
func (s *MemState) Keys(prefix []byte) [][]byte {
	var out [][]byte
	for i := range s.slots {
		e := &s.slots[i]
		if e.keyLen == 0 || e.deleted {
			continue
		}
		if k := s.key(e); bytes.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// Digest returns the full-state digest of s (see StateDigest).
func (s *MemState) Digest() Hash {
	d := NewStateDigest()
	for _, k := range s.Keys(nil) {
		v, _, _ := s.Get(k)
		if err := d.Add(k, v); err != nil {
			panic(err) // Keys is sorted and distinct
		}
	}
	return d.Sum()
}
