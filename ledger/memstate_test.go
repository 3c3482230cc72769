package ledger

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMemStateMatchesMap runs random writes, overwrites and deletes against a plain map, through
// table growth and chunk compaction, and compares every read, the key listing and the digest.
func TestMemStateMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s := NewMemState()
	ref := map[string][]byte{}
	compacted := false
	for round := range 40 {
		var ws []Write
		for range 2000 {
			k := fmt.Appendf(nil, "%c%d", "abcx"[r.IntN(4)], r.IntN(5000))
			if r.IntN(5) == 0 {
				ws = append(ws, Write{Key: k, Delete: true})
				continue
			}
			v := bytes.Repeat([]byte{byte(r.Uint32())}, r.IntN(600))
			ws = append(ws, Write{Key: k, Value: v})
		}
		before := s.dead
		s.Commit(ws)
		compacted = compacted || s.dead < before
		for _, w := range ws {
			if w.Delete {
				delete(ref, string(w.Key))
			} else {
				ref[string(w.Key)] = w.Value
			}
		}
		if s.Len() != len(ref) {
			t.Fatalf("round %d: Len %d, want %d", round, s.Len(), len(ref))
		}
		for range 500 {
			k := fmt.Appendf(nil, "%c%d", "abcx"[r.IntN(4)], r.IntN(5000))
			v, ok, _ := s.Get(k)
			want, wok := ref[string(k)]
			if ok != wok || !bytes.Equal(v, want) {
				t.Fatalf("round %d: Get(%s) = %x %v, want %x %v", round, k, v, ok, want, wok)
			}
		}
	}
	if !compacted {
		t.Fatal("the run never compacted: the test does not cover compaction")
	}
	keys := s.Keys([]byte("b"))
	var want [][]byte
	for _, k := range slices.Sorted(maps.Keys(ref)) {
		if k[0] == 'b' {
			want = append(want, []byte(k))
		}
	}
	if !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Fatalf("Keys(b): %d keys, want %d", len(keys), len(want))
	}
	d := NewStateDigest()
	for _, k := range slices.Sorted(maps.Keys(ref)) {
		d.Add([]byte(k), ref[k])
	}
	if s.Digest() != d.Sum() {
		t.Fatal("digest differs from the reference's")
	}
}

// TestMemStateCompacts: rewriting the same keys many times does not grow memory without bound,
// and values read before a compaction stay valid after it.
func TestMemStateCompacts(t *testing.T) {
	s := NewMemState()
	var early []byte
	for i := range 5000 {
		ws := make([]Write, 100)
		for j := range ws {
			v := make([]byte, 1000)
			v[0] = byte(i)
			ws[j] = Write{Key: fmt.Appendf(nil, "k%d", j), Value: v}
		}
		s.Commit(ws)
		if i == 10 {
			early, _, _ = s.Get([]byte("k7"))
		}
	}
	if s.total > 8*memChunk {
		t.Fatalf("%d bytes in chunks for 100 keys of 1 KB", s.total)
	}
	if got, _, _ := s.Get([]byte("k7")); len(got) != 1000 || got[0] != byte(4999%256) {
		t.Fatalf("k7 = %x…", got[:1])
	}
	if len(early) != 1000 || early[0] != 10 {
		t.Fatalf("a value read earlier changed: %x…", early[:1])
	}
}
