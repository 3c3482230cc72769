package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
	"github.com/jaminan/jaminan/store"
)

// maxPoolBlocks bounds the blocks a node holds that no applied checkpoint orders yet.
const maxPoolBlocks = 1 << 16

// final is a certified checkpoint the node knows but has not applied yet.
type final struct {
	cb   *ledger.CheckpointBody
	cert *ledger.Certificate
}

// chain is the node's view of the ledger for the network layer and the executor: the badger
// store for everything applied, plus, in memory, the blocks not yet ordered by an applied
// checkpoint and the certified checkpoints not yet applied. It implements p2p.Source, p2p.Sink
// (blocks and checkpoints), consensus.State and consensus.Blocks.
//
// The store only takes blocks together with the checkpoint that orders them, so the pool of
// unordered blocks lives here; the producer's own unordered blocks are also on disk (producer.go),
// other producers' blocks come back by sync after a restart.
type chain struct {
	g   *ledger.Genesis
	st  *store.Store
	log *slog.Logger

	// onBlock is told of every new block (a ministry node hands it to the orderer); onFinal of
	// every certified checkpoint not yet applied (the executor). Set by setHooks, under mu.
	onBlock func(*ledger.Block)
	onFinal func(*ledger.CheckpointBody, *ledger.Certificate)
	// onCommit is told of every applied checkpoint, after it is durable.
	onCommit func(*ledger.CheckpointBody, *ledger.Result, []*ledger.Block)
	// disk refuses commits while the disk is nearly full (the executor retries them).
	disk diskGuard
	// needBlocks asks the network for a missing block: by hash, then a sync round.
	needBlocks func(ledger.Hash)

	mu       sync.Mutex
	pool     map[ledger.Hash]*ledger.Block
	heights  map[ledger.KeyID]map[uint64]ledger.Hash
	finals   map[uint64]final               // certified, not yet applied
	certs    map[uint64]*ledger.Certificate // certificates of applied checkpoints not yet stored in order
	finalSeq uint64                         // highest seq with every certificate up to it known
	wake     chan struct{}                  // closed and replaced when a block or checkpoint arrives
	// twins are blocks a producer signed at a height where the pool already holds another
	// (equivocation). They are pooled by hash only, because a checkpoint may order either
	// block of a pair; the heights index keeps the first.
	twins map[ledger.KeyID]map[uint64][]ledger.Hash
}

func newChain(g *ledger.Genesis, st *store.Store, log *slog.Logger) (*chain, error) {
	c := &chain{g: g, st: st, log: log, pool: map[ledger.Hash]*ledger.Block{},
		heights: map[ledger.KeyID]map[uint64]ledger.Hash{}, twins: map[ledger.KeyID]map[uint64][]ledger.Hash{}, finals: map[uint64]final{},
		certs: map[uint64]*ledger.Certificate{}, wake: make(chan struct{})}
	meta, err := st.Meta()
	if err != nil {
		return nil, fmt.Errorf("read ledger position: %w", err)
	}
	// A ministry node may have applied checkpoints whose certificate it never stored (it stopped
	// first); the final sequence is the last one with a certificate.
	v := st.View()
	defer v.Release()
	for s := meta.Seq; s > v.Base(); s-- {
		if _, err := v.Certificate(s); err == nil {
			c.finalSeq = s
			break
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("read certificate %d: %w", s, err)
		}
	}
	if c.finalSeq == 0 {
		c.finalSeq = v.Base()
	}
	return c, nil
}

func (c *chain) broadcast() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// Final returns the highest final sequence and a channel closed at the next change.
func (c *chain) Final() (uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finalSeq, c.wake
}

// --- consensus.State ---

// Get implements ledger.StateReader over the last applied checkpoint.
func (c *chain) Get(key []byte) ([]byte, bool, error) { return c.st.Get(key) }

// Commit implements consensus.State: the checkpoint, its blocks, the result and the
// certificate when known go to the store in one atomic step.
func (c *chain) Commit(cb *ledger.CheckpointBody, res *ledger.Result) error {
	seq := cb.Checkpoint.Seq
	blocks := make([]*ledger.Block, len(cb.Blocks))
	c.mu.Lock()
	for i, h := range cb.Blocks {
		blocks[i] = c.pool[h]
	}
	cert := c.finals[seq].cert
	if cert == nil {
		cert = c.certs[seq]
	}
	c.mu.Unlock()
	for i, h := range cb.Blocks {
		if blocks[i] == nil {
			b, err := c.storedBlock(h)
			if err != nil {
				return fmt.Errorf("commit checkpoint %d: block %s: %w", seq, h.String()[:12], err)
			}
			blocks[i] = b
		}
	}
	if cert != nil && (cert.Checkpoint != res.Checkpoint || cert.StateRoot != res.StateRoot) {
		cert = nil // the executor raises the alarm; never store a certificate of another result
	}
	if err := c.disk.check(); err != nil {
		return fmt.Errorf("commit checkpoint %d: %w", seq, err)
	}
	if err := c.st.ApplyCheckpoint(cb, blocks, res, cert); err != nil {
		if isNoSpace(err) {
			return fmt.Errorf("commit checkpoint %d: %w: %w", seq, errNoSpace, err)
		}
		return fmt.Errorf("commit checkpoint %d: %w", seq, err)
	}
	c.mu.Lock()
	if cert == nil {
		// The certificate may have arrived while the checkpoint was being applied: a certified
		// copy from the peers (PutCheckpoint, which also moved finalSeq past seq) or a
		// certificate alone (Certified). Store it now; finals[seq] is deleted below, and
		// Certified ignores a sequence at or below finalSeq, so nothing else would.
		late := c.finals[seq].cert
		if late == nil {
			late = c.certs[seq]
		}
		if late != nil && late.Checkpoint == res.Checkpoint && late.StateRoot == res.StateRoot {
			if err := c.st.PutCertificate(late); err != nil {
				c.log.Warn("node: store certificate", "seq", seq, "err", err)
			} else {
				cert = late
			}
		}
	}
	for _, b := range blocks {
		h := b.Hash()
		delete(c.pool, h)
		if hs := c.heights[b.Header.Producer]; hs != nil {
			// Everything of this producer at or below an ordered height is settled.
			for ht := range hs {
				if ht <= b.Header.Height {
					delete(c.pool, hs[ht])
					delete(hs, ht)
				}
			}
		}
		if ts := c.twins[b.Header.Producer]; ts != nil {
			for ht, hashes := range ts {
				if ht <= b.Header.Height {
					for _, x := range hashes {
						delete(c.pool, x)
					}
					delete(ts, ht)
				}
			}
			if len(ts) == 0 {
				delete(c.twins, b.Header.Producer)
			}
		}
	}
	delete(c.finals, seq)
	if cert != nil {
		delete(c.certs, seq)
		if seq == c.finalSeq+1 {
			c.finalSeq = seq
		}
	}
	c.advanceLocked()
	c.broadcast()
	c.mu.Unlock()
	if c.onCommit != nil {
		c.onCommit(cb, res, blocks)
	}
	return nil
}

// advanceLocked stores certificates that arrived for applied checkpoints and moves finalSeq
// over them. c.mu is held.
func (c *chain) advanceLocked() {
	meta, err := c.st.Meta()
	if err != nil {
		return
	}
	for {
		next := c.finalSeq + 1
		cert, ok := c.certs[next]
		if !ok || next > meta.Seq {
			return
		}
		if err := c.st.PutCertificate(cert); err != nil {
			c.log.Warn("node: store certificate", "seq", next, "err", err)
			delete(c.certs, next)
			return
		}
		delete(c.certs, next)
		c.finalSeq = next
	}
}

// Certified records a certificate assembled or received for checkpoint cert.Seq.
func (c *chain) Certified(cert *ledger.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert.Seq <= c.finalSeq {
		return
	}
	c.certs[cert.Seq] = cert
	c.advanceLocked()
	c.broadcast()
}

// CheckpointAt implements consensus.State.
func (c *chain) CheckpointAt(seq uint64) (cp, root ledger.Hash, ok bool, err error) {
	v := c.st.View()
	defer v.Release()
	r, err := v.Result(seq)
	if errors.Is(err, store.ErrNotFound) {
		return cp, root, false, nil
	}
	if err != nil {
		return cp, root, false, fmt.Errorf("checkpoint %d: %w", seq, err)
	}
	if r == nil {
		return cp, root, false, nil
	}
	return r.Checkpoint, r.StateRoot, true, nil
}

// --- consensus.Blocks ---

// Block implements consensus.Blocks: it waits for the block, asking the network for it when it
// does not come by gossip.
func (c *chain) Block(ctx context.Context, h ledger.Hash) (*ledger.Block, error) {
	asked := time.Now()
	for {
		c.mu.Lock()
		b, wake := c.pool[h], c.wake
		c.mu.Unlock()
		if b != nil {
			return b, nil
		}
		if b, err := c.storedBlock(h); err == nil {
			return b, nil
		} else if !errors.Is(err, p2p.ErrNotFound) {
			return nil, err
		}
		if time.Since(asked) > time.Second && c.needBlocks != nil {
			asked = time.Now()
			go c.needBlocks(h)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for block %s: %w", h.String()[:12], ctx.Err())
		}
		t.Stop()
	}
}

func (c *chain) storedBlock(h ledger.Hash) (*ledger.Block, error) {
	v := c.st.View()
	defer v.Release()
	b, _, err := v.Block(h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("block %s: %w", h.String()[:12], p2p.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", h.String()[:12], err)
	}
	return b, nil
}

// --- p2p.Source ---

// FinalSeq implements p2p.Source.
func (c *chain) FinalSeq() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finalSeq, nil
}

// Checkpoint implements p2p.Source.
func (c *chain) Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	c.mu.Lock()
	f, ok := c.finals[seq]
	fs := c.finalSeq
	c.mu.Unlock()
	if ok {
		return f.cb, f.cert, nil
	}
	if seq == 0 || seq > fs {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, p2p.ErrNotFound)
	}
	v := c.st.View()
	defer v.Release()
	cb, err := v.Checkpoint(seq)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, notFound(err))
	}
	cert, err := v.Certificate(seq)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %d: %w", seq, notFound(err))
	}
	return cb, cert, nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", p2p.ErrNotFound, err)
	}
	return err
}

// Block implements p2p.Source (the method set of p2p.Source and consensus.Blocks differ in
// their signature, hence sourceAdapter).
func (c *chain) sourceBlock(h ledger.Hash) (*ledger.Block, error) {
	c.mu.Lock()
	b := c.pool[h]
	c.mu.Unlock()
	if b != nil {
		return b, nil
	}
	return c.storedBlock(h)
}

// blockAt returns the producer's block at height, from the pool or the store (nil if neither).
func (c *chain) blockAt(v *store.View, p ledger.KeyID, height uint64) (*ledger.Block, error) {
	c.mu.Lock()
	h, ok := c.heights[p][height]
	b := c.pool[h]
	c.mu.Unlock()
	if ok && b != nil {
		return b, nil
	}
	b, err := v.BlockAt(p, height)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// ProducerBlocks implements p2p.Source.
func (c *chain) ProducerBlocks(p ledger.KeyID, from, to uint64, limit int) ([]*ledger.Block, error) {
	v := c.st.View()
	defer v.Release()
	var out []*ledger.Block
	for h := from; h <= to && len(out) < limit && h > 0; h++ {
		b, err := c.blockAt(v, p, h)
		if err != nil {
			return nil, fmt.Errorf("producer %s block %d: %w", p.Short(), h, err)
		}
		if b == nil {
			break
		}
		out = append(out, b)
	}
	return out, nil
}

// Tip implements p2p.Source.
func (c *chain) Tip(p ledger.KeyID) (p2p.Tip, error) {
	v := c.st.View()
	defer v.Release()
	return c.tip(v, p)
}

func (c *chain) tip(v *store.View, p ledger.KeyID) (p2p.Tip, error) {
	t := p2p.Tip{Producer: p}
	height, hash, err := storedTip(v, p)
	switch {
	case err == nil:
		t.Height, t.Hash = height, hash
	case !errors.Is(err, store.ErrNotFound):
		return t, fmt.Errorf("tip of %s: %w", p.Short(), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		h, ok := c.heights[p][t.Height+1]
		if !ok {
			return t, nil
		}
		t.Height, t.Hash = t.Height+1, h
	}
}

// Tips implements p2p.Source.
func (c *chain) Tips() ([]p2p.Tip, error) {
	seen := map[ledger.KeyID]bool{}
	var producers []ledger.KeyID
	for _, m := range c.g.Members {
		if m.Role == ledger.RoleBureau || m.Role == ledger.RoleMinistry {
			seen[m.ID] = true
			producers = append(producers, m.ID)
		}
	}
	c.mu.Lock()
	for p := range c.heights {
		if !seen[p] {
			seen[p] = true
			producers = append(producers, p)
		}
	}
	c.mu.Unlock()
	v := c.st.View()
	defer v.Release()
	var out []p2p.Tip
	for _, p := range producers {
		t, err := c.tip(v, p)
		if err != nil {
			return nil, err
		}
		if t.Height > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// --- p2p.Sink ---

// PutBlock implements p2p.Sink.
func (c *chain) PutBlock(b *ledger.Block) error {
	h := b.Hash()
	p, height := b.Header.Producer, b.Header.Height
	v := c.st.View()
	defer v.Release()
	if _, _, err := v.Block(h); err == nil {
		return nil
	}
	c.mu.Lock()
	if _, ok := c.pool[h]; ok {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	held, err := c.blockAt(v, p, height)
	if err != nil {
		return fmt.Errorf("put block: %w", err)
	}
	if held != nil && held.Hash() != h {
		c.keepTwin(held, b)
		return &p2p.EquivocationError{Held: held, New: b}
	}
	if height > 1 {
		below, err := c.blockAt(v, p, height-1)
		if err != nil {
			return fmt.Errorf("put block: %w", err)
		}
		if below != nil && below.Hash() != b.Header.Prev {
			return fmt.Errorf("put block %s height %d: %w", p.Short(), height, p2p.ErrFork)
		}
	}
	if stored, _, err := storedTip(v, p); err == nil && stored >= height {
		return nil // settled below the ordered tip (a block rejected by the state machine)
	}
	c.mu.Lock()
	if len(c.pool) >= maxPoolBlocks {
		c.mu.Unlock()
		return fmt.Errorf("put block: pool full (%d blocks waiting to be ordered)", maxPoolBlocks)
	}
	c.pool[h] = b
	hs := c.heights[p]
	if hs == nil {
		hs = map[uint64]ledger.Hash{}
		c.heights[p] = hs
	}
	hs[height] = h
	c.broadcast()
	onBlock := c.onBlock
	c.mu.Unlock()
	if onBlock != nil {
		onBlock(b)
	}
	return nil
}

// PutOrderedBlock implements p2p.OrderedSink: b was fetched by hash because a checkpoint names
// it, and PutBlock refused it as a conflict with the branch of its producer's chain this node
// holds (an equivocating producer's other block, or a block built on it). The checkpoint's order
// is the authority, so b is pooled by hash, outside the heights index, for the executor; the
// state machine rejects it with a receipt if it does not follow the producer's applied tip. Seen
// without this: a rogue equivocated at height 1 and built height 2 on the block the leader held;
// the other ministry nodes refused height 2 as a fork and waited for it for ever, and finality
// stopped on every node.
func (c *chain) PutOrderedBlock(b *ledger.Block) error {
	h := b.Hash()
	v := c.st.View()
	defer v.Release()
	if _, _, err := v.Block(h); err == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool[h] != nil {
		return nil
	}
	if len(c.pool) >= maxPoolBlocks {
		return fmt.Errorf("put ordered block: pool full (%d blocks waiting to be ordered)", maxPoolBlocks)
	}
	c.pool[h] = b
	c.broadcast()
	return nil
}

// maxTwins bounds the twins kept per producer and height.
const maxTwins = 4

// keepTwin pools b, a block signed at the height of the unordered block held, by hash. The
// network saw the two in different orders (a producer that equivocates aims for such a split
// view), and whichever the ministry orders, every node must be able to apply it: without the
// twin, the nodes that first saw the other block waited for this one for ever. A twin is never
// the producer's block at its height (for validation and sync that stays the first), and goes
// when a checkpoint orders a block of the producer at or above its height.
func (c *chain) keepTwin(held, b *ledger.Block) {
	h, p, height := b.Hash(), b.Header.Producer, b.Header.Height
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pool[held.Hash()]; !ok || c.pool[h] != nil || len(c.pool) >= maxPoolBlocks {
		return // the held block is ordered already (a twin can no longer be), or no room
	}
	ts := c.twins[p]
	if ts == nil {
		ts = map[uint64][]ledger.Hash{}
		c.twins[p] = ts
	}
	if len(ts[height]) >= maxTwins {
		return
	}
	ts[height] = append(ts[height], h)
	c.pool[h] = b
	c.broadcast()
}

// PoolBlocks returns the unordered blocks held (for a ministry orderer that starts after them).
func (c *chain) PoolBlocks() []*ledger.Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*ledger.Block, 0, len(c.pool))
	for _, b := range c.pool {
		out = append(out, b)
	}
	return out
}

// PoolSize returns the number of unordered blocks held.
func (c *chain) PoolSize() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pool)
}

// PutCheckpoint implements p2p.Sink: a certified checkpoint from the network.
func (c *chain) PutCheckpoint(cb *ledger.CheckpointBody, cert *ledger.Certificate) error {
	seq := cb.Checkpoint.Seq
	meta, err := c.st.Meta()
	if err != nil {
		return fmt.Errorf("put checkpoint %d: %w", seq, err)
	}
	if seq <= meta.Seq {
		cp, _, ok, err := c.CheckpointAt(seq)
		if err != nil {
			return fmt.Errorf("put checkpoint %d: %w", seq, err)
		}
		if ok && cp != cb.Checkpoint.Hash() {
			return fmt.Errorf("put checkpoint %d: %w: another checkpoint is applied there", seq, store.ErrConflict)
		}
		c.Certified(cert)
		return nil
	}
	c.mu.Lock()
	if f, ok := c.finals[seq]; ok {
		c.mu.Unlock()
		if f.cb.Checkpoint.Hash() != cb.Checkpoint.Hash() {
			return fmt.Errorf("put checkpoint %d: %w: another certified checkpoint is held", seq, store.ErrConflict)
		}
		return nil
	}
	if seq != c.finalSeq+1 {
		fs := c.finalSeq
		c.mu.Unlock()
		return fmt.Errorf("put checkpoint %d after final %d: %w", seq, fs, p2p.ErrGap)
	}
	c.mu.Unlock()
	for _, h := range cb.Blocks {
		if _, err := c.sourceBlock(h); err != nil {
			return fmt.Errorf("put checkpoint %d: block %s: %w", seq, h.String()[:12], p2p.ErrGap)
		}
	}
	c.mu.Lock()
	if seq != c.finalSeq+1 {
		c.mu.Unlock()
		return nil // raced with another delivery of the same checkpoint
	}
	c.finals[seq] = final{cb: cb, cert: cert}
	c.finalSeq = seq
	c.broadcast()
	onFinal := c.onFinal
	c.mu.Unlock()
	if onFinal != nil {
		onFinal(cb, cert)
	}
	return nil
}

// setHooks sets onBlock and onFinal (nil leaves one as it is). Consensus starts after the
// network, whose sync and gossip may already hand blocks and certificates to the chain.
func (c *chain) setHooks(onBlock func(*ledger.Block), onFinal func(*ledger.CheckpointBody, *ledger.Certificate)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if onBlock != nil {
		c.onBlock = onBlock
	}
	if onFinal != nil {
		c.onFinal = onFinal
	}
}

// sourceAdapter gives p2p the Source method set (Block without a context).
type sourceAdapter struct{ *chain }

func (s sourceAdapter) Block(h ledger.Hash) (*ledger.Block, error) { return s.sourceBlock(h) }

// sinkAdapter gives p2p the Sink method set; votes go to the node's consensus.
type sinkAdapter struct {
	*chain
	vote func(p2p.VoteKind, *ledger.Vote) error
}

func (s sinkAdapter) PutVote(kind p2p.VoteKind, v *ledger.Vote) error {
	if s.vote == nil {
		return nil
	}
	return s.vote(kind, v)
}
