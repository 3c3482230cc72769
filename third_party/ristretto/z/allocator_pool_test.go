// Jaminan patch (not in upstream ristretto): see third_party/README.md.

package z

import "testing"

// TestAllocatorPoolRetainBound checks the patched AllocatorPool: it keeps returned allocators
// for reuse only up to poolRetainMax bytes, releases the rest, and hands back what it kept.
func TestAllocatorPoolRetainBound(t *testing.T) {
	p := NewAllocatorPool(8)
	defer p.Release()

	const each = 12 << 20 // three fit under 32 MiB, the fourth would not
	var got []*Allocator
	for range 8 {
		got = append(got, p.Get(each, "test"))
	}
	for _, a := range got {
		p.Return(a)
	}
	if n := len(p.allocCh); n != poolRetainMax/(16<<20) {
		// NewAllocator rounds 12 MiB up to a 16 MiB buffer: two fit in 32 MiB.
		t.Fatalf("pool keeps %d allocators of 16 MiB, want %d", n, poolRetainMax/(16<<20))
	}
	if r := p.retained; r != int64(len(p.allocCh))*(16<<20) || r > poolRetainMax {
		t.Fatalf("retained %d bytes for %d allocators (bound %d)", r, len(p.allocCh), poolRetainMax)
	}

	// The kept allocators are reused and the count follows them out.
	a := p.Get(each, "test")
	if want := int64(len(p.allocCh)) * (16 << 20); p.retained != want {
		t.Fatalf("after a Get: retained %d, want %d", p.retained, want)
	}
	p.Return(a)

	// An allocator larger than the bound is never kept.
	big := NewAllocator(64<<20, "test")
	before := len(p.allocCh)
	p.Return(big)
	if len(p.allocCh) != before {
		t.Fatalf("a 64 MiB allocator was kept")
	}
	if p.retained > poolRetainMax {
		t.Fatalf("retained %d > %d", p.retained, poolRetainMax)
	}
}
