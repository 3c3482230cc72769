package p2p

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/jaminan/jaminan/ledger"
)

// maxPendingAhead bounds how far beyond a producer's contiguous tip MemorySource keeps blocks
// whose parents it does not have yet.
const maxPendingAhead = 4096

// maxMemoryVotes bounds the votes MemorySource keeps.
const maxMemoryVotes = 1 << 14

// MemorySource is a complete in-memory Source and Sink for tests and the devnet. It verifies
// everything it stores: blocks (signature, chain), checkpoints (body, chain from the genesis hash,
// certificate against the ministry set, blocks present). It is safe for concurrent use.
type MemorySource struct {
	network  string
	genesis  ledger.Hash
	ministry MinistryFunc

	mu     sync.RWMutex
	cps    []memCheckpoint // cps[i] is seq i+1
	blocks map[ledger.Hash]*ledger.Block
	chains map[ledger.KeyID]*memChain
	votes  map[voteKey]ledger.Vote
}

type memCheckpoint struct {
	body *ledger.CheckpointBody
	cert *ledger.Certificate
	hash ledger.Hash
}

// memChain is one producer's blocks by height; tip is the highest height held contiguously
// from 1, each linked to the one below by its previous hash.
type memChain struct {
	byHeight map[uint64]*ledger.Block
	tip      uint64
}

type voteKey struct {
	kind   VoteKind
	seq    uint64
	signer ledger.KeyID
}

// NewMemorySource returns an empty store for the network whose genesis hash is genesis;
// ministry gives the set that certifies each checkpoint.
func NewMemorySource(network string, genesis ledger.Hash, ministry MinistryFunc) *MemorySource {
	return &MemorySource{
		network: network, genesis: genesis, ministry: ministry,
		blocks: map[ledger.Hash]*ledger.Block{},
		chains: map[ledger.KeyID]*memChain{},
		votes:  map[voteKey]ledger.Vote{},
	}
}

var (
	_ Source = (*MemorySource)(nil)
	_ Sink   = (*MemorySource)(nil)
)

// FinalSeq implements Source.
func (m *MemorySource) FinalSeq() (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return uint64(len(m.cps)), nil
}

// Checkpoint implements Source.
func (m *MemorySource) Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if seq == 0 || seq > uint64(len(m.cps)) {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, ErrNotFound)
	}
	c := m.cps[seq-1]
	return c.body, c.cert, nil
}

// Block implements Source.
func (m *MemorySource) Block(h ledger.Hash) (*ledger.Block, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b, ok := m.blocks[h]
	if !ok {
		return nil, fmt.Errorf("block %s: %w", h, ErrNotFound)
	}
	return b, nil
}

// ProducerBlocks implements Source.
func (m *MemorySource) ProducerBlocks(p ledger.KeyID, from, to uint64, limit int) ([]*ledger.Block, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := m.chains[p]
	if c == nil || from == 0 {
		return nil, nil
	}
	var out []*ledger.Block
	for h := from; h <= to && len(out) < limit; h++ {
		b, ok := c.byHeight[h]
		if !ok {
			break
		}
		out = append(out, b)
		if h == ^uint64(0) {
			break
		}
	}
	return out, nil
}

// Tip implements Source.
func (m *MemorySource) Tip(p ledger.KeyID) (Tip, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.tipLocked(p), nil
}

func (m *MemorySource) tipLocked(p ledger.KeyID) Tip {
	c := m.chains[p]
	if c == nil || c.tip == 0 {
		return Tip{Producer: p}
	}
	return Tip{Producer: p, Height: c.tip, Hash: c.byHeight[c.tip].Hash()}
}

// Tips implements Source, in producer order.
func (m *MemorySource) Tips() ([]Tip, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Tip, 0, len(m.chains))
	for p, c := range m.chains {
		if c.tip > 0 {
			out = append(out, m.tipLocked(p))
		}
	}
	slices.SortFunc(out, func(a, b Tip) int { return bytes.Compare([]byte(a.Producer), []byte(b.Producer)) })
	return out, nil
}

// PutOrderedBlock implements OrderedSink: the block is kept by hash for the checkpoints that
// name it, outside the producer's chain.
func (m *MemorySource) PutOrderedBlock(b *ledger.Block) error {
	if err := b.Verify(m.network); err != nil {
		return fmt.Errorf("store ordered block: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blocks[b.Hash()]; !ok {
		m.blocks[b.Hash()] = b
	}
	return nil
}

// PutBlock implements Sink: it verifies the block and stores it; a block above the producer's
// tip waits (at most maxPendingAhead heights ahead) until the blocks below it arrive.
func (m *MemorySource) PutBlock(b *ledger.Block) error {
	if err := b.Verify(m.network); err != nil {
		return fmt.Errorf("store block: %w", err)
	}
	hash := b.Hash()
	h := &b.Header
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blocks[hash]; ok {
		return nil
	}
	c := m.chains[h.Producer]
	if c == nil {
		c = &memChain{byHeight: map[uint64]*ledger.Block{}}
		m.chains[h.Producer] = c
	}
	if held, ok := c.byHeight[h.Height]; ok {
		return fmt.Errorf("store block %s: %w", hash, &EquivocationError{Held: held, New: b})
	}
	switch {
	case h.Height == c.tip+1:
		if c.tip > 0 && c.byHeight[c.tip].Hash() != h.Prev {
			return fmt.Errorf("store block %s: %w: producer %s height %d does not follow %s", hash, ErrFork,
				h.Producer.Short(), h.Height, c.byHeight[c.tip].Hash())
		}
	case h.Height > c.tip+maxPendingAhead:
		return fmt.Errorf("store block %s: %w: height %d is beyond tip %d + %d", hash, ErrGap, h.Height, c.tip, maxPendingAhead)
	}
	if above, ok := c.byHeight[h.Height+1]; ok && above.Header.Prev != hash {
		return fmt.Errorf("store block %s: %w: the block held at height %d does not follow it", hash, ErrFork, h.Height+1)
	}
	c.byHeight[h.Height] = b
	m.blocks[hash] = b
	// Advance the tip over pending blocks that now link.
	for {
		next, ok := c.byHeight[c.tip+1]
		if !ok {
			break
		}
		if c.tip > 0 && next.Header.Prev != c.byHeight[c.tip].Hash() {
			break
		}
		c.tip++
	}
	return nil
}

// PutCheckpoint implements Sink: the checkpoint must follow the latest one (or be it again),
// chain to it, carry a certificate of the ministry set in force, and reference only blocks held.
func (m *MemorySource) PutCheckpoint(cb *ledger.CheckpointBody, cert *ledger.Certificate) error {
	seq := cb.Checkpoint.Seq
	if err := cb.Verify(m.network); err != nil {
		return fmt.Errorf("store checkpoint %d: %w", seq, err)
	}
	hash := cb.Checkpoint.Hash()
	if cert.Seq != seq || cert.Checkpoint != hash {
		return fmt.Errorf("store checkpoint %d: %w: certificate is for %d %s", seq, ledger.ErrCheckpoint, cert.Seq, cert.Checkpoint)
	}
	ministry, err := m.ministry(seq)
	if err != nil {
		return fmt.Errorf("store checkpoint %d: ministry set: %w", seq, err)
	}
	if err := cert.Verify(m.network, ministry); err != nil {
		return fmt.Errorf("store checkpoint %d: %w", seq, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	final := uint64(len(m.cps))
	if seq <= final {
		if m.cps[seq-1].hash != hash {
			return fmt.Errorf("store checkpoint %d: %w: conflicts with final %s", seq, ledger.ErrCheckpoint, m.cps[seq-1].hash)
		}
		return nil
	}
	if seq != final+1 {
		return fmt.Errorf("store checkpoint %d: %w: latest final is %d", seq, ErrGap, final)
	}
	prev, prevTime := m.genesis, uint64(0)
	if final > 0 {
		prev, prevTime = m.cps[final-1].hash, m.cps[final-1].body.Checkpoint.Time
	}
	if cb.Checkpoint.Prev != prev {
		return fmt.Errorf("store checkpoint %d: %w: previous %s, want %s", seq, ledger.ErrCheckpoint, cb.Checkpoint.Prev, prev)
	}
	if cb.Checkpoint.Time < prevTime {
		return fmt.Errorf("store checkpoint %d: %w: time goes back", seq, ledger.ErrCheckpoint)
	}
	for _, h := range cb.Blocks {
		if _, ok := m.blocks[h]; !ok {
			return fmt.Errorf("store checkpoint %d: %w: block %s not held", seq, ErrGap, h)
		}
	}
	m.cps = append(m.cps, memCheckpoint{body: cb, cert: cert, hash: hash})
	return nil
}

// PutVote implements Sink: it keeps the vote (the newest maxMemoryVotes).
func (m *MemorySource) PutVote(kind VoteKind, v *ledger.Vote) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.votes) >= maxMemoryVotes {
		var oldest uint64 = ^uint64(0)
		for k := range m.votes {
			oldest = min(oldest, k.seq)
		}
		for k := range m.votes {
			if k.seq == oldest {
				delete(m.votes, k)
			}
		}
	}
	m.votes[voteKey{kind: kind, seq: v.Seq, signer: v.Sig.Signer}] = *v
	return nil
}

// Votes returns the votes of a kind held for seq, in signer order.
func (m *MemorySource) Votes(kind VoteKind, seq uint64) []ledger.Vote {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []ledger.Vote
	for k, v := range m.votes {
		if k.kind == kind && k.seq == seq {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b ledger.Vote) int { return bytes.Compare([]byte(a.Sig.Signer), []byte(b.Sig.Signer)) })
	return out
}

// BlockCount returns how many blocks are held.
func (m *MemorySource) BlockCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.blocks)
}

// HasBlock reports whether the block is held.
func (m *MemorySource) HasBlock(h ledger.Hash) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blocks[h]
	return ok
}
