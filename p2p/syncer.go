package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// Health is the node's sync health state.
type Health string

// Health states.
const (
	HealthOK      Health = "ok"
	HealthSyncing Health = "syncing"
)

// statusConcurrency bounds the status requests of one anti-entropy round in flight.
const statusConcurrency = 8

// syncer drives the sync client: a round runs when a gap is reported (a block or vote beyond
// what the node holds), when a peer connects, when gossip dropped something, and every
// AntiEntropy period. Rounds run one at a time in the syncer's goroutine. Every round resumes
// from what the node holds, so an interrupted round loses nothing.
type syncer struct {
	n    *Node
	kick chan bool // true: a full round (status of every peer first)
	runs chan chan error

	mu        sync.Mutex
	wantFinal uint64
	finalHint peer.ID
	wantTips  map[ledger.KeyID]want

	best    atomic.Uint64 // best final seq known from peers
	delayed atomic.Bool   // a delayed round is scheduled

	// joining is set while the node may still join from a snapshot (Config.FastJoinLag): it
	// holds no final checkpoint and has not decided yet. Rounds then sync nothing else.
	joining   atomic.Bool
	joinTries int       // failed join rounds (the syncer's goroutine only)
	joinFirst time.Time // when the first of them failed
}

// maxJoinTries is how many full rounds a node that wants to join from a snapshot tries before
// it gives up and replays the history: rounds where no peer answered, none offered a snapshot,
// or every offered snapshot failed. It gives up only once an AntiEntropy period has passed
// since the first failure too: the rounds that connections trigger at start come in a burst,
// each seeing the few peers connected so far, maybe none that holds a snapshot.
const maxJoinTries = 3

type want struct {
	height uint64
	hint   peer.ID
}

// maxWants bounds the producer gaps remembered between rounds (producers are members, so
// this is only a guard).
const maxWants = 4096

func newSyncer(n *Node) *syncer {
	return &syncer{n: n, kick: make(chan bool, 1), runs: make(chan chan error), wantTips: map[ledger.KeyID]want{}}
}

// trigger schedules a round without blocking; a full round absorbs a partial one.
func (s *syncer) trigger(full bool) {
	for {
		select {
		case s.kick <- full:
			return
		default:
		}
		select {
		case prev := <-s.kick:
			full = full || prev
		default:
		}
	}
}

// gapDelay is how long a small gap (a block a little ahead of its parents) may stay open
// before it is synced: long enough for parents overtaken in validation to arrive by gossip.
const gapDelay = 2 * time.Second

// gapBlocks records that the node lacks producer's blocks up to height and schedules a round:
// at once, or after gapDelay.
func (s *syncer) gapBlocks(producer ledger.KeyID, height uint64, from peer.ID, now bool) {
	s.mu.Lock()
	w, ok := s.wantTips[producer]
	if (ok || len(s.wantTips) < maxWants) && height > w.height {
		s.wantTips[producer] = want{height: height, hint: from}
	}
	s.mu.Unlock()
	if now {
		s.trigger(false)
		return
	}
	if s.delayed.CompareAndSwap(false, true) {
		time.AfterFunc(gapDelay, func() {
			s.delayed.Store(false)
			s.trigger(false)
		})
	}
}

// gapFinal records that checkpoints up to seq may be final somewhere.
func (s *syncer) gapFinal(seq uint64, from peer.ID) {
	s.mu.Lock()
	if seq > s.wantFinal {
		s.wantFinal, s.finalHint = seq, from
	}
	s.mu.Unlock()
	s.trigger(false)
}

// run is the syncer's goroutine.
func (s *syncer) run(ctx context.Context) {
	defer s.n.wg.Done()
	t := time.NewTicker(s.n.cfg.AntiEntropy)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case full := <-s.kick:
			err = s.round(ctx, full)
		case <-t.C:
			err = s.round(ctx, true)
		case done := <-s.runs:
			err = s.round(ctx, true)
			done <- err
		}
		if err != nil && ctx.Err() == nil {
			s.n.log.Info("sync round", "err", err)
		}
	}
}

// runNow runs a full round in the syncer's goroutine and waits for it.
func (s *syncer) runNow(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.runs <- done:
	case <-ctx.Done():
		return fmt.Errorf("sync now: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sync now: %w", ctx.Err())
	}
}

// peers returns the connected peers that may serve sync, in random order.
func (s *syncer) peers() []peer.ID {
	n := s.n
	var out []peer.ID
	now := time.Now()
	for _, p := range n.host.Network().Peers() {
		if n.members.Allowed(p) && !n.pen.banned(p, now) && n.host.Network().Connectedness(p) == network.Connected {
			out = append(out, p)
		}
	}
	return out
}

// round runs one sync round: statuses (full rounds), then checkpoints, then producer chains.
func (s *syncer) round(ctx context.Context, full bool) error {
	peers := s.peers()
	if len(peers) == 0 {
		return nil
	}
	statuses := map[peer.ID]Status{}
	if full {
		statuses = s.statuses(ctx, peers)
		var best uint64
		for _, st := range statuses {
			best = max(best, st.FinalSeq)
		}
		s.best.Store(best)
		s.mu.Lock()
		s.wantFinal = max(s.wantFinal, best)
		for p, st := range statuses {
			for _, t := range st.Tips {
				if role, ok := s.n.members.Role(peer.ID(t.Producer)); !ok || (role != ledger.RoleBureau && role != ledger.RoleMinistry) {
					continue
				}
				if w, ok := s.wantTips[t.Producer]; (ok || len(s.wantTips) < maxWants) && t.Height > w.height {
					s.wantTips[t.Producer] = want{height: t.Height, hint: p}
				}
			}
		}
		s.mu.Unlock()
	}
	if s.joining.Load() {
		if !full {
			return nil // a full round decides first
		}
		if done, err := s.join(ctx, peers, statuses); !done {
			return err
		}
	}
	s.mu.Lock()
	wantFinal, finalHint := s.wantFinal, s.finalHint
	s.wantFinal, s.finalHint = 0, ""
	wants := s.wantTips
	s.wantTips = map[ledger.KeyID]want{}
	s.mu.Unlock()

	var errs []error
	if wantFinal > 0 {
		order := rank(peers, finalHint, func(p peer.ID) uint64 { return statuses[p].FinalSeq })
		if err := s.syncCheckpoints(ctx, order, wantFinal); err != nil {
			errs = append(errs, err)
		}
	}
	for producer, w := range wants {
		order := rank(peers, w.hint, func(p peer.ID) uint64 {
			for _, t := range statuses[p].Tips {
				if t.Producer == producer {
					return t.Height
				}
			}
			return 0
		})
		if err := s.syncProducer(ctx, order, producer, w.height); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// join decides, in a full round, whether the node joins from a snapshot, and does it. It
// returns done once the node no longer waits to join: it joined, the peers are not far enough
// ahead, it already holds checkpoints, or it tried maxJoinTries times.
func (s *syncer) join(ctx context.Context, peers []peer.ID, statuses map[peer.ID]Status) (bool, error) {
	n := s.n
	local, err := n.src.FinalSeq()
	if err != nil {
		return false, fmt.Errorf("join from snapshot: %w", err)
	}
	stop := func(msg string, args ...any) (bool, error) {
		s.joining.Store(false)
		n.log.Info(msg, args...)
		return true, nil
	}
	if local > 0 {
		return stop("fast join: the node holds final checkpoints; syncing them", "final", local)
	}
	best := s.best.Load()
	if len(statuses) > 0 && best <= n.cfg.FastJoinLag {
		return stop("fast join: the peers are not far ahead; replaying the history", "best", best, "lag", n.cfg.FastJoinLag)
	}
	var jerr error
	if len(statuses) == 0 {
		jerr = errors.New("join from snapshot: no peer answered its status")
	} else {
		order := rank(peers, "", func(p peer.ID) uint64 { return statuses[p].FinalSeq })
		a, err := n.joinFromSnapshot(ctx, order)
		if err == nil {
			return stop("joined from a snapshot; the history starts after it", "seq", a.Seq, "keys", a.Keys, "best", best)
		}
		jerr = err
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	s.joinTries++
	if s.joinFirst.IsZero() {
		s.joinFirst = time.Now()
	}
	if s.joinTries >= maxJoinTries && time.Since(s.joinFirst) >= n.cfg.AntiEntropy {
		s.joining.Store(false)
		n.log.Warn("fast join: giving up; replaying the history", "tries", s.joinTries, "err", jerr)
		return true, nil
	}
	return false, jerr
}

// rank orders peers: the hint first, then by what they claim to have, highest first.
func rank(peers []peer.ID, hint peer.ID, has func(peer.ID) uint64) []peer.ID {
	out := slices.Clone(peers)
	slices.SortStableFunc(out, func(a, b peer.ID) int {
		switch {
		case a == hint && b != hint:
			return -1
		case b == hint && a != hint:
			return 1
		}
		ha, hb := has(a), has(b)
		switch {
		case ha > hb:
			return -1
		case ha < hb:
			return 1
		}
		return 0
	})
	return out
}

// statuses asks every peer for its status, a few at a time.
func (s *syncer) statuses(ctx context.Context, peers []peer.ID) map[peer.ID]Status {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, statusConcurrency)
		out = map[peer.ID]Status{}
	)
	for _, p := range peers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, err := s.n.fetchStatus(ctx, p)
			if err != nil {
				s.n.log.Debug("sync status", "peer", p, "err", err)
				return
			}
			mu.Lock()
			out[p] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// syncCheckpoints fetches final checkpoints after the node's latest up to target, trying
// peers in order until one makes no progress, then the next.
func (s *syncer) syncCheckpoints(ctx context.Context, peers []peer.ID, target uint64) error {
	var errs []error
	for _, p := range peers {
		for {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			local, err := s.n.src.FinalSeq()
			if err != nil {
				return fmt.Errorf("sync checkpoints: %w", err)
			}
			if local >= target {
				return nil
			}
			got, err := s.checkpointBatch(ctx, p, local, target)
			if err != nil {
				errs = append(errs, err)
			}
			if got == 0 || err != nil {
				break // next peer
			}
		}
	}
	return errors.Join(errs...)
}

// checkpointBatch fetches, verifies and stores the checkpoints after local (up to target and
// one response's worth) from p, with the blocks they reference that the node lacks. It returns
// how many it stored.
func (s *syncer) checkpointBatch(ctx context.Context, p peer.ID, local, target uint64) (int, error) {
	n := s.n
	prev, prevTime := n.cfg.GenesisHash, uint64(0)
	if local > 0 {
		cb, _, err := n.src.Checkpoint(local)
		switch {
		case err == nil:
			prev, prevTime = cb.Checkpoint.Hash(), cb.Checkpoint.Time
		case errors.Is(err, ErrNotFound):
			// A history that starts at an imported snapshot holds no body of the checkpoint
			// the snapshot is at; its hash and time are in the state.
			bs, ok := n.src.(BaseSource)
			if !ok {
				return 0, fmt.Errorf("read checkpoint %d: %w", local, err)
			}
			seq, cp, t, berr := bs.Base()
			if berr != nil || seq != local {
				return 0, fmt.Errorf("read checkpoint %d: %w (base %d: %v)", local, err, seq, berr)
			}
			prev, prevTime = cp, t
		default:
			return 0, fmt.Errorf("read checkpoint %d: %w", local, err)
		}
	}
	type item struct {
		cb   *ledger.CheckpointBody
		cert *ledger.Certificate
	}
	var batch []item
	from := local + 1
	to := min(target, from+MaxCheckpointsPerResponse-1)
	err := n.request(ctx, p, &request{Type: reqCheckpoints, From: from, To: to}, func(r *response) error {
		seq := from + uint64(len(batch))
		if seq > to {
			return fmt.Errorf("%w: more checkpoints than asked for", ErrProtocol)
		}
		cb, cert, err := n.decodeCheckpointItem(r, seq, prev, prevTime)
		if err != nil {
			return err
		}
		prev, prevTime = cb.Checkpoint.Hash(), cb.Checkpoint.Time
		batch = append(batch, item{cb, cert})
		return nil
	})
	if err != nil && len(batch) == 0 {
		return 0, fmt.Errorf("sync checkpoints %d–%d: %w", from, to, err)
	}
	// Fetch the blocks the batch references that the node lacks, in checkpoint order.
	var missing []ledger.Hash
	for _, it := range batch {
		for _, h := range it.cb.Blocks {
			if _, err := n.src.Block(h); errors.Is(err, ErrNotFound) {
				missing = append(missing, h)
			} else if err != nil {
				return 0, fmt.Errorf("look up block %s: %w", h, err)
			}
		}
	}
	if err := s.fetchBlocks(ctx, p, missing); err != nil {
		return 0, err
	}
	stored := 0
	for _, it := range batch {
		if err := n.sink.PutCheckpoint(it.cb, it.cert); err != nil {
			return stored, fmt.Errorf("store checkpoint %d: %w", it.cb.Checkpoint.Seq, err)
		}
		n.metrics.delivered.WithLabelValues("checkpoint", viaSync).Inc()
		stored++
	}
	return stored, err
}

// fetchBlocks fetches blocks by hash from p and stores them; each must be one that was asked
// for. A server may answer part of a request (its byte budget); the rest is asked again until
// a response brings nothing.
func (s *syncer) fetchBlocks(ctx context.Context, p peer.ID, hashes []ledger.Hash) error {
	n := s.n
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), MaxHashesPerRequest)]
		want := make(map[ledger.Hash]bool, len(chunk))
		for _, h := range chunk {
			want[h] = true
		}
		err := n.request(ctx, p, &request{Type: reqBlocks, Hashes: chunk}, func(r *response) error {
			b, err := n.decodeBlockItem(r)
			if err != nil {
				return err
			}
			h := b.Hash()
			if !want[h] {
				return fmt.Errorf("%w: block %s", errWrongItem, h)
			}
			delete(want, h)
			// A block a checkpoint orders is history, whatever the producer's standing now
			// and whatever branch of its chain the node holds; conflicts are reported as
			// evidence by deliverOrderedBlock, which keeps the block all the same.
			_ = n.deliverOrderedBlock(b, p)
			return nil
		})
		if err != nil {
			return fmt.Errorf("sync blocks: %w", err)
		}
		if len(want) == len(chunk) {
			return fmt.Errorf("sync blocks: %s has none of %d blocks asked for", p, len(chunk))
		}
		rest := hashes[:0:0]
		for _, h := range hashes {
			if want[h] || !slices.Contains(chunk, h) {
				rest = append(rest, h)
			}
		}
		hashes = rest
	}
	return nil
}

// syncProducer fetches the producer's chain above the node's tip up to target, trying peers in
// order. Each block must be the next height and link to the one before.
func (s *syncer) syncProducer(ctx context.Context, peers []peer.ID, producer ledger.KeyID, target uint64) error {
	n := s.n
	var errs []error
	for _, p := range peers {
		fromPeer := 0 // blocks of this producer taken from p so far
		for {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			tip, err := n.src.Tip(producer)
			if err != nil {
				return fmt.Errorf("sync producer %s: %w", producer.Short(), err)
			}
			if tip.Height >= target {
				return nil
			}
			next, prev := tip.Height+1, tip.Hash
			got := 0
			err = n.request(ctx, p, &request{Type: reqProducerBlocks, Producer: producer, From: next, To: target}, func(r *response) error {
				b, err := n.decodeBlockItem(r)
				if err != nil {
					return err
				}
				h := &b.Header
				if h.Producer != producer || h.Height != next {
					return fmt.Errorf("%w: block %s height %d, asked for %s height %d", errWrongItem, h.Producer.Short(), h.Height, producer.Short(), next)
				}
				if h.Height > 1 && h.Prev != prev {
					if fromPeer == 0 {
						// The peer's chain of this producer does not extend the block we hold:
						// the producer signed two blocks at one height and the network saw them
						// in different orders. The producer is at fault, not the peer that holds
						// the other branch; ask no further here.
						return fmt.Errorf("producer %s height %d does not extend the block held below it: %w", producer.Short(), h.Height, ErrFork)
					}
					return fmt.Errorf("%w: producer %s height %d does not link to %s", ledger.ErrBlock, producer.Short(), h.Height, prev)
				}
				if err := n.deliverBlock(b, p, viaSync); err != nil {
					return err
				}
				next, prev = next+1, b.Hash()
				got++
				fromPeer++
				return nil
			})
			if err != nil {
				errs = append(errs, err)
			}
			if got == 0 || err != nil {
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sync producer %s: %w", producer.Short(), errors.Join(errs...))
	}
	return nil
}

// Lag returns how many final checkpoints the best-known peer has that this node lacks.
func (n *Node) Lag() uint64 {
	local, err := n.src.FinalSeq()
	if err != nil {
		return 0
	}
	if best := n.syncer.best.Load(); best > local {
		return best - local
	}
	return 0
}

// Health returns syncing while the lag exceeds Config.LagThreshold, ok otherwise.
func (n *Node) Health() Health {
	if n.Lag() > n.cfg.LagThreshold {
		return HealthSyncing
	}
	return HealthOK
}

// LatestCheckpoint asks p for its latest final checkpoint and verifies the body and the
// certificate (not the chain: the caller may not hold the checkpoint before it).
func (n *Node) LatestCheckpoint(ctx context.Context, p peer.ID) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	var (
		cb   *ledger.CheckpointBody
		cert *ledger.Certificate
	)
	err := n.request(ctx, p, &request{Type: reqLatest}, func(r *response) error {
		if cb != nil {
			return fmt.Errorf("%w: two latest checkpoints", ErrProtocol)
		}
		body, err := ledger.DecodeCheckpointBody(r.Checkpoint, n.cfg.Network)
		if err != nil {
			return err
		}
		c, err := ledger.DecodeCertificate(r.Certificate)
		if err != nil {
			return err
		}
		seq := body.Checkpoint.Seq
		if c.Seq != seq || c.Checkpoint != body.Checkpoint.Hash() {
			return fmt.Errorf("%w: certificate is not for checkpoint %d", ledger.ErrCheckpoint, seq)
		}
		ministry, err := n.cfg.Ministry(seq)
		if err != nil {
			return fmt.Errorf("ministry set at %d: %w", seq, err)
		}
		if err := c.Verify(n.cfg.Network, ministry); err != nil {
			return fmt.Errorf("checkpoint %d: %w", seq, err)
		}
		cb, cert = body, c
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if cb == nil {
		return nil, nil, fmt.Errorf("latest checkpoint from %s: %w", p, ErrNotFound)
	}
	return cb, cert, nil
}

// FetchBlocks asks the connected peers, one after the other, for the blocks with these hashes
// that the node does not hold, and stores them as blocks a checkpoint names (OrderedSink): the
// executor of an ordered checkpoint uses it for a block that gossip and the producer sync did
// not bring, such as a fork of an equivocating producer that the node refused. It returns nil
// once every block is held.
func (n *Node) FetchBlocks(ctx context.Context, hashes []ledger.Hash) error {
	missing := func() []ledger.Hash {
		var out []ledger.Hash
		for _, h := range hashes {
			if _, err := n.src.Block(h); err != nil {
				out = append(out, h)
			}
		}
		return out
	}
	var errs []error
	for _, p := range n.syncer.peers() {
		todo := missing()
		if len(todo) == 0 {
			return nil
		}
		if err := n.syncer.fetchBlocks(ctx, p, todo); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if todo := missing(); len(todo) > 0 {
		return fmt.Errorf("fetch %d blocks: %w", len(todo), errors.Join(append(errs, ErrNotFound)...))
	}
	return nil
}

// SyncNow runs a full sync round (status of every peer, then catch-up) and waits for it.
func (n *Node) SyncNow(ctx context.Context) error { return n.syncer.runNow(ctx) }
