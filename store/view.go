package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store/internal/statedb"
)

// View is a read-only view of the store at one applied checkpoint: a badger read transaction
// taken after the checkpoint's last write, so nothing of a later checkpoint is visible in it,
// however far that checkpoint's writing has gone. Several goroutines may read through one View.
// It implements ledger.StateReader, so the ledger's queries (ledger.WorkerAccounts,
// ledger.GetTransfer, …) run on it. Release it when done.
type View struct {
	s           *Store
	txn         *badger.Txn
	snap        *statedb.Snap // the ledger state at the view's checkpoint
	isnap       *statedb.Snap // the indexes at the view's checkpoint
	db          *statedb.DB   // the engine snap is of
	gen         byte          // state generation (changes when a snapshot is imported)
	base        uint64        // the checkpoint the stored history starts after (0, or a snapshot's)
	initialised bool          // a genesis is stored
	meta        ledger.Meta   // ledger position, when initialised
	net         string        // network name, when initialised

	refs int         // under s.viewMu
	dead atomic.Bool // discarded
}

// Release gives the view back. Using it afterwards returns ErrClosed.
func (v *View) Release() {
	s := v.s
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if v.dead.Load() || v.txn == nil {
		return
	}
	v.refs--
	if v.refs == 0 {
		v.discard()
		delete(s.live, v)
		if len(s.retired) > 0 {
			s.closeRetiredLocked()
		}
	}
}

// discard ends the view's transaction and state snapshot (under s.viewMu, or before the view
// is published).
func (v *View) discard() {
	v.dead.Store(true)
	v.txn.Discard()
	if v.snap != nil {
		v.snap.Release()
	}
	if v.isnap != nil {
		v.isnap.Release()
	}
}

// enter guards a read against Close; the returned function ends it.
func (v *View) enter() (func(), error) {
	v.s.closeMu.RLock()
	if v.s.closed || v.dead.Load() {
		v.s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	return v.s.closeMu.RUnlock, nil
}

// Get implements ledger.StateReader: the state at the view's checkpoint.
func (v *View) Get(key []byte) ([]byte, bool, error) {
	leave, err := v.enter()
	if err != nil {
		return nil, false, err
	}
	defer leave()
	return v.reader().Get(key)
}

func (v *View) reader() stateReader { return stateReader{v.snap} }

// raw reads a store key; ErrNotFound if absent.
func (v *View) raw(key []byte) ([]byte, error) {
	leave, err := v.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	if isIndexKey(key) {
		val, ok, err := v.isnap.Get(key)
		switch {
		case err != nil:
			return nil, fmt.Errorf("read index %x: %w", key, stateErr(err))
		case !ok:
			return nil, ErrNotFound
		}
		return bytes.Clone(val), nil
	}
	val, err := getValue(v.txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	return val, err
}

// has reports whether a store key exists.
func (v *View) has(key []byte) (bool, error) {
	_, err := v.raw(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Meta returns the ledger position of the view: the last applied checkpoint.
func (v *View) Meta() (ledger.Meta, error) {
	if v.dead.Load() {
		return ledger.Meta{}, ErrClosed
	}
	if !v.initialised {
		return ledger.Meta{}, ErrNotInitialised
	}
	return v.meta, nil
}

// Base returns the checkpoint the stored history starts after: 0, or the sequence of the
// snapshot the state was imported from. Blocks, checkpoints and indexes exist only for the
// checkpoints applied on this store.
func (v *View) Base() uint64 { return v.base }

// Genesis returns the stored genesis.
func (v *View) Genesis() (*ledger.Genesis, error) {
	if !v.initialised {
		return nil, ErrNotInitialised
	}
	raw, err := v.raw(keyGenesis)
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	g, err := ledger.DecodeGenesis(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis: %w", ErrCorrupt, err)
	}
	return g, nil
}

// BlockPlace is where a block was ordered: its checkpoint and position in it.
type BlockPlace struct {
	Seq   uint64 `json:"checkpoint"`
	Index uint32 `json:"index"`
}

// Block returns a block of an applied checkpoint and its place. Blocks that were ordered but
// rejected by the state machine are returned too: they are part of the checkpoint.
func (v *View) Block(h ledger.Hash) (*ledger.Block, BlockPlace, error) {
	pl, err := v.raw(placeKey(h))
	if err != nil {
		return nil, BlockPlace{}, fmt.Errorf("block %s: %w", h, err)
	}
	if len(pl) != 12 {
		return nil, BlockPlace{}, fmt.Errorf("%w: block %s place %x", ErrCorrupt, h, pl)
	}
	place := BlockPlace{Seq: binary.BigEndian.Uint64(pl), Index: binary.BigEndian.Uint32(pl[8:])}
	b, err := v.blockBytes(h)
	return b, place, err
}

func (v *View) blockBytes(h ledger.Hash) (*ledger.Block, error) {
	val, err := v.raw(blockKey(h))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: placed block missing", ErrCorrupt)
		}
		return nil, fmt.Errorf("block %s: %w", h, err)
	}
	raw, err := blockBytes(val)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", h, err)
	}
	b, err := ledger.DecodeBlock(raw)
	if err != nil || b.Hash() != h {
		return nil, fmt.Errorf("%w: block %s does not decode to itself: %v", ErrCorrupt, h, err)
	}
	return b, nil
}

// BlockAt returns producer's accepted block at height.
func (v *View) BlockAt(producer ledger.KeyID, height uint64) (*ledger.Block, error) {
	p, ok := chainPrefix(producer)
	if !ok {
		return nil, fmt.Errorf("block of %s at %d: %w", producer.Short(), height, ErrNotFound)
	}
	h, err := v.raw(appendU64(p, height))
	if err != nil {
		return nil, fmt.Errorf("block of %s at %d: %w", producer.Short(), height, err)
	}
	return v.blockBytes(ledger.Hash(h))
}

// LatestBlock returns producer's last accepted block (ErrNotFound if none).
func (v *View) LatestBlock(producer ledger.KeyID) (*ledger.Block, error) {
	_, h, err := v.LatestRef(producer)
	if err != nil {
		return nil, err
	}
	return v.blockBytes(h)
}

// LatestRef returns the height and hash of producer's last accepted block (ErrNotFound if
// none) from the chain index alone: without reading and decoding the block, which is most of
// the cost of a tip look-up (gossip validation asks for one per block received).
func (v *View) LatestRef(producer ledger.KeyID) (uint64, ledger.Hash, error) {
	p, ok := chainPrefix(producer)
	if !ok {
		return 0, ledger.Hash{}, fmt.Errorf("latest block of %s: %w", producer.Short(), ErrNotFound)
	}
	var height uint64
	var h ledger.Hash
	found := false
	err := v.scanReverse(p, func(k, val []byte) error {
		if len(val) != len(h) || len(k) != len(p)+8 {
			return fmt.Errorf("%w: chain entry of %s", ErrCorrupt, producer.Short())
		}
		height, h, found = binary.BigEndian.Uint64(k[len(p):]), ledger.Hash(val), true
		return errStop
	})
	if err != nil {
		return 0, ledger.Hash{}, fmt.Errorf("latest block of %s: %w", producer.Short(), err)
	}
	if !found {
		return 0, ledger.Hash{}, fmt.Errorf("latest block of %s: %w", producer.Short(), ErrNotFound)
	}
	return height, h, nil
}

// Checkpoint returns the applied checkpoint seq.
func (v *View) Checkpoint(seq uint64) (*ledger.CheckpointBody, error) {
	raw, err := v.raw(seqKey(pfxCkpt, seq))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", seq, err)
	}
	cb, err := ledger.DecodeCheckpointBody(raw, v.net)
	if err != nil || cb.Checkpoint.Seq != seq {
		return nil, fmt.Errorf("%w: checkpoint %d: %v", ErrCorrupt, seq, err)
	}
	return cb, nil
}

// Certificate returns the certificate stored for checkpoint seq (ErrNotFound if none yet).
func (v *View) Certificate(seq uint64) (*ledger.Certificate, error) {
	raw, err := v.raw(seqKey(pfxCert, seq))
	if err != nil {
		return nil, fmt.Errorf("certificate %d: %w", seq, err)
	}
	c, err := ledger.DecodeCertificate(raw)
	if err != nil || c.Seq != seq {
		return nil, fmt.Errorf("%w: certificate %d: %v", ErrCorrupt, seq, err)
	}
	return c, nil
}

// summary is the stored part of a checkpoint's result besides its receipts.
type summary struct {
	checkpoint, prevRoot, receiptsRoot, writesDigest, stateRoot ledger.Hash
}

func (s summary) encode() []byte {
	b := make([]byte, 0, 160)
	for _, h := range []ledger.Hash{s.checkpoint, s.prevRoot, s.receiptsRoot, s.writesDigest, s.stateRoot} {
		b = append(b, h[:]...)
	}
	return b
}

func decodeSummary(b []byte) (summary, bool) {
	if len(b) != 160 {
		return summary{}, false
	}
	var s summary
	for i, h := range []*ledger.Hash{&s.checkpoint, &s.prevRoot, &s.receiptsRoot, &s.writesDigest, &s.stateRoot} {
		copy(h[:], b[i*32:])
	}
	return s, true
}

func (v *View) summary(seq uint64) (summary, error) {
	raw, err := v.raw(seqKey(pfxSummary, seq))
	if err != nil {
		return summary{}, fmt.Errorf("result of checkpoint %d: %w", seq, err)
	}
	sm, ok := decodeSummary(raw)
	if !ok {
		return summary{}, fmt.Errorf("%w: result of checkpoint %d", ErrCorrupt, seq)
	}
	return sm, nil
}

// Result returns what applying checkpoint seq produced: receipts (with their messages), roots
// and block counts. Writes are not kept.
func (v *View) Result(seq uint64) (*ledger.Result, error) {
	sm, err := v.summary(seq)
	if err != nil {
		return nil, err
	}
	res := &ledger.Result{Seq: seq, PrevRoot: sm.prevRoot, Checkpoint: sm.checkpoint, ReceiptsRoot: sm.receiptsRoot,
		WritesDigest: sm.writesDigest, StateRoot: sm.stateRoot}
	want := uint32(0)
	err = v.scan(receiptsPrefix(seq), nil, func(key, val []byte) error {
		if binary.BigEndian.Uint32(key[9:]) != want {
			return fmt.Errorf("%w: receipts of checkpoint %d: block %d missing", ErrCorrupt, seq, want)
		}
		want++
		rs, err := decodeReceipts(val)
		if err != nil {
			return fmt.Errorf("%w: receipts of checkpoint %d block %d: %w", ErrCorrupt, seq, want-1, err)
		}
		res.Receipts = append(res.Receipts, rs...)
		res.BlockCounts = append(res.BlockCounts, len(rs))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("result of checkpoint %d: %w", seq, err)
	}
	return res, nil
}

// Location is where a record was applied and with what receipt code. For a record ID that was
// applied more than once, it is the application that decided it: the first that was not a
// duplicate, or the first in a rejected block when it was never applied otherwise.
type Location struct {
	Seq        uint64      `json:"checkpoint"`
	BlockIndex uint32      `json:"block_index"` // the block's position in the checkpoint
	Block      ledger.Hash `json:"block"`       // from the checkpoint: not stored per record
	Index      uint32      `json:"index"`       // the record's position in the block
	Code       string      `json:"code"`
}

// encode is the stored form (format 2): uvarint seq, block index and index, then the code.
// The block hash is the checkpoint's BlockIndex-th and the worker is in the record, so
// neither is repeated per record (64 incompressible bytes of every record in format 1).
func (l Location) encode() []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen32+len(l.Code))
	b = binary.AppendUvarint(b, l.Seq)
	b = binary.AppendUvarint(b, uint64(l.BlockIndex))
	b = binary.AppendUvarint(b, uint64(l.Index))
	return append(b, l.Code...)
}

// decodeLocation parses encode's form; the block hash is left for the caller to fill.
func decodeLocation(b []byte) (Location, bool) {
	var l Location
	var f [3]uint64
	for i := range f {
		v, n := binary.Uvarint(b)
		if n <= 0 || (i > 0 && v > 0xffffffff) {
			return Location{}, false
		}
		f[i], b = v, b[n:]
	}
	if len(b) == 0 {
		return Location{}, false
	}
	l.Seq, l.BlockIndex, l.Index, l.Code = f[0], uint32(f[1]), uint32(f[2]), string(b)
	return l, true
}

// Location returns where record id was applied: for a record the state machine decided
// (accepted, or rejected by a rule or as undecodable), the checkpoint and code from the ledger's
// state and the position from that checkpoint's receipts (for undecodable bytes, which are
// rejected each time they come, the latest); for a record only ever seen in rejected blocks,
// the first such block.
func (v *View) Location(id ledger.Hash) (Location, error) {
	leave, err := v.enter()
	if err != nil {
		return Location{}, err
	}
	code, seq, ok, err := ledger.RecordStatus(v.reader(), id)
	leave()
	if err != nil {
		return Location{}, fmt.Errorf("record %s: %w", id, err)
	}
	var l Location
	if ok {
		if seq <= v.base {
			// Applied before an imported snapshot: its checkpoint is not stored here.
			return Location{}, fmt.Errorf("record %s: applied at %d, before the stored history: %w", id, seq, ErrNotFound)
		}
		if l, err = v.findReceipt(seq, id, code); err != nil {
			return Location{}, err
		}
	} else {
		raw, err := v.raw(locationKey(id))
		if err != nil {
			return Location{}, fmt.Errorf("record %s: %w", id, err)
		}
		var good bool
		if l, good = decodeLocation(raw); !good {
			return Location{}, fmt.Errorf("%w: location of record %s", ErrCorrupt, id)
		}
	}
	cb, err := v.Checkpoint(l.Seq)
	if err != nil {
		return Location{}, fmt.Errorf("%w: record %s located in checkpoint %d: %v", ErrCorrupt, id, l.Seq, err)
	}
	if int(l.BlockIndex) >= len(cb.Blocks) {
		return Location{}, fmt.Errorf("%w: record %s located in block %d of a %d-block checkpoint", ErrCorrupt, id, l.BlockIndex, len(cb.Blocks))
	}
	l.Block = cb.Blocks[l.BlockIndex]
	return l, nil
}

// findReceipt finds the last receipt of record id with code in checkpoint seq's receipt lists.
// The ledger's state names the checkpoint; not finding the receipt there is damage. Only
// undecodable bytes can have two receipts with one code in a checkpoint (the ledger rejects
// them each time), so for any other code the first match ends the scan.
func (v *View) findReceipt(seq uint64, id ledger.Hash, code string) (Location, error) {
	l := Location{Seq: seq, Code: code}
	found := false
	err := v.scan(receiptsPrefix(seq), nil, func(key, val []byte) error {
		if len(key) != 13 {
			return fmt.Errorf("%w: receipts key %x", ErrCorrupt, key)
		}
		blk := binary.BigEndian.Uint32(key[9:])
		if err := scanReceipts(val, func(i uint32, rid []byte, rcode []byte) {
			if string(rid) == string(id[:]) && string(rcode) == code {
				l.BlockIndex, l.Index, found = blk, i, true
			}
		}); err != nil {
			return err
		}
		if found && code != ledger.CodeFormat {
			return errStop
		}
		return nil
	})
	if err != nil {
		return Location{}, fmt.Errorf("record %s: receipts of checkpoint %d: %w", id, seq, err)
	}
	if !found {
		return Location{}, fmt.Errorf("%w: record %s: the state names checkpoint %d (%s), whose receipts lack it", ErrCorrupt, id, seq, code)
	}
	return l, nil
}

// Record returns the bytes of record id and where it was applied.
func (v *View) Record(id ledger.Hash) ([]byte, Location, error) {
	l, err := v.Location(id)
	if err != nil {
		return nil, Location{}, err
	}
	b, err := v.blockBytes(l.Block)
	if err != nil {
		return nil, l, fmt.Errorf("record %s: %w", id, err)
	}
	if int(l.Index) >= len(b.Records) {
		return nil, l, fmt.Errorf("%w: record %s at %d of a %d-record block", ErrCorrupt, id, l.Index, len(b.Records))
	}
	return b.Records[l.Index], l, nil
}

// RecordProof builds the offline-verifiable proof of record id (ledger.RecordProof); the
// checkpoint must have a certificate (ErrNotFound otherwise).
func (v *View) RecordProof(id ledger.Hash) (*ledger.RecordProof, error) {
	l, err := v.Location(id)
	if err != nil {
		return nil, err
	}
	cert, err := v.Certificate(l.Seq)
	if err != nil {
		return nil, fmt.Errorf("proof of record %s: %w", id, err)
	}
	b, err := v.blockBytes(l.Block)
	if err != nil {
		return nil, err
	}
	cb, err := v.Checkpoint(l.Seq)
	if err != nil {
		return nil, err
	}
	res, err := v.Result(l.Seq)
	if err != nil {
		return nil, err
	}
	p, err := ledger.BuildRecordProof(b, int(l.Index), cb, res, *cert)
	if err != nil {
		return nil, fmt.Errorf("%w: proof of record %s: %w", ErrCorrupt, id, err)
	}
	return p, nil
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// scan calls fn for the keys with prefix from start (nil: the prefix) on, in order, until fn
// returns errStop or an error. val is valid only during the call.
func (v *View) scan(prefix, start []byte, fn func(key, val []byte) error) error {
	if start == nil {
		start = prefix
	}
	return v.iterate(badger.IteratorOptions{Prefix: prefix}, start, fn)
}

// scanState calls fn for every pair of the view's state in key order (the slices are valid
// during the call only).
// ScanState calls fn for every key of the ledger state with prefix, in key order, as of the
// view's checkpoint (ledger.StateScanner); an error from fn stops the scan and is returned. k
// and val are valid only during the call.
func (v *View) ScanState(prefix []byte, fn func(key, val []byte) error) error {
	leave, err := v.enter()
	if err != nil {
		return err
	}
	defer leave()
	return stateErr(v.snap.Scan(prefix, nil, fn))
}

func (v *View) scanState(fn func(key, val []byte) error) error {
	leave, err := v.enter()
	if err != nil {
		return err
	}
	defer leave()
	return stateErr(v.snap.Scan(nil, nil, fn))
}

// scanIndex is scan over the index engine (inside enter).
func (v *View) scanIndex(prefix, start []byte, fn func(key, val []byte) error) error {
	err := v.isnap.Scan(prefix, start, fn)
	if errors.Is(err, errStop) {
		return nil
	}
	return stateErr(err)
}

// scanReverse is scan from the last key with prefix backwards.
func (v *View) scanReverse(prefix []byte, fn func(key, val []byte) error) error {
	// A reverse seek lands on the last key ≤ its argument: seek past every key with prefix.
	seek := append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 64)...)
	return v.iterate(badger.IteratorOptions{Prefix: prefix, Reverse: true}, seek, fn)
}

func (v *View) iterate(opts badger.IteratorOptions, seek []byte, fn func(key, val []byte) error) error {
	leave, err := v.enter()
	if err != nil {
		return err
	}
	defer leave()
	if isIndexKey(opts.Prefix) {
		if opts.Reverse {
			return fmt.Errorf("reverse scan of index %x: not supported", opts.Prefix)
		}
		return v.scanIndex(opts.Prefix, seek, fn)
	}
	it := v.txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(seek); it.ValidForPrefix(opts.Prefix); it.Next() {
		item := it.Item()
		var ferr error
		if err := item.Value(func(val []byte) error {
			if ferr = checkValue(item, val); ferr == nil {
				ferr = fn(item.Key(), val)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("read %x: %w", item.Key(), err)
		}
		if errors.Is(ferr, errStop) {
			return nil
		}
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// scanKeys is scan without reading values.
func (v *View) scanKeys(prefix, start []byte, fn func(key []byte) error) error {
	leave, err := v.enter()
	if err != nil {
		return err
	}
	defer leave()
	if start == nil {
		start = prefix
	}
	if isIndexKey(prefix) {
		return v.scanIndex(prefix, start, func(k, _ []byte) error { return fn(k) })
	}
	it := v.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		if err := fn(it.Item().Key()); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}
