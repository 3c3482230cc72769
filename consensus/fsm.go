package consensus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/jaminan/jaminan/ledger"
)

// Protocol constants of the ordering state machine. They are part of envelope version 1: every
// ministry node must use the same values, so they are constants, not configuration.
const (
	// MaxCheckpointBlocks is the size cut: the FSM cuts a checkpoint as soon as this many
	// references are pending, whatever the leader asked.
	MaxCheckpointBlocks = 4096
	// RetainCheckpoints and RetainBlocks bound the recent checkpoint bodies the FSM keeps (and
	// puts into snapshots): the dedup window, and what an executor that was restored from a
	// snapshot can still apply without fetching checkpoints from peers.
	RetainCheckpoints = 1024
	RetainBlocks      = 1 << 16

	snapshotVersion byte = 1
	maxSnapshotSize      = 1 << 30
)

// Drop reasons of a reference, as counted in BatchResult and metrics.
const (
	DropDuplicate  = "duplicate"    // the hash is pending or in a retained checkpoint
	DropOutOfOrder = "out_of_order" // the height is not the producer's next one
)

// DecidedSink receives every checkpoint the FSM cuts, in sequence order, on raft's FSM goroutine;
// it must not block. After a restore it receives the retained checkpoints again; receivers skip
// sequences they already have.
type DecidedSink interface {
	Decided(cb *ledger.CheckpointBody)
}

// BatchResult is the response of one applied batch (ApplyFuture.Response on the leader).
type BatchResult struct {
	Index    uint64
	Accepted int
	Dropped  map[string]int // by reason
	Cut      []uint64       // sequences of the checkpoints cut by this entry
	Halted   bool           // the FSM is halted (this entry was skipped)
}

type tip struct {
	Height uint64
	Hash   ledger.Hash
}

// orderState is everything the FSM decides from: a pure function of the log prefix applied.
type orderState struct {
	LastIndex    uint64 // raft index of the last applied entry
	Halted       uint64 // index of the entry the FSM could not apply (0: running)
	Seq          uint64 // last checkpoint cut
	Prev         ledger.Hash
	Time         uint64 // max of the stamped times, from the genesis time
	PendingSince uint64 // Time when the first pending reference was added
	Tips         map[ledger.KeyID]tip
	Pending      []Ref
	Retained     []*ledger.CheckpointBody // oldest first

	retainedBlocks int
	seen           map[ledger.Hash]struct{} // hashes of Pending and Retained
}

// FSM is the ordering state machine of the ministry Raft group: it turns batches of block
// references into checkpoint bodies. It reads no clock and no randomness, iterates no map, and
// depends only on the log: every node cuts the same checkpoints.
type FSM struct {
	network string
	sink    DecidedSink
	log     *slog.Logger
	metrics *Metrics

	mu       sync.Mutex
	st       orderState
	restores atomic.Int64
}

// NewFSM returns the FSM of the network founded by g, starting at genesis.
func NewFSM(g *ledger.Genesis, sink DecidedSink, log *slog.Logger, m *Metrics) *FSM {
	f := &FSM{network: g.Network, sink: sink, log: orDiscard(log), metrics: m}
	f.st = orderState{Prev: g.Hash(), Time: g.Time, Tips: map[ledger.KeyID]tip{}, seen: map[ledger.Hash]struct{}{}}
	return f
}

var _ raft.BatchingFSM = (*FSM)(nil)

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var cut []*ledger.CheckpointBody
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand || l.Index <= f.st.LastIndex {
			continue // configuration entries, or an entry replayed after a restart
		}
		res, cps := f.applyOne(l)
		out[i] = res
		cut = append(cut, cps...)
	}
	f.mu.Unlock()
	for _, cb := range cut {
		if f.metrics != nil {
			f.metrics.checkpointCut(cb)
		}
		if f.sink != nil {
			f.sink.Decided(cb)
		}
	}
	return out
}

// applyOne applies one command entry; f.mu is held.
func (f *FSM) applyOne(l *raft.Log) (*BatchResult, []*ledger.CheckpointBody) {
	s := &f.st
	s.LastIndex = l.Index
	res := &BatchResult{Index: l.Index}
	if s.Halted != 0 {
		res.Halted = true
		return res, nil
	}
	b, ignorable, err := DecodeCommand(l.Data)
	if err != nil {
		if ignorable {
			f.log.Warn("consensus: skipping an ignorable command this version does not know", "index", l.Index, "err", err)
			return res, nil
		}
		// Every node of the same version fails the same way on the same entry, so halting is
		// deterministic; applying around the entry would diverge from upgraded nodes.
		s.Halted = l.Index
		res.Halted = true
		f.log.Error("consensus: ordering halted on an undecodable committed entry", "index", l.Index, "err", err)
		if f.metrics != nil {
			f.metrics.alarm(alarmFSMHalt)
		}
		return res, nil
	}
	s.Time = max(s.Time, b.Time)
	var cps []*ledger.CheckpointBody
	for _, r := range b.Refs {
		if reason := s.check(r); reason != "" {
			if res.Dropped == nil {
				res.Dropped = map[string]int{}
			}
			res.Dropped[reason]++
			if f.metrics != nil {
				f.metrics.refDropped(reason)
			}
			continue
		}
		if len(s.Pending) == 0 {
			s.PendingSince = s.Time
		}
		s.Pending = append(s.Pending, r)
		s.seen[r.Hash] = struct{}{}
		s.Tips[r.Producer] = tip{Height: r.Height, Hash: r.Hash}
		res.Accepted++
		if len(s.Pending) >= MaxCheckpointBlocks {
			cps = append(cps, f.cut())
		}
	}
	if b.Cut && len(s.Pending) > 0 {
		cps = append(cps, f.cut())
	}
	for _, cb := range cps {
		res.Cut = append(res.Cut, cb.Checkpoint.Seq)
	}
	return res, cps
}

// check returns why r cannot be ordered now, or "".
func (s *orderState) check(r Ref) string {
	if _, dup := s.seen[r.Hash]; dup {
		return DropDuplicate
	}
	if r.Height != s.Tips[r.Producer].Height+1 {
		return DropOutOfOrder
	}
	return ""
}

// cut turns the pending references into the next checkpoint; f.mu is held.
func (f *FSM) cut() *ledger.CheckpointBody {
	s := &f.st
	hs := make([]ledger.Hash, len(s.Pending))
	for i, r := range s.Pending {
		hs[i] = r.Hash
	}
	cb := ledger.NewCheckpoint(f.network, s.Seq+1, s.Prev, s.Time, hs)
	s.Seq++
	s.Prev = cb.Checkpoint.Hash()
	s.Pending = s.Pending[:0:0]
	s.PendingSince = 0
	s.Retained = append(s.Retained, &cb)
	s.retainedBlocks += len(hs)
	for len(s.Retained) > 1 && (len(s.Retained) > RetainCheckpoints || s.retainedBlocks > RetainBlocks) {
		old := s.Retained[0]
		for _, h := range old.Blocks {
			delete(s.seen, h)
		}
		s.retainedBlocks -= len(old.Blocks)
		s.Retained[0] = nil
		s.Retained = s.Retained[1:]
	}
	return &cb
}

// Status is a copy of the FSM's position, for the proposer, status pages and tests.
type Status struct {
	LastIndex    uint64
	Halted       uint64
	Seq          uint64
	Checkpoint   ledger.Hash
	Time         uint64
	Pending      int
	PendingSince uint64
}

// Status returns the FSM's position.
func (f *FSM) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &f.st
	return Status{LastIndex: s.LastIndex, Halted: s.Halted, Seq: s.Seq, Checkpoint: s.Prev, Time: s.Time,
		Pending: len(s.Pending), PendingSince: s.PendingSince}
}

// Restores returns how many snapshots were restored since the FSM was created.
func (f *FSM) Restores() int64 { return f.restores.Load() }

// Tip returns the last height of producer that the FSM ordered (0 if none).
func (f *FSM) Tip(producer ledger.KeyID) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Tips[producer].Height
}

// Tips returns the last ordered height of each of producers.
func (f *FSM) Tips(producers []ledger.KeyID) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, len(producers))
	for i, p := range producers {
		out[i] = f.st.Tips[p].Height
	}
	return out
}

// Retained returns the retained checkpoint bodies with a sequence above after, oldest first.
func (f *FSM) Retained(after uint64) []*ledger.CheckpointBody {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ledger.CheckpointBody
	for _, cb := range f.st.Retained {
		if cb.Checkpoint.Seq > after {
			out = append(out, cb)
		}
	}
	return out
}

// Snapshot implements raft.FSM: a copy of the state, encoded later by Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	s.Tips = make(map[ledger.KeyID]tip, len(f.st.Tips))
	for k, v := range f.st.Tips {
		s.Tips[k] = v
	}
	s.Pending = slices.Clone(f.st.Pending)
	s.Retained = slices.Clone(f.st.Retained) // the bodies themselves are never changed
	s.seen = nil
	return &fsmSnapshot{st: s}, nil
}

type fsmSnapshot struct{ st orderState }

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 64<<10)
	if err := s.st.encode(w); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist ordering snapshot: %w", err)
	}
	if err := w.Flush(); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist ordering snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// Snapshot layout, version 1 (all integers big-endian):
//
//	version (1) | last index (8) | halted (8) | seq (8) | prev (32) | time (8) | pending since (8)
//	tips (4) × { producer (38) | height (8) | hash (32) }, sorted by producer
//	pending (4) × ref (78)
//	retained (4) × { length (4) | canonical CheckpointBody }
func (s *orderState) encode(w io.Writer) error {
	var b []byte
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, s.LastIndex)
	b = binary.BigEndian.AppendUint64(b, s.Halted)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = append(b, s.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Time)
	b = binary.BigEndian.AppendUint64(b, s.PendingSince)
	producers := make([]ledger.KeyID, 0, len(s.Tips))
	for p := range s.Tips {
		producers = append(producers, p)
	}
	slices.Sort(producers)
	b = binary.BigEndian.AppendUint32(b, uint32(len(producers)))
	for _, p := range producers {
		t := s.Tips[p]
		b = append(b, p...)
		b = binary.BigEndian.AppendUint64(b, t.Height)
		b = append(b, t.Hash[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Pending)))
	for _, r := range s.Pending {
		b = append(b, r.Producer...)
		b = binary.BigEndian.AppendUint64(b, r.Height)
		b = append(b, r.Hash[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Retained)))
	if _, err := w.Write(b); err != nil {
		return err
	}
	for _, cb := range s.Retained {
		enc := cb.Encode()
		if _, err := w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(enc)))); err != nil {
			return err
		}
		if _, err := w.Write(enc); err != nil {
			return err
		}
	}
	return nil
}

var errSnapshot = errors.New("invalid ordering snapshot")

// decodeSnapshot reads a snapshot of network; it never panics on malformed input.
func decodeSnapshot(b []byte, network string) (orderState, error) {
	r := reader{b: b}
	s := orderState{Tips: map[ledger.KeyID]tip{}, seen: map[ledger.Hash]struct{}{}}
	if v := r.byte(); v != snapshotVersion {
		return s, fmt.Errorf("%w: version %d", errSnapshot, v)
	}
	s.LastIndex, s.Halted, s.Seq = r.u64(), r.u64(), r.u64()
	copy(s.Prev[:], r.take(32))
	s.Time, s.PendingSince = r.u64(), r.u64()
	n := r.u32()
	var last ledger.KeyID
	for i := uint32(0); i < n && r.err == nil; i++ {
		p := ledger.KeyID(r.take(keyIDLen))
		var t tip
		t.Height = r.u64()
		copy(t.Hash[:], r.take(32))
		if r.err != nil {
			break
		}
		if i > 0 && p <= last {
			return s, fmt.Errorf("%w: tips not sorted", errSnapshot)
		}
		last = p
		s.Tips[p] = t
	}
	n = r.u32()
	if n > MaxCheckpointBlocks {
		return s, fmt.Errorf("%w: %d pending refs", errSnapshot, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		ref := Ref{Producer: ledger.KeyID(r.take(keyIDLen)), Height: r.u64()}
		copy(ref.Hash[:], r.take(32))
		s.Pending = append(s.Pending, ref)
		s.seen[ref.Hash] = struct{}{}
	}
	n = r.u32()
	if n > RetainCheckpoints {
		return s, fmt.Errorf("%w: %d retained checkpoints", errSnapshot, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		enc := r.take(int(r.u32()))
		if r.err != nil {
			break
		}
		cb, err := ledger.DecodeCheckpointBody(enc, network)
		if err != nil {
			return s, fmt.Errorf("%w: retained checkpoint %d: %w", errSnapshot, i, err)
		}
		if k := len(s.Retained); k > 0 && cb.Checkpoint.Seq != s.Retained[k-1].Checkpoint.Seq+1 {
			return s, fmt.Errorf("%w: retained checkpoints not consecutive", errSnapshot)
		}
		s.Retained = append(s.Retained, cb)
		s.retainedBlocks += len(cb.Blocks)
		for _, h := range cb.Blocks {
			s.seen[h] = struct{}{}
		}
	}
	if r.err != nil {
		return s, fmt.Errorf("%w: %w", errSnapshot, r.err)
	}
	if len(r.b) != 0 {
		return s, fmt.Errorf("%w: %d trailing bytes", errSnapshot, len(r.b))
	}
	if k := len(s.Retained); k > 0 && (s.Retained[k-1].Checkpoint.Seq != s.Seq || s.Retained[k-1].Checkpoint.Hash() != s.Prev) {
		return s, fmt.Errorf("%w: last retained checkpoint is not the last cut", errSnapshot)
	}
	return s, nil
}

// Restore implements raft.FSM: it replaces the whole state and hands the retained checkpoints
// to the sink again (receivers skip what they have).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("restore ordering snapshot: %w", err)
	}
	if len(b) > maxSnapshotSize {
		return fmt.Errorf("restore ordering snapshot: %w: larger than %d bytes", errSnapshot, maxSnapshotSize)
	}
	st, err := decodeSnapshot(b, f.network)
	if err != nil {
		return fmt.Errorf("restore ordering snapshot: %w", err)
	}
	f.mu.Lock()
	f.st = st
	f.restores.Add(1)
	retained := slices.Clone(st.Retained)
	f.mu.Unlock()
	f.log.Info("consensus: ordering state restored from snapshot", "index", st.LastIndex, "seq", st.Seq)
	if f.sink != nil {
		for _, cb := range retained {
			f.sink.Decided(cb)
		}
	}
	return nil
}

// reader decodes fixed-width fields, remembering the first error instead of panicking.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = io.ErrUnexpectedEOF
		}
		if n < 0 || n > 64 {
			return nil // only fixed-width reads use the result after an error
		}
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte  { return r.take(1)[0] }
func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
