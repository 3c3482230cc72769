package ledger

import (
	"bytes"
	"hash/maphash"
	"slices"
)

// MemState is an in-memory StateReader for tests, replay and offline verification.
//
// Keys and values live in large byte chunks and are found through an open-addressing table of
// (hash, entry) pairs, so that a state of millions of keys is a handful of pointer-free
// allocations: the GC does not trace it and inserts allocate nothing per key. An overwritten or
// deleted value leaves its old bytes behind until the chunks are compacted (when more than half
// of their bytes are dead). The hash seed is random per process but changes nothing observable:
// Keys and Digest sort.
type MemState struct {
	seed    maphash.Seed
	slots   []memSlot  // power-of-two length; entry+1 (0 = empty)
	entries []memEntry // in insertion order; deleted ones stay, marked
	chunks  [][]byte
	live    int // entries not deleted
	dead    int // bytes of chunks no entry refers to
	total   int // bytes in chunks
}

type memSlot struct {
	hash  uint64
	entry uint32 // index+1 into entries; 0 marks an empty slot
}

type memEntry struct {
	chunk   uint32
	off     uint32
	keyLen  uint32
	valLen  uint32
	deleted bool
}

const memChunk = 1 << 20

// NewMemState returns an empty state.
func NewMemState() *MemState { return &MemState{seed: maphash.MakeSeed()} }

func (s *MemState) key(e *memEntry) []byte {
	return s.chunks[e.chunk][e.off : e.off+e.keyLen : e.off+e.keyLen]
}

func (s *MemState) value(e *memEntry) []byte {
	start := e.off + e.keyLen
	return s.chunks[e.chunk][start : start+e.valLen : start+e.valLen]
}

// find returns the slot holding key, or the empty slot where it would go.
func (s *MemState) find(key []byte, h uint64) (slot int, found bool) {
	mask := len(s.slots) - 1
	for p := int(h) & mask; ; p = (p + 1) & mask {
		sl := &s.slots[p]
		if sl.entry == 0 {
			return p, false
		}
		if sl.hash == h && bytes.Equal(s.key(&s.entries[sl.entry-1]), key) {
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
	if !ok {
		return nil, false, nil
	}
	e := &s.entries[s.slots[p].entry-1]
	if e.deleted {
		return nil, false, nil
	}
	return s.value(e), true, nil
}

// store copies key and value into the chunks.
func (s *MemState) store(key, value []byte) memEntry {
	n := len(key) + len(value)
	last := len(s.chunks) - 1
	if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < n {
		s.chunks = append(s.chunks, make([]byte, 0, max(memChunk, n)))
		last++
	}
	c := s.chunks[last]
	e := memEntry{chunk: uint32(last), off: uint32(len(c)), keyLen: uint32(len(key)), valLen: uint32(len(value))}
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
	if (len(s.entries)+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	h := maphash.Bytes(s.seed, w.Key)
	p, ok := s.find(w.Key, h)
	if ok {
		i := s.slots[p].entry - 1
		old := s.entries[i]
		if !old.deleted {
			s.live--
		}
		s.dead += int(old.keyLen + old.valLen)
		if w.Delete {
			// Keep the key so the slot stays; only the value goes.
			e := s.store(w.Key, nil)
			e.deleted = true
			s.entries[i] = e
			return
		}
		s.entries[i] = s.store(w.Key, w.Value)
		s.live++
		return
	}
	if w.Delete {
		return
	}
	s.entries = append(s.entries, s.store(w.Key, w.Value))
	s.slots[p] = memSlot{hash: h, entry: uint32(len(s.entries))}
	s.live++
}

func (s *MemState) grow() {
	n := max(1024, 2*len(s.slots))
	old := s.slots
	s.slots = make([]memSlot, n)
	mask := n - 1
	for _, sl := range old {
		if sl.entry == 0 {
			continue
		}
		p := int(sl.hash) & mask
		for s.slots[p].entry != 0 {
			p = (p + 1) & mask
		}
		s.slots[p] = sl
	}
}

// compact rewrites the live entries into fresh chunks, dropping deleted keys.
func (s *MemState) compact() {
	old := *s
	*s = MemState{seed: old.seed}
	for i := range old.entries {
		e := &old.entries[i]
		if !e.deleted {
			s.put(Write{Key: old.key(e), Value: old.value(e)})
		}
	}
}

// Len returns the number of keys.
func (s *MemState) Len() int { return s.live }

// Keys returns the keys with prefix, sorted.
func (s *MemState) Keys(prefix []byte) [][]byte {
	var out [][]byte
	for i := range s.entries {
		e := &s.entries[i]
		if k := s.key(e); !e.deleted && bytes.HasPrefix(k, prefix) {
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
