package statedb

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jaminan/jaminan/ledger"
)

// deadSeq marks a memtable entry whose only version was dropped (dropSeq).
const deadSeq = math.MaxUint64

// mver is one version of a key in the memtable.
type mver struct {
	seq uint64
	val []byte
	del bool
}

// memEntry holds the versions of a key: the newest inline, older ones in prev (ascending).
type memEntry struct {
	key  string
	last mver
	prev []mver
}

// at returns the newest version with seq <= seq.
func (e *memEntry) at(seq uint64) (mver, bool) {
	if e.last.seq <= seq {
		return e.last, true
	}
	for i := len(e.prev) - 1; i >= 0; i-- {
		if e.prev[i].seq <= seq {
			return e.prev[i], true
		}
	}
	return mver{}, false
}

// memtable holds the writes since the last flush, every version of every key, in a slab of
// entries indexed by a map. Keys and values are copied into per-Append arenas and never
// modified. A memtable only ever gains keys once readers can see it; replacing a checkpoint
// works on a clone.
type memtable struct {
	mu       sync.RWMutex
	idx      map[string]uint32 // key → entry number
	ents     [][]memEntry      // entries in chunks of entChunk (never reallocated)
	n        uint32            // entries
	bytes    atomic.Int64      // keys+values of every version
	seqs     []uint64          // the checkpoints appended, ascending
	lastKeys []uint32          // entries written by seqs[len(seqs)-1]

	sortMu sync.Mutex
	sorted []uint32 // live entries in key order, valid while len(sorted) == len(idx)
}

const (
	// maxMemHint bounds the presizing of a memtable's index.
	maxMemHint = 1 << 22
	entShift   = 12
	entChunk   = 1 << entShift
	// applyBatch writes are applied per hold of the write lock.
	applyBatch = 128
)

func newMemtable(hint int) *memtable {
	return &memtable{idx: make(map[string]uint32, min(hint, maxMemHint))}
}

// size returns the bytes of keys and values held, 0 for nil.
func (m *memtable) size() int64 {
	if m == nil {
		return 0
	}
	return m.bytes.Load()
}

// ent returns entry j.
func (m *memtable) ent(j uint32) *memEntry { return &m.ents[j>>entShift][j&(entChunk-1)] }

// add appends an entry and returns its number.
func (m *memtable) add(e memEntry) uint32 {
	j := m.n
	if int(j>>entShift) == len(m.ents) {
		m.ents = append(m.ents, make([]memEntry, 0, entChunk))
	}
	c := &m.ents[j>>entShift]
	*c = append(*c, e)
	m.n++
	return j
}

// lastSeq returns the newest checkpoint appended.
func (m *memtable) lastSeq() (uint64, bool) {
	if len(m.seqs) == 0 {
		return 0, false
	}
	return m.seqs[len(m.seqs)-1], true
}

// apply adds the writes of checkpoint seq (>= every seq applied before), in order.
func (m *memtable) apply(seq uint64, writes []ledger.Write) {
	var nk, nv int
	for i := range writes {
		nk += len(writes[i].Key)
		if !writes[i].Delete {
			nv += len(writes[i].Value)
		}
	}
	var sb strings.Builder
	sb.Grow(nk)
	for i := range writes {
		sb.Write(writes[i].Key)
	}
	keys := sb.String()
	var vals []byte
	if nv > 0 {
		vals = make([]byte, 0, nv)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lastSeq(); !ok || last != seq {
		m.seqs = append(m.seqs, seq)
		m.lastKeys = m.lastKeys[:0]
	}
	var delta int64
	ko := 0
	for i := range writes {
		if i%applyBatch == applyBatch-1 {
			// Let readers in: the versions of seq are invisible to them until the caller
			// publishes seq.
			m.mu.Unlock()
			m.mu.Lock()
		}
		w := &writes[i]
		k := keys[ko : ko+len(w.Key)]
		ko += len(w.Key)
		v := mver{seq: seq, del: w.Delete}
		if !w.Delete {
			s := len(vals)
			vals = append(vals, w.Value...)
			v.val = vals[s:len(vals):len(vals)]
		}
		j, ok := m.idx[k]
		if !ok {
			j = m.add(memEntry{key: k, last: v})
			m.idx[k] = j
			m.lastKeys = append(m.lastKeys, j)
			delta += int64(len(k) + len(v.val))
			continue
		}
		e := m.ent(j)
		if e.last.seq == seq {
			delta += int64(len(v.val) - len(e.last.val))
			e.last = v
			continue
		}
		e.prev = append(e.prev, e.last)
		e.last = v
		m.lastKeys = append(m.lastKeys, j)
		delta += int64(len(k) + len(v.val))
	}
	m.bytes.Add(delta)
}

// dropSeq removes the writes of checkpoint seq, which must be the newest. Only for a
// memtable no reader sees (a clone, or during Open).
func (m *memtable) dropSeq(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lastSeq(); !ok || last != seq {
		return
	}
	var delta int64
	for _, j := range m.lastKeys {
		e := m.ent(j)
		if e.last.seq != seq {
			continue
		}
		delta -= int64(len(e.key) + len(e.last.val))
		if len(e.prev) == 0 {
			delete(m.idx, e.key)
			e.last = mver{seq: deadSeq}
			continue
		}
		e.last = e.prev[len(e.prev)-1]
		e.prev = e.prev[:len(e.prev)-1]
	}
	m.bytes.Add(delta)
	m.seqs = m.seqs[:len(m.seqs)-1]
	m.lastKeys = m.lastKeys[:0]
	m.sorted = nil
}

// clone returns a deep copy sharing only the immutable key and value bytes.
func (m *memtable) clone() *memtable {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := &memtable{
		idx:      maps.Clone(m.idx),
		ents:     make([][]memEntry, len(m.ents)),
		n:        m.n,
		seqs:     slices.Clone(m.seqs),
		lastKeys: slices.Clone(m.lastKeys),
	}
	for i, chunk := range m.ents {
		c.ents[i] = append(make([]memEntry, 0, entChunk), chunk...)
		for j := range c.ents[i] {
			if e := &c.ents[i][j]; len(e.prev) > 0 {
				e.prev = slices.Clone(e.prev)
			}
		}
	}
	c.bytes.Store(m.bytes.Load())
	return c
}

// get returns the newest version of key with seq <= seq.
func (m *memtable) get(key []byte, seq uint64) (mver, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	j, ok := m.idx[string(key)]
	if !ok {
		return mver{}, false
	}
	return m.ent(j).at(seq)
}

// sortItem sorts entries by key, comparing a big-endian 8-byte prefix first.
type sortItem struct {
	pfx uint64
	key string
	i   uint32
}

func prefix64(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func prefix64s(k string) uint64 {
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func cmpSortItem(a, b sortItem) int {
	switch {
	case a.pfx < b.pfx:
		return -1
	case a.pfx > b.pfx:
		return 1
	}
	return strings.Compare(a.key, b.key)
}

func sortItems(items []sortItem) { slices.SortFunc(items, cmpSortItem) }

// liveEntries returns the live entries, to be sorted. Call with mu read-locked.
func (m *memtable) liveEntries() []sortItem {
	items := make([]sortItem, 0, len(m.idx))
	for c, chunk := range m.ents {
		for i := range chunk {
			if e := &chunk[i]; e.last.seq != deadSeq {
				items = append(items, sortItem{pfx: prefix64s(e.key), key: e.key, i: uint32(c<<entShift | i)})
			}
		}
	}
	return items
}

// memItem is a memtable entry of a scan.
type memItem struct {
	key string
	val []byte
	del bool
}

// scanItems returns, in key order, the version at seq of every key >= from with the prefix.
func (m *memtable) scanItems(from, prefix []byte, seq uint64) []memItem {
	m.sortMu.Lock()
	m.mu.RLock()
	var items []sortItem
	stale := len(m.sorted) != len(m.idx)
	if stale {
		items = m.liveEntries()
	}
	m.mu.RUnlock()
	if stale {
		// Keys are only added to a memtable readers see, so a sorted list is valid as long
		// as the count matches.
		sortItems(items)
		sorted := make([]uint32, len(items))
		for i, it := range items {
			sorted[i] = it.i
		}
		m.sorted = sorted
	}
	sorted := m.sorted
	m.sortMu.Unlock()

	var out []memItem
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(sorted, string(from), func(j uint32, k string) int {
		return strings.Compare(m.ent(j).key, k)
	})
	p := string(prefix)
	for ; i < len(sorted); i++ {
		e := m.ent(sorted[i])
		if !strings.HasPrefix(e.key, p) {
			break
		}
		if v, ok := e.at(seq); ok {
			out = append(out, memItem{key: e.key, val: v.val, del: v.del})
		}
	}
	return out
}

// memIter iterates memItems.
type memIter struct {
	items []memItem
	i     int
	key   []byte
	val   []byte
	del   bool
}

func (it *memIter) next() bool {
	if it.i >= len(it.items) {
		return false
	}
	e := &it.items[it.i]
	it.i++
	it.key = append(it.key[:0], e.key...)
	it.val, it.del = e.val, e.del
	return true
}

func (it *memIter) entry() ([]byte, []byte, bool) { return it.key, it.val, it.del }

func (it *memIter) error() error { return nil }
