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

	hashes []uint64 // Commit's scratch: the hashes of a batch of writes
	sink   uint64   // keeps touch's loads
}

// memSlot is one table slot: the low half of an entry's hash and where its key and value are.
// keyLen 0 marks an empty slot (state keys are never empty); valLen memDeleted marks a deleted
// key. Sixteen bytes, so that four share a cache line and growing the table touches less
// memory: the table is most of what a look-up of a large state misses in cache.
type memSlot struct {
	hash   uint32
	keyLen uint16
	chunk  uint16
	off    uint32
	valLen uint32
}

const (
	memChunk   = 1 << 20
	memDeleted = 1<<32 - 1
	// memMaxChunks bounds the chunks a slot can name: 64 GiB of state at least.
	memMaxChunks = 1 << 16
)

func (e *memSlot) deleted() bool { return e.valLen == memDeleted }

// size is the bytes of chunk the entry takes.
func (e *memSlot) size() int {
	if e.deleted() {
		return int(e.keyLen)
	}
	return int(e.keyLen) + int(e.valLen)
}

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
		if sl.hash == uint32(h) && bytes.Equal(s.key(sl), key) {
			return p, true
		}
	}
}

// Get implements StateReader. The value must not be changed.
func (s *MemState) Get(key []byte) ([]byte, bool, error) {
	v, ok := s.getHashed(key, maphash.Bytes(s.seed, key))
	return v, ok, nil
}

// getHashed is Get of a key whose hash (with s.seed) is h.
func (s *MemState) getHashed(key []byte, h uint64) ([]byte, bool) {
	if len(s.slots) == 0 {
		return nil, false
	}
	p, ok := s.find(key, h)
	if !ok || s.slots[p].deleted() {
		return nil, false
	}
	return s.value(&s.slots[p]), true
}

// store copies key and value into the chunks and returns the slot that locates them.
func (s *MemState) store(h uint64, key, value []byte) memSlot {
	n := len(key) + len(value)
	last := len(s.chunks) - 1
	if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < n {
		if len(s.chunks) == memMaxChunks {
			panic("ledger: MemState holds more chunks than a slot can name")
		}
		if uint64(len(value)) >= memDeleted {
			panic(fmt.Sprintf("ledger: state value of %d bytes", len(value)))
		}
		s.chunks = append(s.chunks, make([]byte, 0, max(memChunk, n)))
		last++
	}
	c := s.chunks[last]
	e := memSlot{hash: uint32(h), chunk: uint16(last), off: uint32(len(c)), keyLen: uint16(len(key)), valLen: uint32(len(value))}
	c = append(c, key...)
	s.chunks[last] = append(c, value...)
	s.total += n
	return e
}

// commitBatch is how many writes Commit hashes and touches before inserting them.
const commitBatch = 64

// Commit applies writes in order.
//
// The slots of a large state are in memory that is not cached, and one insert waits for its slot
// before the next begins. So Commit first hashes a batch of writes and loads their slots (and
// the entries they hold) in a loop whose loads do not depend on one another, letting the CPU
// have many in flight; the inserts then find them in cache.
func (s *MemState) Commit(ws []Write) {
	if (s.used+len(ws))*2 > len(s.slots) { // grow before hashing so that slot positions hold
		s.growFor(s.used + len(ws))
	}
	for len(ws) > 0 {
		n := min(len(ws), commitBatch)
		s.hashes = s.hashes[:0]
		for i := range n {
			s.hashes = append(s.hashes, maphash.Bytes(s.seed, ws[i].Key))
		}
		s.sink += s.touch(s.hashes)
		for i := range n {
			s.put(ws[i], s.hashes[i])
		}
		ws = ws[n:]
	}
	if s.dead > memChunk && s.dead > s.total/2 {
		s.compact()
	}
}

// touch loads the slots of the hashes, then the start of the entries they hold, to have them
// cached: the loads of each loop do not depend on one another.
// It changes nothing, so that readers may call it concurrently; the caller keeps the sum.
func (s *MemState) touch(hs []uint64) uint64 {
	mask := len(s.slots) - 1
	var x uint64
	for _, h := range hs {
		x += uint64(s.slots[int(h)&mask].hash)
	}
	for _, h := range hs {
		if sl := &s.slots[int(h)&mask]; sl.keyLen != 0 {
			c := s.chunks[sl.chunk]
			x += uint64(c[sl.off]) + uint64(c[int(sl.off)+sl.size()-1]) // both ends
		}
	}
	return x
}

// growFor grows the table until it holds n keys at most half full.
func (s *MemState) growFor(n int) {
	for n*2 > len(s.slots) {
		s.grow()
	}
}

func (s *MemState) put(w Write, h uint64) {
	if len(w.Key) == 0 || len(w.Key) > 1<<16-1 {
		panic(fmt.Sprintf("ledger: state key of %d bytes", len(w.Key))) // keys are built by the ledger
	}
	if (s.used+1)*2 > len(s.slots) { // at most half full: linear probing stays short
		s.grow()
	}
	p, ok := s.find(w.Key, h)
	if ok {
		old := &s.slots[p]
		if !old.deleted() {
			s.live--
		}
		s.dead += old.size()
		if w.Delete {
			// Keep the key so the slot stays; only the value goes.
			*old = s.store(h, w.Key, nil)
			old.valLen = memDeleted
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
		if e.keyLen != 0 && !e.deleted() {
			s.put(Write{Key: old.key(e), Value: old.value(e)}, uint64(e.hash)) // the low half places it
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
		if e.keyLen == 0 || e.deleted() {
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
