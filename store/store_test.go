package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// testLogger sends warnings and errors to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

func openMem(t testing.TB) *Store {
	t.Helper()
	s, err := Open("", Options{InMemory: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDisk(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	opts.Logger = testLogger(t)
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a store driven by a history, with the same history applied to a MemState.
type fixture struct {
	t   testing.TB
	s   *Store
	net *ledgertest.Net
	h   *ledgertest.History
	mem *ledger.MemState
	// steps keeps what was applied, for references.
	steps []step
}

type step struct {
	cb     *ledger.CheckpointBody
	blocks []*ledger.Block
	res    *ledger.Result
}

func newFixture(t testing.TB, s *Store, seed uint64) *fixture {
	t.Helper()
	n := ledgertest.New(t)
	if err := s.Init(n.Genesis); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, net: n, h: ledgertest.NewHistory(n, seed), mem: n.GenesisState()}
}

// next applies the next checkpoint through Store.Apply and to the MemState.
func (f *fixture) next(blocks, perBlock int) *ledger.Result {
	f.t.Helper()
	cb, bs := f.h.Next(f.mem, blocks, perBlock)
	want := f.net.ApplyMem(f.mem, cb, bs)
	res, err := f.s.Apply(f.net.Machine, cb, bs, nil)
	if err != nil {
		f.t.Fatalf("apply checkpoint %d: %v", cb.Checkpoint.Seq, err)
	}
	if res.StateRoot != want.StateRoot {
		f.t.Fatalf("checkpoint %d: store root %s, memory root %s", cb.Checkpoint.Seq, res.StateRoot, want.StateRoot)
	}
	f.steps = append(f.steps, step{cb, bs, want})
	return res
}

func (f *fixture) checkState() {
	f.t.Helper()
	v := f.s.View()
	defer v.Release()
	got, n, err := v.StateDigest()
	if err != nil {
		f.t.Fatal(err)
	}
	if want := f.mem.Digest(); got != want || int(n) != f.mem.Len() {
		f.t.Fatalf("state digest %s (%d keys), memory %s (%d keys)", got, n, want, f.mem.Len())
	}
}

func TestApplyStoresEverything(t *testing.T) {
	s := openMem(t)
	f := newFixture(t, s, 1)
	for range 30 {
		f.next(3, 12)
	}
	f.checkState()
	v := s.View()
	defer v.Release()
	meta, err := v.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := ledger.ReadMeta(f.mem); meta != want {
		t.Fatalf("meta %+v, want %+v", meta, want)
	}
	if got, _ := s.Meta(); got != meta {
		t.Fatalf("Store.Meta %+v, View.Meta %+v", got, meta)
	}
	seen := map[ledger.Hash]bool{}
	for _, st := range f.steps {
		seq := st.cb.Checkpoint.Seq
		cb, err := v.Checkpoint(seq)
		if err != nil || cb.Checkpoint.Hash() != st.cb.Checkpoint.Hash() {
			t.Fatalf("checkpoint %d: %v", seq, err)
		}
		res, err := v.Result(seq)
		if err != nil {
			t.Fatal(err)
		}
		if res.StateRoot != st.res.StateRoot || res.ReceiptsRoot != ledger.ReceiptsRoot(res.Receipts) || len(res.Receipts) != len(st.res.Receipts) {
			t.Fatalf("result %d differs", seq)
		}
		for i, rc := range st.res.Receipts {
			if res.Receipts[i] != rc {
				t.Fatalf("receipt %d of %d: %+v, want %+v", i, seq, res.Receipts[i], rc)
			}
		}
		k := 0
		for j, b := range st.blocks {
			got, place, err := v.Block(b.Hash())
			if err != nil || got.Hash() != b.Hash() {
				t.Fatalf("block %d of %d: %v", j, seq, err)
			}
			if !seen[b.Hash()] && (place.Seq != seq || place.Index != uint32(j)) {
				t.Fatalf("block %d of %d placed at %+v", j, seq, place)
			}
			seen[b.Hash()] = true
			if st.res.Receipts[k].Code != ledger.CodeBlock {
				at, err := v.BlockAt(b.Header.Producer, b.Header.Height)
				if err != nil || at.Hash() != b.Hash() {
					t.Fatalf("block of %s at %d: %v", b.Header.Producer.Short(), b.Header.Height, err)
				}
			}
			k += len(b.Records)
		}
	}
	for prov, b := range f.net.Bureau {
		tip, ok := f.net.Tip(b.ID())
		if !ok {
			continue
		}
		got, err := v.LatestBlock(b.ID())
		if err != nil || got.Header != tip {
			t.Fatalf("latest block of %s: %v", prov, err)
		}
		height, hash, err := v.LatestRef(b.ID())
		if err != nil || height != tip.Height || hash != tip.Hash() {
			t.Fatalf("latest ref of %s: %d %s %v, want %d %s", prov, height, hash, err, tip.Height, tip.Hash())
		}
	}
	if _, err := v.LatestBlock(f.net.Ministry[0].ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest block of a ministry key: %v", err)
	}
	if _, _, err := v.LatestRef(f.net.Ministry[0].ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest ref of a ministry key: %v", err)
	}
	if err := v.VerifyState(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRecordProofFromStore(t *testing.T) {
	s := openMem(t)
	f := newFixture(t, s, 2)
	res := f.next(2, 5)
	v := s.View()
	id := res.Receipts[0].ID
	if _, err := v.RecordProof(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("proof without a certificate: %v", err)
	}
	v.Release()
	cert := f.net.Certify(res)
	bad := *cert
	bad.StateRoot[0] ^= 1
	if err := s.PutCertificate(&bad); !errors.Is(err, ErrMismatch) {
		t.Fatalf("certificate of another root: %v", err)
	}
	if err := s.PutCertificate(cert); err != nil {
		t.Fatal(err)
	}
	v = s.View()
	defer v.Release()
	for _, rc := range res.Receipts {
		loc, err := v.Location(rc.ID)
		if errors.Is(err, ErrNotFound) && rc.Code == ledger.CodeDuplicate {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if loc.Seq != 1 {
			continue // a record seen again
		}
		p, err := v.RecordProof(rc.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := p.Verify(f.net.Genesis)
		if rc.Code == ledger.CodeFormat && err != nil {
			continue // undecodable bytes prove their receipt but not a record
		}
		if err != nil {
			t.Fatalf("proof of %s: %v", rc.ID, err)
		}
		if rec.ID() != rc.ID || p.Code != loc.Code {
			t.Fatalf("proof of %s proves %s with %s", rc.ID, rec.ID(), p.Code)
		}
	}
}

func TestReapplyIsNoopAndConflictsFail(t *testing.T) {
	s := openMem(t)
	f := newFixture(t, s, 3)
	for range 3 {
		f.next(2, 4)
	}
	first, last := f.steps[0], f.steps[2]
	before := s.View()
	defer before.Release()
	for _, st := range []step{first, last} {
		if err := s.ApplyCheckpoint(st.cb, st.blocks, st.res, nil); err != nil {
			t.Fatalf("re-apply %d: %v", st.cb.Checkpoint.Seq, err)
		}
		res, err := s.Apply(f.net.Machine, st.cb, st.blocks, nil)
		if err != nil || res.StateRoot != st.res.StateRoot {
			t.Fatalf("re-apply %d through the machine: %v", st.cb.Checkpoint.Seq, err)
		}
	}
	if after := s.View(); after != before {
		after.Release()
		t.Fatal("a no-op re-apply published a new view")
	} else {
		after.Release()
	}
	// Another checkpoint at an applied sequence.
	other := ledger.NewCheckpoint(f.net.Genesis.Network, 2, f.steps[0].res.Checkpoint, f.net.Time+5000, []ledger.Hash{f.steps[1].blocks[0].Hash()})
	if err := s.ApplyCheckpoint(&other, f.steps[1].blocks[:1], f.steps[1].res, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting checkpoint: %v", err)
	}
	// A gap.
	cb, bs := f.h.Next(f.mem, 1, 2)
	res := f.net.ApplyMem(f.mem, cb, bs)
	cb2, bs2 := f.h.Next(f.mem, 1, 2)
	res2 := f.net.ApplyMem(f.mem, cb2, bs2)
	if err := s.ApplyCheckpoint(cb2, bs2, res2, nil); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("checkpoint after a gap: %v", err)
	}
	// A result that is not the checkpoint's.
	bad := *res
	bad.Receipts = append([]ledger.Receipt(nil), res.Receipts...)
	bad.Receipts[0].Code = "forged"
	if err := s.ApplyCheckpoint(cb, bs, &bad, nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("forged receipts: %v", err)
	}
	badCert := f.net.Certify(res2)
	if err := s.ApplyCheckpoint(cb, bs, res, badCert); !errors.Is(err, ErrMismatch) {
		t.Fatalf("certificate of another checkpoint: %v", err)
	}
	if err := s.ApplyCheckpoint(cb, bs[:0], res, nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("missing blocks: %v", err)
	}
	if m, _ := s.Meta(); m.Seq != 3 {
		t.Fatalf("failed applies moved the store to %d", m.Seq)
	}
	if err := s.ApplyCheckpoint(cb, bs, res, f.net.Certify(res)); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCheckpoint(cb2, bs2, res2, nil); err != nil {
		t.Fatal(err)
	}
	f.checkState()
}

func TestViewIsPinned(t *testing.T) {
	s := openMem(t)
	f := newFixture(t, s, 4)
	f.next(2, 5)
	old := s.View()
	defer old.Release()
	oldMeta, _ := old.Meta()
	oldDigest, _, err := old.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.next(2, 5)
	}
	if m, _ := old.Meta(); m != oldMeta {
		t.Fatalf("old view moved to %d", m.Seq)
	}
	if d, _, _ := old.StateDigest(); d != oldDigest {
		t.Fatal("old view sees later writes")
	}
	if _, err := old.Checkpoint(oldMeta.Seq + 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old view sees a later checkpoint: %v", err)
	}
	f.checkState()
}

func TestInitAndClose(t *testing.T) {
	s := openMem(t)
	if _, err := s.Meta(); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("meta before init: %v", err)
	}
	n := ledgertest.New(t)
	if _, err := s.Apply(n.Machine, n.Checkpoint(ledger.Meta{}), nil, nil); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("apply before init: %v", err)
	}
	if err := s.Init(n.Genesis); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(n.Genesis); err != nil {
		t.Fatalf("second init with the same genesis: %v", err)
	}
	other := *n.Genesis
	other.Network = "another"
	if err := s.Init(&other); !errors.Is(err, ErrConflict) {
		t.Fatalf("init with another genesis: %v", err)
	}
	v := s.View()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, _, err := v.Get([]byte("Mmeta")); !errors.Is(err, ErrClosed) {
		t.Fatalf("read through a view after close: %v", err)
	}
	v.Release()
	if _, err := s.Meta(); !errors.Is(err, ErrClosed) {
		t.Fatalf("meta after close: %v", err)
	}
	if err := s.Init(n.Genesis); !errors.Is(err, ErrClosed) {
		t.Fatalf("init after close: %v", err)
	}
}

func TestReopenKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	f := newFixture(t, s, 5)
	for range 5 {
		f.next(2, 8)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDisk(t, dir, Options{Verify: VerifyFull})
	defer s.Close()
	f.s = s
	f.checkState()
	if err := s.Init(f.net.Genesis); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f.next(2, 8)
	}
	f.checkState()
}

// TestReadersNeverSeePartialCheckpoints applies checkpoints through the journal, written in
// small batches, while readers take views and check each against the in-memory state of the
// checkpoint the view says it is at: the full-state digest, and the checkpoint table.
func TestReadersNeverSeePartialCheckpoints(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{journalAbove: 3, redoBatch: 2})
	defer s.Close()
	f := newFixture(t, s, 6)
	var mu sync.Mutex
	digests := map[uint64]ledger.Hash{0: f.mem.Digest()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	checked := make([]int, 2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := s.View()
				meta, err := v.Meta()
				if err == nil {
					var got ledger.Hash
					got, _, err = v.StateDigest()
					mu.Lock()
					want, known := digests[meta.Seq]
					mu.Unlock()
					if err == nil && known && got != want {
						err = fmt.Errorf("view at %d: state digest %s, want %s", meta.Seq, got, want)
					}
					if err == nil {
						if _, cerr := v.Checkpoint(meta.Seq + 1); !errors.Is(cerr, ErrNotFound) {
							err = fmt.Errorf("view at %d sees checkpoint %d (%v)", meta.Seq, meta.Seq+1, cerr)
						}
					}
					if err == nil && known {
						checked[r]++
					}
				}
				v.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 25 {
		res := f.next(3, 12)
		mu.Lock()
		digests[res.Seq] = f.mem.Digest()
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if checked[0] == 0 || checked[1] == 0 {
		t.Fatalf("readers checked %v views", checked)
	}
}

// TestOpenOtherFormat: a directory written in format 1 (record locations with block hash and
// worker) is refused with ErrFormat, which says what to do, and is left as it was.
func TestOpenOtherFormat(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{})
	if err := s.Init(ledgertest.New(t).Genesis); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFormat, u32b(1)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := Open(dir, Options{Logger: testLogger(t)})
		if !errors.Is(err, ErrFormat) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("open a format-1 store: %v, want ErrFormat", err)
		}
		t.Log(err)
	}
}

// TestEngineSize: the engines' bytes grow with applied checkpoints and read zero once closed.
func TestEngineSize(t *testing.T) {
	s := openDisk(t, t.TempDir(), Options{StateMemBytes: 64 << 10})
	f := newFixture(t, s, 3)
	st0, ix0 := s.EngineSize()
	for range 10 {
		f.next(2, 40)
	}
	st1, ix1 := s.EngineSize()
	if st1 <= st0 || ix1 <= ix0 {
		t.Fatalf("engine bytes %d/%d after the genesis, %d/%d after 10 checkpoints: want growth", st0, ix0, st1, ix1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, ix := s.EngineSize(); st != 0 || ix != 0 {
		t.Fatalf("engine bytes %d/%d after Close", st, ix)
	}
}
