package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// Role says how an executor treats checkpoints.
type Role int

const (
	// RoleMinistry applies the checkpoints its ordering FSM decided, before they are final, and
	// signs a finality vote for each.
	RoleMinistry Role = iota
	// RoleWitness (a bureau) applies only checkpoints with a valid ministry certificate, compares
	// its state root with the certified one before committing, and cosigns.
	RoleWitness
)

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	Genesis   *ledger.Genesis
	Role      Role
	State     State
	Blocks    Blocks
	Signer    *ledger.Signer // votes (ministry) or cosignatures (witness); nil: apply only
	Publisher Publisher      // nil: nothing is published
	Finality  *Finality
	Monitor   *Monitor
	Logger    *slog.Logger
	// MaxAhead bounds how many applied checkpoints may wait for their certificate before a
	// ministry executor pauses (0: DefaultMaxAhead).
	MaxAhead uint64

	// voteHook lets tests make a node sign something else (a wrong root).
	voteHook func(*ledger.Vote)
}

// DefaultMaxAhead is the default ExecutorConfig.MaxAhead.
const DefaultMaxAhead = 64

// maxQueued bounds the checkpoints waiting in an executor's queue.
const maxQueued = 1 << 16

type queued struct {
	cb   *ledger.CheckpointBody
	cert *ledger.Certificate
}

// Executor applies checkpoints to the ledger state in sequence order, as they become available
// with their blocks. It is the only writer of its State.
type Executor struct {
	cfg     ExecutorConfig
	machine *ledger.Machine
	network string
	log     *slog.Logger

	mu     sync.Mutex
	queue  map[uint64]queued
	recent map[uint64]*ledger.CheckpointBody // applied bodies, for publishing with certificates
	wake   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// retrying is set while a commit keeps failing with ErrRetry (run's goroutine only).
	retrying bool
}

// ErrRetry is returned (wrapped) by a State's Commit that wrote nothing and may succeed later
// (the node's disk is full): the executor keeps the checkpoint and tries again after
// retryCommitAfter, instead of halting. The node lags meanwhile; nothing is lost.
var ErrRetry = errors.New("commit failed; retry later")

// retryCommitAfter is the pause between commits that failed with ErrRetry.
const retryCommitAfter = time.Second

// NewExecutor starts an executor; Close stops it.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.Genesis == nil || cfg.State == nil || cfg.Blocks == nil || cfg.Finality == nil {
		return nil, errors.New("new executor: genesis, state, blocks and finality are required")
	}
	if cfg.Monitor == nil {
		cfg.Monitor = newMonitor(cfg.Logger)
	}
	if cfg.MaxAhead == 0 {
		cfg.MaxAhead = DefaultMaxAhead
	}
	meta, err := ledger.ReadMeta(cfg.State)
	if err != nil {
		return nil, fmt.Errorf("new executor: %w", err)
	}
	// A restarted node applied checkpoints before: the collector starts from there. Otherwise
	// the gate would count every one of them as applied without a certificate and never open
	// again past MaxAhead, and votes more than voteWindow ahead of 0 would be refused.
	cfg.Finality.resume(meta.Seq)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Executor{cfg: cfg, machine: ledger.NewMachine(cfg.Genesis), network: cfg.Genesis.Network, log: orDiscard(cfg.Logger),
		queue: map[uint64]queued{}, recent: map[uint64]*ledger.CheckpointBody{}, wake: make(chan struct{}),
		cancel: cancel, done: make(chan struct{})}
	go e.run(ctx)
	return e, nil
}

// Close stops the executor and waits for it.
func (e *Executor) Close() error {
	e.once.Do(e.cancel)
	<-e.done
	return nil
}

// Decided implements DecidedSink for a ministry node: the FSM cut cb.
func (e *Executor) Decided(cb *ledger.CheckpointBody) { e.enqueue(cb, nil) }

// SubmitFinal queues a checkpoint body with its certificate (a witness's input, from the sync or
// gossip). Verification happens when its turn comes, against the state before it.
func (e *Executor) SubmitFinal(cb *ledger.CheckpointBody, cert *ledger.Certificate) error {
	if err := cb.Verify(e.network); err != nil {
		return fmt.Errorf("submit final checkpoint: %w", err)
	}
	if cert == nil || cert.Seq != cb.Checkpoint.Seq || cert.Checkpoint != cb.Checkpoint.Hash() {
		return fmt.Errorf("submit final checkpoint %d: %w: certificate does not name it", cb.Checkpoint.Seq, ledger.ErrCheckpoint)
	}
	e.enqueue(cb, cert)
	return nil
}

func (e *Executor) enqueue(cb *ledger.CheckpointBody, cert *ledger.Certificate) {
	seq := cb.Checkpoint.Seq
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.queue[seq]; ok && (old.cert != nil || cert == nil) {
		return // keep the first; a certified body replaces an uncertified one
	}
	if len(e.queue) >= maxQueued {
		e.log.Warn("consensus: executor queue full; dropping a checkpoint (it can be synced again)", "seq", seq)
		return
	}
	e.queue[seq] = queued{cb: cb, cert: cert}
	close(e.wake)
	e.wake = make(chan struct{})
}

// Applied returns the last applied checkpoint of the state.
func (e *Executor) Applied() (ledger.Meta, error) { return ledger.ReadMeta(e.cfg.State) }

// Body returns a recently applied checkpoint body.
func (e *Executor) Body(seq uint64) (*ledger.CheckpointBody, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cb, ok := e.recent[seq]
	return cb, ok
}

func (e *Executor) run(ctx context.Context) {
	defer close(e.done)
	for ctx.Err() == nil {
		if err := e.step(ctx); err != nil {
			if errors.Is(err, ErrHalted) || ctx.Err() != nil {
				if ctx.Err() == nil {
					e.log.Error("consensus: executor stopped", "err", err)
					<-ctx.Done()
				}
				return
			}
			e.log.Warn("consensus: executor step", "err", err)
		}
	}
}

// step applies the next checkpoint, waiting for it.
func (e *Executor) step(ctx context.Context) error {
	if halted, _ := e.cfg.Finality.Halted(); halted {
		return ErrHalted
	}
	meta, err := ledger.ReadMeta(e.cfg.State)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHalted, err)
	}
	next := meta.Seq + 1
	q, err := e.take(ctx, meta.Seq)
	if errors.Is(err, errStateMoved) {
		return nil
	}
	if err != nil {
		return err
	}
	cb := q.cb
	if e.cfg.Role == RoleMinistry {
		if err := e.cfg.Finality.Gate(ctx, next, e.cfg.MaxAhead); err != nil {
			e.requeue(q)
			return err
		}
	}
	if cb.Checkpoint.Prev != meta.Checkpoint {
		e.cfg.Monitor.raise(AlarmApply, next, HealthHalted, "a decided checkpoint does not follow the applied one",
			"prev", cb.Checkpoint.Prev.String()[:12], "applied", meta.Checkpoint.String()[:12])
		e.cfg.Finality.halt(next)
		return ErrHalted
	}
	set, err := ledger.MinistrySet(e.cfg.State, cb.Checkpoint.Time)
	if err != nil {
		return fmt.Errorf("%w: ministry set before checkpoint %d: %w", ErrHalted, next, err)
	}
	if q.cert != nil {
		if err := q.cert.Verify(e.network, set); err != nil {
			e.cfg.Monitor.raise(AlarmBadFinal, next, HealthDegraded, "rejected a final checkpoint with an invalid certificate", "err", err)
			return nil // dropped; a valid copy may come later
		}
		e.cfg.Finality.setSet(next, set)
	}
	blocks := make([]*ledger.Block, len(cb.Blocks))
	for i, h := range cb.Blocks {
		b, err := e.cfg.Blocks.Block(ctx, h)
		if err != nil {
			e.requeue(q)
			return fmt.Errorf("blocks of checkpoint %d: %w", next, err)
		}
		blocks[i] = b
	}
	start := time.Now()
	res, err := e.machine.Apply(e.cfg.State, cb, blocks)
	e.cfg.Monitor.applySecs.Observe(time.Since(start).Seconds())
	if err != nil {
		e.cfg.Monitor.raise(AlarmApply, next, HealthHalted, "a checkpoint does not apply", "err", err)
		e.cfg.Finality.halt(next)
		return fmt.Errorf("%w: apply checkpoint %d: %w", ErrHalted, next, err)
	}
	if q.cert != nil && res.StateRoot != q.cert.StateRoot {
		// Do not commit: the node stops before the checkpoint whose result it disputes.
		e.cfg.Monitor.raise(AlarmRootMismatch, next, HealthHalted, "the local state root differs from the certified one; applying stops",
			"local_root", res.StateRoot.String()[:12], "certified_root", q.cert.StateRoot.String()[:12])
		e.cfg.Finality.halt(next)
		return ErrHalted
	}
	start = time.Now()
	err = e.cfg.State.Commit(cb, res)
	e.cfg.Monitor.commitSecs.Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, ErrRetry) {
			if !e.retrying {
				e.retrying = true
				e.cfg.Monitor.raise(AlarmCommitRetry, next, HealthDegraded, "committing a checkpoint failed; retrying", "err", err)
			}
			e.requeue(q)
			t := time.NewTimer(retryCommitAfter)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			return fmt.Errorf("commit checkpoint %d: %w", next, err)
		}
		e.cfg.Monitor.raise(AlarmApply, next, HealthHalted, "committing a checkpoint failed", "err", err)
		e.cfg.Finality.halt(next)
		return fmt.Errorf("%w: commit checkpoint %d: %w", ErrHalted, next, err)
	}
	if e.retrying {
		e.retrying = false
		e.log.Info("consensus: committing checkpoints again", "seq", next)
		e.cfg.Monitor.resolve(AlarmCommitRetry)
	}
	e.mu.Lock()
	e.recent[next] = cb
	delete(e.recent, next-min(next, keepRounds))
	e.mu.Unlock()
	e.cfg.Monitor.setApplied(next)
	e.cfg.Finality.SetLocal(next, set, res.Checkpoint, res.StateRoot)
	if q.cert != nil {
		e.cfg.Finality.AddCertificate(set, q.cert)
	}
	e.sign(ctx, next, res)
	// The store copied the writes and the hooks copied what they keep: the next Apply may reuse
	// the result's buffers instead of allocating them again.
	res.Release()
	return nil
}

// sign votes (ministry) or cosigns (witness) the result and publishes it.
func (e *Executor) sign(ctx context.Context, seq uint64, res *ledger.Result) {
	s := e.cfg.Signer
	if s == nil {
		return
	}
	if e.cfg.Role == RoleWitness {
		v := ledger.SignWitness(s, e.network, seq, res.Checkpoint, res.StateRoot)
		if e.cfg.Publisher != nil {
			if err := e.cfg.Publisher.PublishWitness(ctx, v); err != nil {
				e.log.Warn("consensus: publish witness cosignature", "seq", seq, "err", err)
			}
		}
		return
	}
	v := ledger.SignVote(s, e.network, seq, res.Checkpoint, res.StateRoot)
	if e.cfg.voteHook != nil {
		e.cfg.voteHook(&v)
	}
	if err := e.cfg.Finality.HandleVote(v); err != nil {
		e.log.Warn("consensus: own vote refused", "seq", seq, "err", err)
	}
	if e.cfg.Publisher != nil {
		if err := e.cfg.Publisher.PublishVote(ctx, v); err != nil {
			e.log.Warn("consensus: publish vote", "seq", seq, "err", err)
		}
	}
}

// take waits for the checkpoint after applied, dropping older ones (after checking that a
// re-delivered checkpoint is the one applied).
func (e *Executor) take(ctx context.Context, applied uint64) (queued, error) {
	for {
		e.mu.Lock()
		var stale []queued
		for s, q := range e.queue {
			if s <= applied {
				stale = append(stale, q)
				delete(e.queue, s)
			}
		}
		q, ok := e.queue[applied+1]
		if ok {
			delete(e.queue, applied+1)
		}
		wake := e.wake
		e.mu.Unlock()
		for _, s := range stale {
			e.checkStale(s.cb)
		}
		if ok {
			return q, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return queued{}, ctx.Err()
		}
		// The state may have moved without this executor: a node that joined from a
		// snapshot imported it while the executor waited for checkpoint 1.
		if m, err := ledger.ReadMeta(e.cfg.State); err == nil && m.Seq > applied {
			e.cfg.Finality.resume(m.Seq)
			return queued{}, errStateMoved
		}
	}
}

// errStateMoved makes step read the state's position again.
var errStateMoved = errors.New("the state moved (an imported snapshot)")

func (e *Executor) requeue(q queued) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.queue[q.cb.Checkpoint.Seq]; !ok {
		e.queue[q.cb.Checkpoint.Seq] = q
	}
}

// checkStale compares a checkpoint delivered again (a restart, a restore) with the one applied
// at its sequence: a different one means the ordering diverged.
func (e *Executor) checkStale(cb *ledger.CheckpointBody) {
	seq := cb.Checkpoint.Seq
	cp, _, ok, err := e.cfg.State.CheckpointAt(seq)
	if err != nil || !ok {
		return
	}
	if h := cb.Checkpoint.Hash(); h != cp {
		e.cfg.Monitor.raise(AlarmApply, seq, HealthHalted, "a checkpoint delivered again differs from the one applied",
			"delivered", h.String()[:12], "applied", cp.String()[:12])
		e.cfg.Finality.halt(seq)
	}
}
