package store

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
)

// crashHook, when set by a test, is called at the named points of a commit; the crash test's
// child process kills itself there.
var crashHook func(point string)

// importSwitchHook, when set by a test, runs inside the transaction that switches the state
// generation at the end of ImportSnapshot; an error fails that transaction.
var importSwitchHook func() error

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// Apply applies checkpoint cb with the state machine m to the state of the last applied
// checkpoint and stores everything (ApplyCheckpoint). For a checkpoint already applied it
// applies nothing and returns the stored result (nil for one at or before an imported
// snapshot).
func (s *Store) Apply(m *ledger.Machine, cb *ledger.CheckpointBody, blocks []*ledger.Block, cert *ledger.Certificate) (*ledger.Result, error) {
	if err := checkArgs(cb, blocks); err != nil {
		return nil, err
	}
	seq := cb.Checkpoint.Seq
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.View()
	defer v.Release()
	if err := v.writable(); err != nil {
		return nil, fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	if m.Network() != s.genesis.Network {
		return nil, fmt.Errorf("apply checkpoint %d: machine of network %q, store of %q: %w", seq, m.Network(), s.genesis.Network, ErrMismatch)
	}
	if done, err := v.applied(cb); err != nil || done {
		if err != nil || seq <= v.base {
			return nil, err
		}
		return v.Result(seq)
	}
	n := 0
	for _, b := range blocks {
		n += len(b.Records)
	}
	s.pre.reset(n)
	defer s.pre.reset(0)
	res, err := m.ApplyObserved(v, cb, blocks, s.pre.add)
	if err != nil {
		return nil, fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	return res, s.applyLocked(v, cb, blocks, res, cert)
}

// ApplyCheckpoint stores checkpoint cb, its blocks (in checkpoint order), the result res of
// applying it to the state of the last applied checkpoint, and optionally its certificate:
// the blocks, the checkpoint, the receipts and record locations, the secondary indexes of the
// accepted records, the state writes and thereby the new ledger position. Either all of it
// becomes visible or none, also across a crash; when it returns nil, it is on disk (fsync).
//
// A checkpoint already applied (same sequence and hash) is a no-op; one with the same sequence
// and another hash fails with ErrConflict, one that does not follow with ErrOutOfOrder, and a
// result or certificate that does not belong to cb with ErrMismatch.
func (s *Store) ApplyCheckpoint(cb *ledger.CheckpointBody, blocks []*ledger.Block, res *ledger.Result, cert *ledger.Certificate) error {
	if err := checkArgs(cb, blocks); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.View()
	defer v.Release()
	if err := v.writable(); err != nil {
		return fmt.Errorf("apply checkpoint %d: %w", cb.Checkpoint.Seq, err)
	}
	if done, err := v.applied(cb); err != nil || done {
		return err
	}
	return s.applyLocked(v, cb, blocks, res, cert)
}

// preDecoded keeps the contributions the state machine accepted in the checkpoint being
// applied (Store.Apply), by position, so that deriving their index entries does not decode
// them a second time (13 % of the store's apply did). Reused under s.mu; empty outside
// Store.Apply (which resets it when it returns), so ApplyCheckpoint's derivation decodes
// every record.
type preDecoded struct {
	slab  []ledger.Contribution
	byOrd []int32 // 1 + index into slab; 0: not kept
}

func (p *preDecoded) reset(n int) {
	p.slab = p.slab[:0]
	if cap(p.byOrd) < n {
		p.byOrd = make([]int32, n)
		return
	}
	p.byOrd = p.byOrd[:n]
	clear(p.byOrd)
}

// add is the state machine's ledger.AcceptedFunc.
func (p *preDecoded) add(ord int, rec *ledger.Record, body ledger.Body) {
	c, ok := body.(*ledger.Contribution)
	if !ok || rec.Type != ledger.TypeContribution || ord < 0 || ord >= len(p.byOrd) {
		return
	}
	p.slab = append(p.slab, *c)
	p.slab[len(p.slab)-1].Evidence = nil // may share a buffer the machine reuses; not indexed
	p.byOrd[ord] = int32(len(p.slab))
}

// contribution returns the accepted contribution at ord, if the state machine told of it.
func (p *preDecoded) contribution(ord uint32) *ledger.Contribution {
	if uint64(ord) >= uint64(len(p.byOrd)) || p.byOrd[ord] == 0 {
		return nil
	}
	return &p.slab[p.byOrd[ord]-1]
}

// checkArgs refuses nil arguments, which would panic further on.
func checkArgs(cb *ledger.CheckpointBody, blocks []*ledger.Block) error {
	if cb == nil {
		return fmt.Errorf("apply checkpoint: no checkpoint: %w", ErrMismatch)
	}
	for i, b := range blocks {
		if b == nil {
			return fmt.Errorf("apply checkpoint %d: block %d missing: %w", cb.Checkpoint.Seq, i, ErrMismatch)
		}
	}
	return nil
}

// writable checks that the view (the current one, under s.mu) can take a write.
func (v *View) writable() error {
	if v.dead.Load() {
		return ErrClosed
	}
	if v.s.broken != nil { // under s.mu, as every writer is
		return v.s.broken
	}
	if !v.initialised {
		return ErrNotInitialised
	}
	return nil
}

// applied reports whether cb is already applied, and fails for a conflicting or non-following
// checkpoint.
func (v *View) applied(cb *ledger.CheckpointBody) (bool, error) {
	seq, h := cb.Checkpoint.Seq, cb.Checkpoint.Hash()
	switch {
	case seq == v.meta.Seq && seq != 0:
		if h != v.meta.Checkpoint {
			return false, fmt.Errorf("apply checkpoint %d: %s is applied there, not %s: %w", seq, v.meta.Checkpoint, h, ErrConflict)
		}
		return true, nil
	case seq != 0 && seq <= v.base:
		return true, nil // before the imported snapshot: final, and not stored here
	case seq < v.meta.Seq && seq != 0:
		sm, err := v.summary(seq)
		if err != nil {
			return false, fmt.Errorf("apply checkpoint %d: %w", seq, err)
		}
		if sm.checkpoint != h {
			return false, fmt.Errorf("apply checkpoint %d: %s is applied there, not %s: %w", seq, sm.checkpoint, h, ErrConflict)
		}
		return true, nil
	case seq != v.meta.Seq+1 || cb.Checkpoint.Prev != v.meta.Checkpoint:
		return false, fmt.Errorf("apply checkpoint %d (prev %s): the last applied is %d (%s): %w", seq, cb.Checkpoint.Prev, v.meta.Seq, v.meta.Checkpoint, ErrOutOfOrder)
	}
	return false, nil
}

// applyLocked stores a checked, following checkpoint; s.mu is held and v is the current view.
func (s *Store) applyLocked(v *View, cb *ledger.CheckpointBody, blocks []*ledger.Block, res *ledger.Result, cert *ledger.Certificate) error {
	seq := cb.Checkpoint.Seq
	if err := checkResult(s.genesis.Network, v.meta, cb, blocks, res, cert); err != nil {
		return fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	// The state writes are durable before badger commits the checkpoint (state.go): after a
	// crash the engine holds them if badger holds the checkpoint. A failed commit leaves them
	// appended but invisible (views read the state at s.applied); a retry replaces them.
	// The state engine takes them (its log's fsync included) while the indexes are derived
	// and appended: v reads both engines at the checkpoint before, which appending cannot
	// change.
	stateDone := make(chan error, 1)
	go func() { stateDone <- s.state.Append(seq, res.Writes) }()
	cs, err := s.changes(v, cb, blocks, res, cert)
	if err == nil {
		if err = s.index.Append(seq, cs.idx); err != nil {
			err = fmt.Errorf("write indexes: %w", stateErr(err))
		}
	}
	if serr := <-stateDone; serr != nil && err == nil {
		err = fmt.Errorf("write state: %w", stateErr(serr))
	}
	if err != nil {
		return fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	hook("state-appended")
	if err := s.commit(seq, cs); err != nil {
		return fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	s.applied = seq
	s.committed(seq)
	if err := s.publish(); err != nil {
		return fmt.Errorf("apply checkpoint %d: %w", seq, err)
	}
	return nil
}

// checkResult checks that blocks and res belong to cb and follow meta, and cert to res.
func checkResult(network string, meta ledger.Meta, cb *ledger.CheckpointBody, blocks []*ledger.Block, res *ledger.Result, cert *ledger.Certificate) error {
	if err := cb.Verify(network); err != nil {
		return fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	h := cb.Checkpoint.Hash()
	switch {
	case res == nil:
		return fmt.Errorf("no result: %w", ErrMismatch)
	case res.Seq != cb.Checkpoint.Seq || res.Checkpoint != h:
		return fmt.Errorf("result of checkpoint %d (%s): %w", res.Seq, res.Checkpoint, ErrMismatch)
	case res.PrevRoot != meta.StateRoot:
		return fmt.Errorf("result follows state root %s, the state is at %s: %w", res.PrevRoot, meta.StateRoot, ErrMismatch)
	case len(blocks) != len(cb.Blocks) || len(res.BlockCounts) != len(blocks):
		return fmt.Errorf("%d blocks and %d block counts for %d block hashes: %w", len(blocks), len(res.BlockCounts), len(cb.Blocks), ErrMismatch)
	}
	n := 0
	for i, b := range blocks {
		if b.Hash() != cb.Blocks[i] {
			return fmt.Errorf("block %d is not %s: %w", i, cb.Blocks[i], ErrMismatch)
		}
		if res.BlockCounts[i] != len(b.Records) {
			return fmt.Errorf("block %d has %d records, the result %d receipts: %w", i, len(b.Records), res.BlockCounts[i], ErrMismatch)
		}
		n += len(b.Records)
	}
	if n != len(res.Receipts) {
		return fmt.Errorf("%d records, %d receipts: %w", n, len(res.Receipts), ErrMismatch)
	}
	if ledger.ReceiptsRoot(res.Receipts) != res.ReceiptsRoot {
		return fmt.Errorf("receipts do not give the receipts root: %w", ErrMismatch)
	}
	if ledger.StateRoot(res.PrevRoot, res.Checkpoint, res.ReceiptsRoot, res.WritesDigest) != res.StateRoot {
		return fmt.Errorf("state root does not chain: %w", ErrMismatch)
	}
	// The writes must move the ledger to this checkpoint: the meta record is among them.
	after, err := ledger.ReadMeta(writesReader(res.Writes))
	if err != nil || after.Seq != res.Seq || after.Checkpoint != h || after.StateRoot != res.StateRoot {
		return fmt.Errorf("the writes do not record checkpoint %d as applied (%+v, %v): %w", res.Seq, after, err, ErrMismatch)
	}
	if cert != nil && (cert.Seq != res.Seq || cert.Checkpoint != h || cert.StateRoot != res.StateRoot) {
		return fmt.Errorf("certificate of %d (%s, root %s): %w", cert.Seq, cert.Checkpoint, cert.StateRoot, ErrMismatch)
	}
	return nil
}

// writesReader reads a checkpoint's writes: the last write of a key wins. It serves the one
// read of ledger.ReadMeta, so a linear scan is enough.
type writesReader []ledger.Write

func (ws writesReader) Get(key []byte) ([]byte, bool, error) {
	for i := len(ws) - 1; i >= 0; i-- {
		if string(ws[i].Key) == string(key) {
			return ws[i].Value, !ws[i].Delete, nil
		}
	}
	return nil, false, nil
}

// PutCertificate stores the certificate of an applied checkpoint; it must name the stored
// checkpoint hash and state root (ErrMismatch otherwise). Signatures are the caller's to check
// (ledger.Certificate.Verify with the ministry set in force).
func (s *Store) PutCertificate(cert *ledger.Certificate) error {
	if cert == nil {
		return fmt.Errorf("store certificate: none given: %w", ErrMismatch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.View()
	defer v.Release()
	if err := v.writable(); err != nil {
		return fmt.Errorf("store certificate %d: %w", cert.Seq, err)
	}
	sm, err := v.summary(cert.Seq)
	if err != nil {
		return fmt.Errorf("store certificate %d: %w", cert.Seq, err)
	}
	if cert.Checkpoint != sm.checkpoint || cert.StateRoot != sm.stateRoot {
		return fmt.Errorf("store certificate %d: checkpoint %s root %s, stored %s root %s: %w", cert.Seq, cert.Checkpoint, cert.StateRoot, sm.checkpoint, sm.stateRoot, ErrMismatch)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(seqKey(pfxCert, cert.Seq), cert.Encode()) }); err != nil {
		return fmt.Errorf("store certificate %d: %w", cert.Seq, err)
	}
	return s.publish()
}

// entry is one change: a set, or a delete.
type entry struct {
	key, val []byte
	del      bool
}

// changeSet is everything one checkpoint writes. blocks are content-addressed and invisible
// until ops place them, so they may be written before the commit point; ops are what the
// commit makes visible at once.
type changeSet struct {
	blocks []entry
	ops    []entry
	idx    []ledger.Write // index entries, for the index engine, in order (a later one wins)
	size   int64          // badger's estimate of the transaction size of blocks and ops
}

func (c *changeSet) account(e entry) {
	v := int64(len(e.val))
	if v >= valueThreshold {
		v = 12 // a value pointer
	}
	c.size += int64(len(e.key)) + v + 2 + 10 // as badger's Txn.checkSize counts
}

func (c *changeSet) put(key, val []byte) { c.add(entry{key: key, val: val}) }
func (c *changeSet) del(key []byte)      { c.add(entry{key: key, del: true}) }

// add routes one change: index keys to the index engine, in order (a later change of a key
// wins), the others to badger.
func (c *changeSet) add(e entry) {
	if isIndexKey(e.key) {
		c.idx = append(c.idx, ledger.Write{Key: e.key, Value: e.val, Delete: e.del})
		return
	}
	c.account(e)
	c.ops = append(c.ops, e)
}

func (c *changeSet) putBlock(key, val []byte) {
	e := entry{key: key, val: val}
	c.account(e)
	c.blocks = append(c.blocks, e)
}

// commit makes cs durable and visible at once. A change set that fits in one badger
// transaction is one synced transaction. A larger one goes through the redo journal:
//
//  1. blocks are written by a WriteBatch (content-addressed, invisible until placed);
//  2. the ops, serialised, are written to a journal file beside badger and synced;
//  3. the file is renamed to its committed name and the directory synced: the commit point;
//  4. the ops are written by WriteBatches (invisible to readers, whose views predate them);
//  5. the journal file is deleted and the directory synced.
//
// SyncWrites is on, so each badger step is on disk before the next starts. Open re-applies a
// committed journal (blind writes: idempotent) and deletes an uncommitted one (journal.go).
// An in-memory store has no crash to recover from: it writes the ops directly.
func (s *Store) commit(seq uint64, cs *changeSet) error {
	s.keysWritten.Add(int64(len(cs.blocks) + len(cs.ops)))
	n := int64(len(cs.blocks) + len(cs.ops))
	if (s.opts.journalAbove == 0 || n <= int64(s.opts.journalAbove)) && n < s.db.MaxBatchCount() && cs.size < s.db.MaxBatchSize() {
		err := s.commitTxn(cs)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return err
		}
	}
	return s.commitJournal(seq, cs)
}

func (s *Store) commitTxn(cs *changeSet) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, list := range [][]entry{cs.blocks, cs.ops} {
		for _, e := range list {
			var err error
			if e.del {
				err = txn.Delete(e.key)
			} else {
				err = txn.Set(e.key, e.val)
			}
			if err != nil {
				return err
			}
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	hook("txn-committed")
	return nil
}

func (s *Store) commitJournal(seq uint64, cs *changeSet) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range cs.blocks {
		if err := wb.Set(e.key, e.val); err != nil {
			return fmt.Errorf("write blocks: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write blocks: %w", err)
	}
	if !s.opts.InMemory {
		if err := s.writeJournal(seq, cs.ops); err != nil {
			return err
		}
	}
	hook("journal-committed")
	if err := s.redo(cs.ops); err != nil {
		return fmt.Errorf("apply journal: %w", err)
	}
	hook("redone")
	if !s.opts.InMemory {
		if err := s.dropJournal(seq); err != nil {
			return fmt.Errorf("drop journal: %w", err)
		}
	}
	return nil
}

// redo writes ops in WriteBatches of Options.redoBatch changes.
func (s *Store) redo(ops []entry) error {
	for len(ops) > 0 {
		n := min(len(ops), s.opts.redoBatch)
		wb := s.db.NewWriteBatch()
		for _, e := range ops[:n] {
			var err error
			if e.del {
				err = wb.Delete(e.key)
			} else {
				err = wb.Set(e.key, e.val)
			}
			if err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
		ops = ops[n:]
		if len(ops) > 0 {
			hook("redo-batch")
		}
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
