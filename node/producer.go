package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/internal/durable"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store"
)

// ownBlock is a block this node produced that no applied checkpoint orders yet.
type ownBlock struct {
	b      *ledger.Block
	maxSeq uint64 // the highest outbox sequence number it consumed
	at     time.Time
}

// producer turns acknowledged records into the node's signed blocks. A record is acknowledged
// once the outbox has it on disk; the producer cuts blocks from the outbox by size and time,
// writes each block to its own file before it marks the outbox, then hands it to the chain (and
// the orderer) and gossips it. After a crash, the outbox offers again what it offered since the
// last mark, and the block files bring back the unordered blocks: records already in one of
// them, or already applied, are skipped by ID, so replay never puts a record in two blocks.
type producer struct {
	signer   *ledger.Signer
	network  string
	outbox   *store.Outbox
	chain    *chain
	dir      string
	publish  func(context.Context, *ledger.Block) error
	log      *slog.Logger
	interval time.Duration
	maxRecs  int
	// syncNow runs a sync round with the peers; the producer waits for one before its first
	// block, so that it knows its own chain as the network holds it (nil: no network).
	syncNow func(context.Context) error
	synced  bool // run's goroutine only
	// maxPending bounds the acknowledged records not yet applied (0: no bound); beyond it
	// Submit refuses with api.ErrUnavailable (back-pressure).
	maxPending int
	// maxWait bounds the wait a new record can expect before it is final, from the records
	// pending and the rate the network applied this bureau's records lately (0: no bound);
	// below waitFloor pending records it never refuses (a network that has applied nothing
	// lately, such as one just started, has no rate yet).
	maxWait   time.Duration
	waitFloor int
	clock     func() time.Time
	onBlock   func(records int)
	onPublish func(error)
	// crashAfterFile, in tests, makes cut stop after writing a block file, before marking the
	// outbox: the state a crash at that moment leaves.
	crashAfterFile atomic.Bool

	mu       sync.Mutex
	tip      *ledger.BlockHeader
	after    uint64                 // outbox sequence consumed up to
	own      map[uint64]ownBlock    // by height
	inflight map[ledger.Hash]uint64 // record ID → height of the own unordered block carrying it
	pending  map[ledger.Hash]bool   // acknowledged, not yet in an applied checkpoint
	drain    drainRate              // how fast pending records are applied

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// errBusy marks a submission refused by back-pressure (max_pending_records).
var errBusy = errors.New("busy")

// maxBlockBytes keeps a block well inside ledger.MaxBlockSize (headers, encoding overhead).
const maxBlockBytes = ledger.MaxBlockSize * 3 / 4

func openProducer(p *producer) error {
	p.own, p.inflight, p.pending = map[uint64]ownBlock{}, map[ledger.Hash]uint64{}, map[ledger.Hash]bool{}
	p.kick, p.done = make(chan struct{}, 1), make(chan struct{})
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	v := p.chain.st.View()
	defer v.Release()
	if b, err := v.LatestBlock(p.signer.ID()); err == nil {
		h := b.Header
		p.tip = &h
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("producer: read own tip: %w", err)
	}
	p.after = p.outbox.Blocked()
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	var restored []ownBlock
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".blk") {
			if strings.HasSuffix(name, ".tmp") {
				_ = os.Remove(filepath.Join(p.dir, name))
			}
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".blk"), "-")
		if len(parts) != 2 {
			continue
		}
		maxSeq, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(p.dir, name))
		if err != nil {
			return fmt.Errorf("producer: read %s: %w", name, err)
		}
		b, err := ledger.DecodeBlock(raw)
		if err != nil || b.Header.Producer != p.signer.ID() {
			return fmt.Errorf("producer: block file %s is damaged: %v", name, err)
		}
		if p.tip != nil && b.Header.Height <= p.tip.Height {
			_ = os.Remove(filepath.Join(p.dir, name)) // ordered and applied since
			continue
		}
		restored = append(restored, ownBlock{b: b, maxSeq: maxSeq, at: time.Now()})
	}
	slices.SortFunc(restored, func(a, b ownBlock) int { return int(a.b.Header.Height) - int(b.b.Header.Height) })
	for i, ob := range restored {
		want := uint64(1)
		if p.tip != nil {
			want = p.tip.Height + 1
		}
		// The first file may be above the ledger's own tip when the ledger is behind its own
		// history (restored from an older copy, or lost: OPERATING.md §6); the sync fills the gap.
		// Files must link to each other, and the first to the ledger's tip when it is right above.
		gap := i == 0 && ob.b.Header.Height > want
		if !gap && (ob.b.Header.Height != want || (p.tip != nil && ob.b.Header.Prev != p.tip.Hash())) {
			return fmt.Errorf("producer: block file of height %d does not follow height %d", ob.b.Header.Height, want-1)
		}
		h := ob.b.Header
		p.tip = &h
		p.own[h.Height] = ob
		p.after = max(p.after, ob.maxSeq)
		for _, raw := range ob.b.Records {
			id := recordID(raw)
			p.inflight[id] = h.Height
			p.pending[id] = true
		}
		if err := p.chain.PutBlock(ob.b); err != nil {
			return fmt.Errorf("producer: restore block %d: %w", h.Height, err)
		}
	}
	// Records acknowledged but not yet blocked are pending too (for GET /v1/records/{id}).
	for after := p.after; ; {
		ents, err := p.outbox.Pending(after, 4096)
		if err != nil {
			return fmt.Errorf("producer: read outbox: %w", err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			rec, _, err := ledger.DecodeRecord(e.Record)
			if err == nil {
				p.pending[rec.ID()] = true
			}
			after = e.Seq
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
	return nil
}

// Submit makes records durable in the outbox (api.Backend.Submit).
func (p *producer) Submit(ctx context.Context, recs []ledger.Record) ([]api.SubmitResult, error) {
	if err := p.admit(len(recs)); err != nil {
		return nil, err
	}
	out := make([]api.SubmitResult, len(recs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(1024) // concurrent appends share one fsync (group commit)
	for i := range recs {
		enc := recs[i].Encode()
		id := recs[i].ID()
		out[i].ID = id
		if len(enc) > ledger.MaxRecordSize {
			out[i].Code, out[i].Message = ledger.CodeFormat, fmt.Sprintf("record of %d bytes exceeds %d", len(enc), ledger.MaxRecordSize)
			continue
		}
		p.mu.Lock()
		dup := p.pending[id]
		p.pending[id] = true
		p.mu.Unlock()
		if dup {
			continue // acknowledged before: it is on its way
		}
		g.Go(func() error {
			if _, err := p.outbox.Append(gctx, enc); err != nil {
				p.mu.Lock()
				delete(p.pending, id)
				p.mu.Unlock()
				if errors.Is(err, store.ErrOutboxClosed) {
					return fmt.Errorf("submit: %w: %w", api.ErrUnavailable, err)
				}
				return fmt.Errorf("submit: append to outbox: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return out, nil
}

// Pending reports whether a record was acknowledged and is not yet applied.
func (p *producer) Pending(id ledger.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[id]
}

// admit refuses a batch of n records with errBusy when the bureau holds too many acknowledged
// records not yet final: more than max_pending_records, or more than the network, at the rate it
// applied this bureau's records over the last drainWindow, would make final within
// max_pending_wait. The second keeps the acknowledgement honest: a record taken is a record the
// bureau can expect to see final soon, not one at the end of minutes of backlog.
func (p *producer) admit(n int) error {
	if p.maxPending <= 0 && p.maxWait <= 0 {
		return nil
	}
	now := p.clock()
	p.mu.Lock()
	pending := len(p.pending)
	rate := p.drain.perSecond(now)
	allowed := p.drain.pendingAllowed(now, p.maxWait, p.waitFloor)
	p.mu.Unlock()
	if p.maxPending > 0 && pending+n > p.maxPending {
		return fmt.Errorf("submit: %w: %w: %d records acknowledged and not yet final, the limit is %d (max_pending_records)",
			api.ErrUnavailable, errBusy, pending, p.maxPending)
	}
	// With nothing pending a batch of any size is taken: its wait is its own, and a bureau that
	// refused it would never see a rate to take it at.
	if p.maxWait > 0 && pending > 0 && pending+n > allowed {
		return fmt.Errorf("submit: %w: %w: %d records acknowledged and not yet final; at the %.0f records/s the network applied of this bureau's over the last %v, more would wait longer than %v to become final (max_pending_wait)",
			api.ErrUnavailable, errBusy, pending, rate, drainWindow, p.maxWait)
	}
	return nil
}

// PendingCount returns the number of acknowledged records not yet applied.
func (p *producer) PendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// committed settles the records and own blocks of an applied checkpoint.
func (p *producer) committed(res *ledger.Result, blocks []*ledger.Block) {
	var prune uint64
	var remove []string
	now := p.clock()
	p.mu.Lock()
	settled := 0
	for _, r := range res.Receipts {
		if p.pending[r.ID] {
			delete(p.pending, r.ID)
			settled++
		}
		delete(p.inflight, r.ID)
	}
	p.drain.add(now, settled)
	for _, b := range blocks {
		if b.Header.Producer != p.signer.ID() {
			continue
		}
		for ht, ob := range p.own {
			if ht <= b.Header.Height {
				prune = max(prune, ob.maxSeq)
				remove = append(remove, p.fileName(ht, ob.maxSeq))
				delete(p.own, ht)
			}
		}
	}
	p.mu.Unlock()
	for _, f := range remove {
		_ = os.Remove(f)
	}
	if prune > 0 {
		if _, err := p.outbox.Prune(min(prune, p.outbox.Blocked())); err != nil {
			p.log.Warn("node: prune outbox", "err", err)
		}
	}
}

func (p *producer) fileName(height, maxSeq uint64) string {
	return filepath.Join(p.dir, fmt.Sprintf("%020d-%020d.blk", height, maxSeq))
}

func (p *producer) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	republish := time.NewTicker(3 * time.Second)
	defer republish.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
			// A submission: cut at once only if a full block is waiting; else at the tick.
			if p.waiting() < p.maxRecs {
				continue
			}
		case <-republish.C:
			p.republish(ctx)
			continue
		}
		for ctx.Err() == nil {
			n, err := p.cut(ctx)
			if err != nil {
				p.log.Error("node: cut block", "err", err)
				break
			}
			if n < p.maxRecs {
				break
			}
		}
	}
}

func (p *producer) waiting() int {
	return int(p.outbox.LastSeq() - min(p.outbox.LastSeq(), p.after))
}

// cut builds, stores and publishes one block from the outbox; it returns how many records the
// block carries.
func (p *producer) cut(ctx context.Context) (int, error) {
	p.mu.Lock()
	after := p.after
	p.mu.Unlock()
	ents, err := p.outbox.Pending(after, p.maxRecs*2)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(ents) == 0 {
		return 0, nil
	}
	v := p.chain.st.View()
	defer v.Release()
	var recs [][]byte
	var ids []ledger.Hash
	size, upTo := 0, after
	seen := map[ledger.Hash]bool{}
	for _, e := range ents {
		if len(recs) == p.maxRecs || size+len(e.Record)+16 > maxBlockBytes {
			break
		}
		upTo = e.Seq
		id := recordID(e.Record)
		p.mu.Lock()
		_, carried := p.inflight[id]
		p.mu.Unlock()
		if carried || seen[id] {
			continue // replayed after a crash, or submitted twice
		}
		if _, err := v.Location(id); err == nil {
			p.mu.Lock()
			delete(p.pending, id)
			p.mu.Unlock()
			continue // applied already
		}
		seen[id] = true
		recs = append(recs, e.Record)
		ids = append(ids, id)
		size += len(e.Record) + 16
	}
	if len(recs) > 0 {
		if err := p.followOwnChain(ctx); err != nil {
			return 0, err
		}
	}
	if len(recs) == 0 {
		if err := p.outbox.MarkBlocked(upTo); err != nil {
			return 0, fmt.Errorf("mark outbox: %w", err)
		}
		p.mu.Lock()
		p.after = upTo
		p.mu.Unlock()
		return 0, nil
	}
	p.mu.Lock()
	tip := p.tip
	p.mu.Unlock()
	now := uint64(p.clock().UnixMilli())
	if tip != nil {
		now = max(now, tip.Time)
	}
	b, err := ledger.BuildBlock(p.signer, p.network, tip, now, recs)
	if err != nil {
		return 0, fmt.Errorf("build block: %w", err)
	}
	if err := durable.WriteFile(p.fileName(b.Header.Height, upTo), b.Encode(), 0o600); err != nil {
		return 0, fmt.Errorf("store block %d: %w", b.Header.Height, err)
	}
	if p.crashAfterFile.Load() {
		return 0, errTestCrash
	}
	// The block is durable: the outbox may forget its records (a crash before this line makes
	// the outbox offer them again, and the block file makes the cutter skip them).
	if err := p.outbox.MarkBlocked(upTo); err != nil {
		return 0, fmt.Errorf("mark outbox: %w", err)
	}
	h := b.Header
	p.mu.Lock()
	p.tip, p.after = &h, upTo
	p.own[h.Height] = ownBlock{b: b, maxSeq: upTo, at: time.Now()}
	for _, id := range ids {
		p.inflight[id] = h.Height
	}
	p.mu.Unlock()
	if err := p.chain.PutBlock(b); err != nil {
		return 0, fmt.Errorf("hold own block %d: %w", h.Height, err)
	}
	if p.onBlock != nil {
		p.onBlock(len(recs))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = p.publish(pctx, b)
	cancel()
	if p.onPublish != nil {
		p.onPublish(err)
	}
	if err != nil {
		p.log.Warn("node: publish block (peers will sync it)", "height", h.Height, "err", err)
	}
	return len(recs), nil
}

// followOwnChain makes sure the next block extends the producer's chain as the network holds
// it. Before the first block it waits (bounded) for a sync round. If the node then knows own
// blocks above the producer's tip, the ledger was behind the producer's own history (lost or
// restored from an older copy, with the key, outbox and produced/ kept): the producer continues
// after them. Their records left the outbox when they were cut, so none is carried twice. Without
// this the producer cut from height 1 again and every peer refused its blocks as equivocations.
func (p *producer) followOwnChain(ctx context.Context) error {
	if !p.synced && p.syncNow != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := p.syncNow(sctx); err != nil {
			p.log.Info("node: sync before the first block", "err", err)
		}
		cancel()
	}
	p.synced = true
	v := p.chain.st.View() // after the sync: what it applied is in this view
	defer v.Release()
	t, err := p.chain.tip(v, p.signer.ID())
	if err != nil {
		return fmt.Errorf("read own chain: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tip != nil && t.Height <= p.tip.Height {
		return nil
	}
	if t.Height == 0 {
		return nil
	}
	b, err := p.chain.blockAt(v, p.signer.ID(), t.Height)
	if err != nil {
		return fmt.Errorf("read own block %d: %w", t.Height, err)
	}
	if b == nil || b.Hash() != t.Hash {
		return fmt.Errorf("read own block %d: not the block the chain's tip names", t.Height)
	}
	from := uint64(0)
	if p.tip != nil {
		from = p.tip.Height
	}
	p.log.Warn("node: the network holds own blocks above the local tip; continuing after them (ledger lost or restored?)",
		"local_tip", from, "network_tip", t.Height)
	h := b.Header
	p.tip = &h
	return nil
}

// republish gossips own blocks that are still unordered a while after they were cut: gossip
// may have had no peers then. Peers also fetch them by sync; this is the fast path.
func (p *producer) republish(ctx context.Context) {
	p.mu.Lock()
	var old []*ledger.Block
	for _, ob := range p.own {
		if time.Since(ob.at) > 3*time.Second {
			old = append(old, ob.b)
		}
	}
	p.mu.Unlock()
	slices.SortFunc(old, func(a, b *ledger.Block) int { return int(a.Header.Height) - int(b.Header.Height) })
	for _, b := range old {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = p.publish(pctx, b)
		cancel()
	}
}

// Close stops the cutter; records still in the outbox are cut after the next start.
func (p *producer) Close() {
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
	})
}

var errTestCrash = errors.New("test crash after the block file")

// recordID returns the ID of an encoded record (the node only carries records it decoded).
func recordID(raw []byte) ledger.Hash {
	id, err := ledger.RecordIDOf(raw)
	if err != nil {
		return ledger.Hash(sha256.Sum256(raw))
	}
	return id
}
