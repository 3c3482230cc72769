package consensus

import (
	"errors"
	"slices"
	"sync"

	"github.com/jaminan/jaminan/ledger"
)

// ErrPoolFull is returned by Submit when the proposer pool holds its maximum of references.
var ErrPoolFull = errors.New("block reference pool full")

// keepHeights is how many ordered heights per producer the pool remembers, to detect a second
// block signed at a height already ordered.
const keepHeights = 64

type pooled struct {
	ref Ref
	sh  SignedHeader
}

// pool holds the validated blocks a ministry node has seen and not yet seen ordered. Every node
// keeps one, so that a new leader can propose what the old one had not.
type pool struct {
	max int

	mu    sync.Mutex
	by    map[ledger.KeyID]map[uint64]pooled
	n     int
	start int // rotates the producer that is served first
}

func newPool(max int) *pool { return &pool{max: max, by: map[ledger.KeyID]map[uint64]pooled{}} }

// add records a block; it returns the earlier, different header signed at the same height, if
// any (a double block).
func (p *pool) add(b *ledger.Block, ordered uint64) (conflict *SignedHeader, err error) {
	h := b.Header
	if h.Height+keepHeights <= ordered {
		return nil, nil // too old to matter
	}
	hash := b.Hash()
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.by[h.Producer]
	if m == nil {
		m = map[uint64]pooled{}
		p.by[h.Producer] = m
	}
	if old, ok := m[h.Height]; ok {
		if old.ref.Hash != hash {
			c := old.sh
			return &c, nil
		}
		return nil, nil
	}
	if p.n >= p.max {
		return nil, ErrPoolFull
	}
	m[h.Height] = pooled{ref: Ref{Producer: h.Producer, Height: h.Height, Hash: hash}, sh: SignedHeader{Header: h, Sig: b.Sig}}
	p.n++
	return nil, nil
}

// next returns up to limit references that extend the ordered tips, each producer's heights
// contiguous from its tip; tip returns a producer's last ordered height.
func (p *pool) next(limit int, tip func(ledger.KeyID) uint64) []Ref {
	p.mu.Lock()
	defer p.mu.Unlock()
	producers := make([]ledger.KeyID, 0, len(p.by))
	for k := range p.by {
		producers = append(producers, k)
	}
	slices.Sort(producers)
	var out []Ref
	if len(producers) == 0 {
		return nil
	}
	p.start = (p.start + 1) % len(producers)
	for i := range producers {
		prod := producers[(p.start+i)%len(producers)]
		m := p.by[prod]
		for h := tip(prod) + 1; len(out) < limit; h++ {
			e, ok := m[h]
			if !ok {
				break
			}
			out = append(out, e.ref)
		}
		if len(out) >= limit {
			break
		}
	}
	return out
}

// prune forgets what is ordered, keeping keepHeights of headers for double-block detection.
func (p *pool) prune(tip func(ledger.KeyID) uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for prod, m := range p.by {
		t := tip(prod)
		for h := range m {
			if h+keepHeights <= t {
				delete(m, h)
				p.n--
			}
		}
		if len(m) == 0 {
			delete(p.by, prod)
		}
	}
}

// size returns the number of blocks held.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
