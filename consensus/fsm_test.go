package consensus

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// recorder is a DecidedSink that keeps every checkpoint it is given.
type recorder struct {
	mu  sync.Mutex
	cps []*ledger.CheckpointBody
}

func (r *recorder) Decided(cb *ledger.CheckpointBody) {
	r.mu.Lock()
	r.cps = append(r.cps, cb)
	r.mu.Unlock()
}

func (r *recorder) hashes() []ledger.Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ledger.Hash, len(r.cps))
	for i, cb := range r.cps {
		out[i] = cb.Checkpoint.Hash()
	}
	return out
}

// T0 is the genesis time of ledgertest networks.
const T0 = ledgertest.Start

func producer(i int) ledger.KeyID {
	return ledger.SignerFromSeed(bytes.Repeat([]byte{byte(0x40 + i)}, 32)).ID()
}

func ref(p, h int) Ref {
	var hash ledger.Hash
	copy(hash[:], fmt.Sprintf("block %d/%d", p, h))
	return Ref{Producer: producer(p), Height: uint64(h), Hash: hash}
}

func entry(t testing.TB, index uint64, b Batch) *raft.Log {
	t.Helper()
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// script is a log with duplicates, out-of-order and replayed references, time going backwards,
// configuration entries and cuts.
func script(t testing.TB) []*raft.Log {
	var logs []*raft.Log
	i := uint64(0)
	add := func(b Batch) { i++; logs = append(logs, entry(t, i, b)) }
	i++
	logs = append(logs, &raft.Log{Index: i, Type: raft.LogConfiguration})
	add(Batch{Time: T0 + 1000, Refs: []Ref{ref(0, 1), ref(1, 1), ref(0, 2)}})
	add(Batch{Time: T0 + 900, Refs: []Ref{ref(0, 2), ref(1, 3), ref(1, 2)}, Cut: true}) // dup, gap, ok
	add(Batch{Time: T0 + 1200, Refs: []Ref{ref(0, 1), ref(2, 1)}})                      // old height
	add(Batch{Time: T0 + 1100, Cut: true})
	add(Batch{Time: T0 + 1300, Cut: true}) // nothing pending: no checkpoint
	bad := ref(3, 1)
	bad.Hash = ref(2, 1).Hash // a hash already ordered, claimed by another producer
	add(Batch{Time: T0 + 1400, Refs: []Ref{bad, ref(3, 1)}, Cut: true})
	return logs
}

func newTestFSM(t testing.TB) (*FSM, *recorder) {
	n := ledgertest.New(t)
	rec := &recorder{}
	return NewFSM(n.Genesis, rec, nil, nil), rec
}

func TestFSMDropsDuplicatesAndOutOfOrderIdentically(t *testing.T) {
	f, rec := newTestFSM(t)
	var results []*BatchResult
	for _, l := range script(t) {
		if r, ok := f.Apply(l).(*BatchResult); ok {
			results = append(results, r)
		}
	}
	if len(rec.cps) != 3 {
		t.Fatalf("cut %d checkpoints, want 3", len(rec.cps))
	}
	want := [][]Ref{{ref(0, 1), ref(1, 1), ref(0, 2), ref(1, 2)}, {ref(2, 1)}, {ref(3, 1)}}
	for i, cb := range rec.cps {
		var hs []ledger.Hash
		for _, r := range want[i] {
			hs = append(hs, r.Hash)
		}
		if !slices.Equal(cb.Blocks, hs) {
			t.Errorf("checkpoint %d blocks differ", i+1)
		}
		if cb.Checkpoint.Seq != uint64(i+1) {
			t.Errorf("checkpoint %d has seq %d", i+1, cb.Checkpoint.Seq)
		}
	}
	// Time never goes back: the second batch was stamped 900 but the checkpoint keeps 1000.
	if rec.cps[0].Checkpoint.Time != T0+1000 || rec.cps[1].Checkpoint.Time != T0+1200 || rec.cps[2].Checkpoint.Time != T0+1400 {
		t.Errorf("times %d %d %d", rec.cps[0].Checkpoint.Time, rec.cps[1].Checkpoint.Time, rec.cps[2].Checkpoint.Time)
	}
	if d := results[1].Dropped; d[DropDuplicate] != 1 || d[DropOutOfOrder] != 1 {
		t.Errorf("batch 2 dropped %v", d)
	}
	if d := results[2].Dropped; d[DropDuplicate] != 1 { // an ordered block offered again
		t.Errorf("batch 3 dropped %v", d)
	}
	if d := results[5].Dropped; d[DropDuplicate] != 1 || results[5].Accepted != 1 {
		t.Errorf("batch 6: accepted %d dropped %v", results[5].Accepted, d)
	}
	// The chain of checkpoints starts at genesis.
	n := ledgertest.New(t)
	if rec.cps[0].Checkpoint.Prev != n.Genesis.Hash() || rec.cps[1].Checkpoint.Prev != rec.cps[0].Checkpoint.Hash() {
		t.Error("checkpoints are not chained from genesis")
	}
}

func TestFSMReplayIsIdempotent(t *testing.T) {
	f, rec := newTestFSM(t)
	logs := script(t)
	f.ApplyBatch(logs)
	before := rec.hashes()
	st := f.Status()
	// raft replays entries after a restart: at or below the last applied index they are skipped.
	out := f.ApplyBatch(logs)
	for i, r := range out {
		if r != nil {
			t.Errorf("replayed entry %d was applied: %v", i, r)
		}
	}
	if !slices.Equal(rec.hashes(), before) || f.Status() != st {
		t.Error("replay changed the state")
	}
}

func TestFSMSameLogSameCheckpointsAcrossBatching(t *testing.T) {
	logs := script(t)
	a, ra := newTestFSM(t)
	a.ApplyBatch(logs)
	b, rb := newTestFSM(t)
	for _, l := range logs {
		b.Apply(l)
	}
	if !slices.Equal(ra.hashes(), rb.hashes()) || a.Status() != b.Status() {
		t.Fatal("the same log applied in other batches gave other checkpoints")
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoreContinuesIdentically(t *testing.T) {
	logs := script(t)
	cut := 4
	a, ra := newTestFSM(t)
	a.ApplyBatch(logs)
	b, rb := newTestFSM(t)
	b.ApplyBatch(logs[:cut])
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	c, rc := newTestFSM(t)
	c.Apply(entry(t, 99, Batch{Time: 5, Refs: []Ref{ref(9, 1)}, Cut: true})) // state to be discarded
	if err := c.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	// Restore hands the retained checkpoints to the sink again.
	if got := rc.hashes()[1:]; !slices.Equal(got, rb.hashes()) {
		t.Fatalf("restore re-delivered %d checkpoints, want %d", len(got), len(rb.hashes()))
	}
	c.ApplyBatch(logs[cut:])
	if c.Status() != a.Status() {
		t.Fatalf("restored FSM status %+v, want %+v", c.Status(), a.Status())
	}
	want := ra.hashes()
	got := rc.hashes()[1:]
	if !slices.Equal(got, want) {
		t.Fatal("restored FSM cut other checkpoints")
	}
	// Snapshots are deterministic: the same state encodes to the same bytes.
	snap2, _ := c.Snapshot()
	snap3, _ := a.Snapshot()
	var s2, s3 memSink
	if err := snap2.Persist(&s2); err != nil {
		t.Fatal(err)
	}
	if err := snap3.Persist(&s3); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s2.Bytes(), s3.Bytes()) {
		t.Fatal("equal states gave different snapshots")
	}
}

func TestFSMSizeCut(t *testing.T) {
	f, rec := newTestFSM(t)
	var refs []Ref
	for h := 1; h <= MaxBatchRefs; h++ {
		refs = append(refs, ref(0, h))
	}
	f.Apply(entry(t, 1, Batch{Time: 1, Refs: refs}))
	refs = refs[:0]
	for h := MaxBatchRefs + 1; h <= MaxBatchRefs+10; h++ {
		refs = append(refs, ref(0, h))
	}
	f.Apply(entry(t, 2, Batch{Time: 2, Refs: refs}))
	if len(rec.cps) != 1 || len(rec.cps[0].Blocks) != MaxCheckpointBlocks {
		t.Fatalf("size cut: %d checkpoints", len(rec.cps))
	}
	if st := f.Status(); st.Pending != 10 {
		t.Fatalf("%d pending after the size cut, want 10", st.Pending)
	}
}

func TestFSMHaltsOnUndecodableEntry(t *testing.T) {
	f, rec := newTestFSM(t)
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{CommandVersion, KindIgnorable | 1, 0xff}})
	if st := f.Status(); st.Halted != 0 {
		t.Fatal("an ignorable unknown kind halted the FSM")
	}
	f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{9, 1}})
	f.Apply(entry(t, 3, Batch{Time: 1, Refs: []Ref{ref(0, 1)}, Cut: true}))
	if st := f.Status(); st.Halted != 2 || st.LastIndex != 3 || len(rec.cps) != 0 {
		t.Fatalf("status %+v, %d checkpoints: want halted at 2 with nothing cut", st, len(rec.cps))
	}
}

func TestDecodeSnapshotRejectsDamage(t *testing.T) {
	f, _ := newTestFSM(t)
	f.ApplyBatch(script(t))
	snap, _ := f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	good := sink.Bytes()
	network := ledgertest.Network
	if _, err := decodeSnapshot(good, network); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n += 7 {
		if _, err := decodeSnapshot(good[:n], network); err == nil {
			t.Fatalf("truncated snapshot (%d of %d bytes) accepted", n, len(good))
		}
	}
	bad := slices.Clone(good)
	bad[len(bad)-5] ^= 1
	if _, err := decodeSnapshot(bad, network); err == nil {
		t.Fatal("damaged retained checkpoint accepted")
	}
}
