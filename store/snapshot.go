package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store/internal/statedb"
)

// Snapshot stream format, version 1. All integers are big-endian; every length is checked
// against its bound before anything is allocated or read.
//
//	magic    8 bytes "JMNSNAP" 0x01
//	header   u32 length H (≤ MaxSnapshotHeader), then H bytes:
//	           u8 network length, network,
//	           genesis hash (32),
//	           meta: seq u64, checkpoint hash (32), state root (32), time u64
//	chunks   each: u32 length L (1 ≤ L ≤ MaxSnapshotChunk), then L bytes:
//	           u32 pair count n (≥ 1), then n pairs, each
//	           u16 key length (1 ≤ k ≤ MaxSnapshotKey), key, u32 value length (≤ MaxSnapshotValue), value;
//	           the pairs fill the chunk exactly
//	end      u32 0
//	trailer  u64 pair count, state digest (32)
//
// Keys are the ledger's state keys, strictly ascending across the whole stream; the digest is
// ledger.StateDigest over the pairs in that order. Nothing may follow the trailer.
const (
	MaxSnapshotHeader = 1 << 10
	MaxSnapshotChunk  = 8 << 20
	MaxSnapshotKey    = 1 << 10
	MaxSnapshotValue  = 4 << 20
)

// snapshotChunkTarget is the chunk size the exporter aims at.
const snapshotChunkTarget = 1 << 20

var snapshotMagic = []byte("JMNSNAP\x01")

// ErrSnapshot is returned (wrapped) when a snapshot stream is malformed, exceeds a bound, is out
// of order, or does not match what the importer expects.
var ErrSnapshot = errors.New("invalid snapshot")

// SnapshotInfo describes a snapshot stream.
type SnapshotInfo struct {
	Network string      `json:"network"`
	Genesis ledger.Hash `json:"genesis"`
	Meta    ledger.Meta `json:"meta"`
	Pairs   uint64      `json:"pairs"`
	Digest  ledger.Hash `json:"digest"`
}

// ExportSnapshot writes the view's full state and ledger position to w in the snapshot format.
func (v *View) ExportSnapshot(w io.Writer) (SnapshotInfo, error) {
	g, err := v.Genesis()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("export snapshot: %w", err)
	}
	info := SnapshotInfo{Network: g.Network, Genesis: g.Hash(), Meta: v.meta}
	bw := bufio.NewWriterSize(w, 1<<16)
	hdr, err := encodeSnapshotHeader(info)
	if err != nil {
		return info, fmt.Errorf("export snapshot: %w", err)
	}
	bw.Write(snapshotMagic)
	bw.Write(appendU32(nil, uint32(len(hdr))))
	bw.Write(hdr)
	d := ledger.NewStateDigest()
	var chunk []byte
	n := uint32(0)
	flush := func() {
		if n == 0 {
			return
		}
		bw.Write(appendU32(nil, uint32(4+len(chunk))))
		bw.Write(appendU32(nil, n))
		bw.Write(chunk)
		chunk, n = chunk[:0], 0
	}
	err = v.scanState(func(k, val []byte) error {
		if len(k) == 0 || len(k) > MaxSnapshotKey || len(val) > MaxSnapshotValue {
			return fmt.Errorf("state pair %x (%d-byte value) exceeds the snapshot bounds", k, len(val))
		}
		if err := d.Add(k, val); err != nil {
			return err
		}
		if len(chunk)+6+len(k)+len(val) > MaxSnapshotChunk-4 {
			flush()
		}
		chunk = binary.BigEndian.AppendUint16(chunk, uint16(len(k)))
		chunk = append(chunk, k...)
		chunk = appendU32(chunk, uint32(len(val)))
		chunk = append(chunk, val...)
		n++
		if len(chunk) >= snapshotChunkTarget {
			flush()
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("export snapshot: %w", err)
	}
	flush()
	info.Pairs, info.Digest = d.Len(), d.Sum()
	bw.Write(appendU32(nil, 0))
	bw.Write(appendU64(nil, info.Pairs))
	bw.Write(info.Digest[:])
	if err := bw.Flush(); err != nil {
		return info, fmt.Errorf("export snapshot: %w", err)
	}
	return info, nil
}

func encodeSnapshotHeader(info SnapshotInfo) ([]byte, error) {
	if len(info.Network) > 255 {
		return nil, fmt.Errorf("network name of %d bytes", len(info.Network))
	}
	b := append([]byte{byte(len(info.Network))}, info.Network...)
	b = append(b, info.Genesis[:]...)
	b = appendU64(b, info.Meta.Seq)
	b = append(b, info.Meta.Checkpoint[:]...)
	b = append(b, info.Meta.StateRoot[:]...)
	return appendU64(b, info.Meta.Time), nil
}

func decodeSnapshotHeader(b []byte) (SnapshotInfo, error) {
	var info SnapshotInfo
	if len(b) < 1 || len(b) != 1+int(b[0])+32+8+32+32+8 {
		return info, fmt.Errorf("%w: header of %d bytes", ErrSnapshot, len(b))
	}
	nl := int(b[0])
	info.Network = string(b[1 : 1+nl])
	b = b[1+nl:]
	copy(info.Genesis[:], b)
	info.Meta.Seq = binary.BigEndian.Uint64(b[32:])
	copy(info.Meta.Checkpoint[:], b[40:])
	copy(info.Meta.StateRoot[:], b[72:])
	info.Meta.Time = binary.BigEndian.Uint64(b[104:])
	return info, nil
}

// ReadSnapshot reads and checks a snapshot stream from untrusted bytes: its format and bounds,
// the strict order of its keys, and the trailer's count and digest against the pairs read. It
// calls pair, if not nil, for each pair in order (the slices are valid until ReadSnapshot
// returns). It does not know what digest or position to expect: ImportSnapshot checks those.
func ReadSnapshot(r io.Reader, pair func(key, val []byte) error) (SnapshotInfo, error) {
	return readSnapshot(r, nil, pair)
}

func readSnapshot(r io.Reader, header func(SnapshotInfo) error, pair func(key, val []byte) error) (SnapshotInfo, error) {
	if r == nil {
		return SnapshotInfo{}, fmt.Errorf("%w: no stream", ErrSnapshot)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	read := func(n int, what string) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSnapshot, what, err)
		}
		return b, nil
	}
	u32 := func(what string) (uint32, error) {
		b, err := read(4, what)
		if err != nil {
			return 0, err
		}
		return binary.BigEndian.Uint32(b), nil
	}
	magic, err := read(len(snapshotMagic), "magic")
	if err != nil {
		return SnapshotInfo{}, err
	}
	if !bytes.Equal(magic, snapshotMagic) {
		return SnapshotInfo{}, fmt.Errorf("%w: magic %q", ErrSnapshot, magic)
	}
	hl, err := u32("header length")
	if err != nil {
		return SnapshotInfo{}, err
	}
	if hl > MaxSnapshotHeader {
		return SnapshotInfo{}, fmt.Errorf("%w: header of %d bytes exceeds %d", ErrSnapshot, hl, MaxSnapshotHeader)
	}
	hb, err := read(int(hl), "header")
	if err != nil {
		return SnapshotInfo{}, err
	}
	info, err := decodeSnapshotHeader(hb)
	if err != nil {
		return info, err
	}
	if header != nil {
		if err := header(info); err != nil {
			return info, err
		}
	}
	d := ledger.NewStateDigest()
	for {
		cl, err := u32("chunk length")
		if err != nil {
			return info, err
		}
		if cl == 0 {
			break
		}
		if cl > MaxSnapshotChunk || cl < 4 {
			return info, fmt.Errorf("%w: chunk of %d bytes (1–%d)", ErrSnapshot, cl, MaxSnapshotChunk)
		}
		c, err := read(int(cl), "chunk")
		if err != nil {
			return info, err
		}
		n := binary.BigEndian.Uint32(c)
		c = c[4:]
		if n == 0 {
			return info, fmt.Errorf("%w: empty chunk", ErrSnapshot)
		}
		for i := uint32(0); i < n; i++ {
			if len(c) < 2 {
				return info, fmt.Errorf("%w: pair %d overruns its chunk", ErrSnapshot, d.Len())
			}
			kl := int(binary.BigEndian.Uint16(c))
			if kl == 0 || kl > MaxSnapshotKey || len(c) < 2+kl+4 {
				return info, fmt.Errorf("%w: key of %d bytes at pair %d", ErrSnapshot, kl, d.Len())
			}
			key := c[2 : 2+kl]
			vl := binary.BigEndian.Uint32(c[2+kl:])
			c = c[2+kl+4:]
			if vl > MaxSnapshotValue || int(vl) > len(c) {
				return info, fmt.Errorf("%w: value of %d bytes at pair %d", ErrSnapshot, vl, d.Len())
			}
			val := c[:vl]
			c = c[vl:]
			if err := d.Add(key, val); err != nil { // strictly ascending keys
				return info, fmt.Errorf("%w: %w", ErrSnapshot, err)
			}
			if pair != nil {
				if err := pair(key, val); err != nil {
					return info, err
				}
			}
		}
		if len(c) != 0 {
			return info, fmt.Errorf("%w: %d bytes after the pairs of a chunk", ErrSnapshot, len(c))
		}
	}
	tr, err := read(40, "trailer")
	if err != nil {
		return info, err
	}
	info.Pairs, info.Digest = d.Len(), d.Sum()
	if binary.BigEndian.Uint64(tr) != info.Pairs || !bytes.Equal(tr[8:], info.Digest[:]) {
		return info, fmt.Errorf("%w: trailer says %d pairs with digest %x, the stream holds %d with %s",
			ErrSnapshot, binary.BigEndian.Uint64(tr), tr[8:], info.Pairs, info.Digest)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return info, fmt.Errorf("%w: bytes after the trailer (%v)", ErrSnapshot, err)
	}
	return info, nil
}

// SnapshotExpect is what an importer must know before it trusts a snapshot: the certified
// checkpoint the snapshot is at (sequence, checkpoint hash, state root, from its certificate)
// and the full-state digest, which the state root does not commit to (DESIGN.md): it comes from
// a ministry-signed snapshot attestation.
type SnapshotExpect struct {
	Seq        uint64
	Checkpoint ledger.Hash
	StateRoot  ledger.Hash
	Digest     ledger.Hash
	// Pairs, when not 0, is the number of (key, value) pairs the attestation names: a stream
	// that brings more is refused at the first pair too many, before it can fill the disk with
	// pairs the digest would refuse only at the end.
	Pairs uint64
}

// ImportSnapshot replaces the state with the snapshot read from r, after checking it: the
// format, bounds and key order (ReadSnapshot), the network and genesis against the stored
// genesis, the position in the header and in the state's own meta record against want, and
// the digest against want.Digest. The state is written under a new generation of state keys and
// switched to in one transaction only when every check passed; a failed import leaves the store
// as it was. The snapshot must be ahead of the stored state. Blocks, checkpoints and indexes of
// the skipped checkpoints are not in a snapshot: the history then starts after want.Seq (Base).
func (s *Store) ImportSnapshot(r io.Reader, want SnapshotExpect) (SnapshotInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.View()
	defer v.Release()
	if err := v.writable(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("import snapshot: %w", err)
	}
	if want.Seq <= v.meta.Seq {
		return SnapshotInfo{}, fmt.Errorf("import snapshot at %d: the store is at %d: %w", want.Seq, v.meta.Seq, ErrOutOfOrder)
	}
	g := s.genesis
	gen := v.gen + 1
	dir := s.stateDir(gen)
	if err := os.RemoveAll(dir); err != nil {
		return SnapshotInfo{}, fmt.Errorf("import snapshot: clear generation %d: %w", gen, err)
	}
	var db *statedb.DB
	fail := func(err error) (SnapshotInfo, error) {
		if db != nil {
			err = errors.Join(err, db.Close())
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			s.log.Warn("import snapshot: remove the rejected state (Open retries)", "err", rerr)
		}
		return SnapshotInfo{}, fmt.Errorf("import snapshot at %d: %w", want.Seq, err)
	}
	header := func(info SnapshotInfo) error {
		switch {
		case info.Network != g.Network || info.Genesis != g.Hash():
			return fmt.Errorf("%w: network %q genesis %s, the store's is %q %s", ErrSnapshot, info.Network, info.Genesis, g.Network, g.Hash())
		case info.Meta.Seq != want.Seq || info.Meta.Checkpoint != want.Checkpoint || info.Meta.StateRoot != want.StateRoot:
			return fmt.Errorf("%w: at checkpoint %d (%s, root %s), want %d (%s, root %s)", ErrSnapshot,
				info.Meta.Seq, info.Meta.Checkpoint, info.Meta.StateRoot, want.Seq, want.Checkpoint, want.StateRoot)
		}
		return nil
	}
	// The stream's pairs, checked by readSnapshot, are written by the engine's bulk build as
	// they come (strictly ascending, as the engine's runs need them).
	var (
		info  SnapshotInfo
		rerr  error
		pairs uint64
	)
	next, stop := iter.Pull2(func(yield func(k, v []byte) bool) {
		info, rerr = readSnapshot(r, header, func(key, val []byte) error {
			if pairs++; want.Pairs != 0 && pairs > want.Pairs {
				return fmt.Errorf("%w: more than the %d pairs attested", ErrSnapshot, want.Pairs)
			}
			if !yield(key, val) {
				return errStop
			}
			return nil
		})
	})
	berr := statedb.Build(dir, want.Seq, func() ([]byte, []byte, bool, error) {
		k, v, ok := next()
		if !ok {
			return nil, nil, false, rerr
		}
		return k, v, true, nil
	}, s.stateOptions())
	stop()
	switch {
	case rerr != nil && !errors.Is(rerr, errStop):
		return fail(rerr)
	case berr != nil:
		return fail(fmt.Errorf("write state: %w", berr))
	case want.Pairs != 0 && info.Pairs != want.Pairs:
		return fail(fmt.Errorf("%w: %d pairs, %d attested", ErrSnapshot, info.Pairs, want.Pairs))
	case info.Digest != want.Digest:
		return fail(fmt.Errorf("%w: digest %s, want %s", ErrSnapshot, info.Digest, want.Digest))
	}
	db, err := statedb.Open(dir, want.Seq, s.stateOptions())
	if err != nil {
		return fail(fmt.Errorf("open the imported state: %w", stateErr(err)))
	}
	// The state's own meta record must say the same as the header.
	snap, err := db.Snapshot(want.Seq)
	if err != nil {
		return fail(fmt.Errorf("read the imported state: %w", stateErr(err)))
	}
	meta, err := ledger.ReadMeta(stateReader{snap})
	snap.Release()
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrSnapshot, err))
	}
	if meta != info.Meta {
		return fail(fmt.Errorf("%w: the state records %+v, the header %+v", ErrSnapshot, meta, info.Meta))
	}
	// The indexes go on from the snapshot's checkpoint (they hold nothing of the checkpoints it
	// skips); like a checkpoint's, their entry is durable before badger's switch.
	if err := s.index.Append(want.Seq, nil); err != nil {
		return fail(fmt.Errorf("advance the indexes: %w", stateErr(err)))
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		if importSwitchHook != nil {
			if err := importSwitchHook(); err != nil {
				return err
			}
		}
		if err := txn.Set(keyGen, []byte{gen}); err != nil {
			return err
		}
		return txn.Set(keyBase, appendU64(nil, want.Seq))
	})
	if err != nil {
		// The indexes' engine holds the snapshot's entry, which nothing will commit: the next
		// checkpoint's entry would be refused as out of order. Open drops it; until then the
		// store refuses writes with a clear reason.
		s.broken = fmt.Errorf("an import's switch to checkpoint %d failed after the indexes advanced (%v): close and reopen the store", want.Seq, err)
		return fail(err)
	}
	old := s.state
	s.state, s.applied = db, want.Seq
	s.committed(want.Seq)
	perr := s.publish()
	// The old generation stays readable by the views that hold it; it is closed and removed
	// when the last of them is released (or by the next Open).
	s.retireState(old, s.stateDir(v.gen))
	if perr != nil {
		return info, fmt.Errorf("import snapshot at %d: %w", want.Seq, perr)
	}
	s.log.Info("imported snapshot", "seq", want.Seq, "pairs", info.Pairs, "digest", info.Digest.String())
	return info, nil
}
