package store

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
)

// checkConsistency is the cheap check Open runs after recovery: the ledger position in the
// state agrees with the stored checkpoint table, and nothing of a later checkpoint is stored.
// It catches a state and a checkpoint table that came apart (lost or damaged files) instead of
// serving them.
func (v *View) checkConsistency() error {
	if !v.initialised {
		for _, p := range []byte{pfxCkpt, pfxSummary, pfxLocation} {
			found := false
			if err := v.scanKeys([]byte{p}, nil, func([]byte) error { found = true; return errStop }); err != nil {
				return err
			}
			if found {
				return fmt.Errorf("%w: no genesis, but %q keys are stored", ErrCorrupt, p)
			}
		}
		return nil
	}
	m := v.meta
	if m.Seq != v.s.applied {
		return fmt.Errorf("%w: the state records checkpoint %d, the stored checkpoints end at %d", ErrCorrupt, m.Seq, v.s.applied)
	}
	if m.Seq < v.base {
		return fmt.Errorf("%w: state at checkpoint %d, before its base %d", ErrCorrupt, m.Seq, v.base)
	}
	if m.Seq > v.base {
		sm, err := v.summary(m.Seq)
		if err != nil {
			return fmt.Errorf("%w: state at checkpoint %d: %w", ErrCorrupt, m.Seq, err)
		}
		if sm.checkpoint != m.Checkpoint || sm.stateRoot != m.StateRoot {
			return fmt.Errorf("%w: state at checkpoint %d (%s, root %s), stored result %s root %s",
				ErrCorrupt, m.Seq, m.Checkpoint, m.StateRoot, sm.checkpoint, sm.stateRoot)
		}
		if _, err := v.Checkpoint(m.Seq); err != nil {
			return fmt.Errorf("%w: state at checkpoint %d: %w", ErrCorrupt, m.Seq, err)
		}
	}
	for _, p := range []byte{pfxCkpt, pfxSummary} {
		if ok, err := v.has(seqKey(p, m.Seq+1)); err != nil || ok {
			return fmt.Errorf("%w: state at checkpoint %d, but %q of %d is stored (%v)", ErrCorrupt, m.Seq, p, m.Seq+1, err)
		}
	}
	return nil
}

// verifyFull reads every key and value (so every value-log entry in use passes its checksum)
// and walks the checkpoint chain: each stored checkpoint follows the previous one, its result
// chains the state roots, and its blocks, places and receipts are stored.
func (v *View) verifyFull() error {
	leave, err := v.enter()
	if err != nil {
		return err
	}
	it := v.txn.NewIterator(badger.IteratorOptions{AllVersions: false})
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if err := item.Value(func(val []byte) error { return checkValue(item, val) }); err != nil {
			it.Close()
			leave()
			return fmt.Errorf("%w: read %x: %w", ErrCorrupt, it.Item().Key(), err)
		}
		n++
	}
	it.Close()
	leave()
	if !v.initialised {
		return nil
	}
	var prev *summary
	for seq := v.base + 1; seq <= v.meta.Seq; seq++ {
		cb, err := v.Checkpoint(seq)
		if err != nil {
			return err
		}
		sm, err := v.summary(seq)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if sm.checkpoint != cb.Checkpoint.Hash() || (prev != nil && (cb.Checkpoint.Prev != prev.checkpoint || sm.prevRoot != prev.stateRoot)) {
			return fmt.Errorf("%w: checkpoint %d does not chain onto %d", ErrCorrupt, seq, seq-1)
		}
		for i, h := range cb.Blocks {
			for _, key := range [][]byte{placeKey(h), blockKey(h), receiptsKey(seq, uint32(i))} {
				if ok, err := v.has(key); err != nil || !ok {
					return fmt.Errorf("%w: checkpoint %d block %d: %x missing (%v)", ErrCorrupt, seq, i, key[:1], err)
				}
			}
		}
		prev = &sm
	}
	v.s.log.Info("verified every stored value and the checkpoint chain", "keys", n, "seq", v.meta.Seq)
	return nil
}

// StateDigest returns the full-state digest of the view's state (ledger.StateDigest: the pairs
// in key order) and the number of pairs.
func (v *View) StateDigest() (ledger.Hash, uint64, error) {
	d := ledger.NewStateDigest()
	err := v.scanState(func(key, val []byte) error { return d.Add(key, val) })
	if err != nil {
		return ledger.Hash{}, 0, fmt.Errorf("state digest: %w", err)
	}
	return d.Sum(), d.Len(), nil
}

// Replay applies the stored checkpoints that follow st's position, up to the view's, to st with
// the state machine of the stored genesis, and checks every state root against the stored one.
// An empty st starts from the genesis; a st left by an earlier Replay continues from there.
// It fails for a history that starts at an imported snapshot (Base > 0) unless st is there.
func (v *View) Replay(ctx context.Context, st *ledger.MemState) error {
	g, err := v.Genesis()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if st.Len() == 0 {
		st.Commit(ledger.GenesisWrites(g))
	}
	meta, err := ledger.ReadMeta(st)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if meta.Seq < v.base {
		return fmt.Errorf("replay from %d: the stored history starts after checkpoint %d (imported snapshot)", meta.Seq, v.base)
	}
	m := ledger.NewMachine(g)
	for seq := meta.Seq + 1; seq <= v.meta.Seq; seq++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		cb, err := v.Checkpoint(seq)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		blocks := make([]*ledger.Block, len(cb.Blocks))
		for i, h := range cb.Blocks {
			if blocks[i], err = v.blockBytes(h); err != nil {
				return fmt.Errorf("replay checkpoint %d: %w", seq, err)
			}
		}
		res, err := m.Apply(st, cb, blocks)
		if err != nil {
			return fmt.Errorf("replay checkpoint %d: %w", seq, err)
		}
		sm, err := v.summary(seq)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if res.StateRoot != sm.stateRoot {
			return fmt.Errorf("%w: replay of checkpoint %d gives state root %s, the store holds %s", ErrCorrupt, seq, res.StateRoot, sm.stateRoot)
		}
		st.Commit(res.Writes)
		res.Release() // the state copied the writes: the next checkpoint reuses the buffers
	}
	return nil
}

// VerifyState replays the whole stored history into a fresh in-memory state and checks that
// it ends in the view's state: the same root at every checkpoint and the same full-state
// digest.
func (v *View) VerifyState(ctx context.Context) error {
	st := ledger.NewMemState()
	if err := v.Replay(ctx, st); err != nil {
		return err
	}
	want := st.Digest()
	got, _, err := v.StateDigest()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: the stored state (digest %s) is not the replayed one (%s)", ErrCorrupt, got, want)
	}
	return nil
}
