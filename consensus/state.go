package consensus

import (
	"context"
	"fmt"
	"sync"

	"github.com/jaminan/jaminan/ledger"
)

// State is the ledger state an executor applies checkpoints to. The node backs it with the badger
// store; MemState serves tests and the devnet.
type State interface {
	ledger.StateReader
	// Commit stores the result of applying checkpoint cb atomically: res.Writes (which move the
	// ledger meta to cb's sequence), and the bookkeeping that CheckpointAt returns.
	Commit(cb *ledger.CheckpointBody, res *ledger.Result) error
	// CheckpointAt returns the checkpoint hash and state root applied at seq, if the state still
	// knows them.
	CheckpointAt(seq uint64) (cp, root ledger.Hash, ok bool, err error)
}

// Blocks gives the executor the blocks a checkpoint lists. The node backs it with the store and
// the p2p block sync.
type Blocks interface {
	// Block returns the block with hash h, waiting for it (and asking peers for it) until it is
	// available or ctx ends.
	Block(ctx context.Context, h ledger.Hash) (*ledger.Block, error)
}

// MemState is a State in memory over ledger.MemState, safe for concurrent use.
type MemState struct {
	mu    sync.RWMutex
	st    *ledger.MemState
	cps   map[uint64][2]ledger.Hash
	first uint64
}

// NewMemState returns the genesis state of g.
func NewMemState(g *ledger.Genesis) *MemState {
	st := ledger.NewMemState()
	st.Commit(ledger.GenesisWrites(g))
	return &MemState{st: st, cps: map[uint64][2]ledger.Hash{}}
}

// Get implements ledger.StateReader.
func (s *MemState) Get(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.Get(key)
}

// Commit implements State.
func (s *MemState) Commit(cb *ledger.CheckpointBody, res *ledger.Result) error {
	if res.Seq != cb.Checkpoint.Seq {
		return fmt.Errorf("commit checkpoint %d: result is for %d", cb.Checkpoint.Seq, res.Seq)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Commit(res.Writes)
	s.cps[res.Seq] = [2]ledger.Hash{res.Checkpoint, res.StateRoot}
	return nil
}

// CheckpointAt implements State.
func (s *MemState) CheckpointAt(seq uint64) (cp, root ledger.Hash, ok bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.cps[seq]
	return v[0], v[1], ok, nil
}

// Meta returns the ledger meta (the last applied checkpoint).
func (s *MemState) Meta() ledger.Meta {
	m, err := ledger.ReadMeta(s)
	if err != nil {
		panic(fmt.Sprintf("consensus: mem state without meta: %v", err)) // NewMemState writes it
	}
	return m
}

// Digest returns the full-state digest.
func (s *MemState) Digest() ledger.Hash {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.Digest()
}

// MemBlocks is a Blocks in memory: Put makes a block available and wakes waiters.
type MemBlocks struct {
	mu     sync.Mutex
	blocks map[ledger.Hash]*ledger.Block
	wake   chan struct{}
}

// NewMemBlocks returns an empty block set.
func NewMemBlocks() *MemBlocks {
	return &MemBlocks{blocks: map[ledger.Hash]*ledger.Block{}, wake: make(chan struct{})}
}

// Put adds blocks.
func (m *MemBlocks) Put(bs ...*ledger.Block) {
	m.mu.Lock()
	for _, b := range bs {
		m.blocks[b.Hash()] = b
	}
	close(m.wake)
	m.wake = make(chan struct{})
	m.mu.Unlock()
}

// Has reports whether the block is present.
func (m *MemBlocks) Has(h ledger.Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks[h] != nil
}

// Block implements Blocks.
func (m *MemBlocks) Block(ctx context.Context, h ledger.Hash) (*ledger.Block, error) {
	for {
		m.mu.Lock()
		b, wake := m.blocks[h], m.wake
		m.mu.Unlock()
		if b != nil {
			return b, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for block %s: %w", h.String()[:12], ctx.Err())
		}
	}
}
