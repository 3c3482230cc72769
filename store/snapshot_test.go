package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// pair is one state pair of a hand-built snapshot stream.
type pair struct{ k, v []byte }

// encodeSnapshot writes a snapshot stream from its parts, following the documented format
// independently of ExportSnapshot, perPairs pairs per chunk. The trailer is computed from the
// pairs unless trailer is given.
func encodeSnapshot(info SnapshotInfo, pairs []pair, perChunk int, trailer []byte) []byte {
	var b []byte
	b = append(b, "JMNSNAP\x01"...)
	hdr := append([]byte{byte(len(info.Network))}, info.Network...)
	hdr = append(hdr, info.Genesis[:]...)
	hdr = binary.BigEndian.AppendUint64(hdr, info.Meta.Seq)
	hdr = append(hdr, info.Meta.Checkpoint[:]...)
	hdr = append(hdr, info.Meta.StateRoot[:]...)
	hdr = binary.BigEndian.AppendUint64(hdr, info.Meta.Time)
	b = binary.BigEndian.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	d := ledger.NewStateDigest()
	for i := 0; i < len(pairs); i += perChunk {
		var c []byte
		n := 0
		for _, p := range pairs[i:min(i+perChunk, len(pairs))] {
			c = binary.BigEndian.AppendUint16(c, uint16(len(p.k)))
			c = append(c, p.k...)
			c = binary.BigEndian.AppendUint32(c, uint32(len(p.v)))
			c = append(c, p.v...)
			d.Add(p.k, p.v) // an out-of-order pair is left out of the digest, as the reader will find
			n++
		}
		b = binary.BigEndian.AppendUint32(b, uint32(4+len(c)))
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, c...)
	}
	b = binary.BigEndian.AppendUint32(b, 0)
	if trailer == nil {
		sum := d.Sum()
		trailer = append(binary.BigEndian.AppendUint64(nil, uint64(len(pairs))), sum[:]...)
	}
	return append(b, trailer...)
}

// snapshotSource is a store with a history, and what a certified checkpoint and a snapshot
// attestation would tell an importer about its last checkpoint.
func snapshotSource(t testing.TB) (*fixture, []byte, SnapshotExpect, []pair) {
	s := openMem(t)
	f := newFixture(t, s, 11)
	var res *ledger.Result
	for range 40 {
		res = f.next(2, 20)
	}
	cert := f.net.Certify(res)
	v := s.View()
	defer v.Release()
	var buf bytes.Buffer
	info, err := v.ExportSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.mem.Digest(); info.Digest != want || info.Pairs != uint64(f.mem.Len()) {
		t.Fatalf("exported digest %s of %d pairs, state %s of %d", info.Digest, info.Pairs, want, f.mem.Len())
	}
	var pairs []pair
	if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), func(k, v []byte) error {
		pairs = append(pairs, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The documented format, written independently, gives the same bytes for the same chunking.
	if again := encodeSnapshot(info, pairs, len(pairs), nil); !bytes.Equal(again, buf.Bytes()) {
		t.Fatal("the exported stream is not the documented format")
	}
	return f, buf.Bytes(), SnapshotExpect{Seq: cert.Seq, Checkpoint: cert.Checkpoint, StateRoot: cert.StateRoot, Digest: info.Digest}, pairs
}

func TestSnapshotRoundTrip(t *testing.T) {
	f, stream, want, _ := snapshotSource(t)
	dir := t.TempDir()
	dst := openDisk(t, dir, Options{})
	if err := dst.Init(f.net.Genesis); err != nil {
		t.Fatal(err)
	}
	info, err := dst.ImportSnapshot(bytes.NewReader(stream), want)
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		v := s.View()
		defer v.Release()
		d, _, err := v.StateDigest()
		if err != nil || d != f.mem.Digest() {
			t.Fatalf("imported digest %s (%v), source %s", d, err, f.mem.Digest())
		}
		m, _ := v.Meta()
		if srcMeta, _ := ledger.ReadMeta(f.mem); m != srcMeta {
			t.Fatalf("imported meta %+v, source %+v", m, srcMeta)
		}
	}
	if info.Digest != want.Digest {
		t.Fatalf("import reports digest %s, want %s", info.Digest, want.Digest)
	}
	check(dst)
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openDisk(t, dir, Options{Verify: VerifyFull})
	defer dst.Close()
	check(dst)
	v := dst.View()
	if v.Base() != want.Seq {
		t.Fatalf("base %d, want %d", v.Base(), want.Seq)
	}
	if err := v.Replay(context.Background(), ledger.NewMemState()); err == nil {
		t.Fatal("replay from the genesis of a store that starts at a snapshot")
	}
	v.Release()
	// Both stores go on with the same checkpoints and agree.
	for range 3 {
		res := f.next(2, 10)
		st := f.steps[len(f.steps)-1]
		if err := dst.ApplyCheckpoint(st.cb, st.blocks, res, nil); err != nil {
			t.Fatal(err)
		}
	}
	check(dst)
	// Re-applying the snapshot's own checkpoint or an earlier one is a no-op.
	if err := dst.ApplyCheckpoint(f.steps[5].cb, f.steps[5].blocks, f.steps[5].res, nil); err != nil {
		t.Fatalf("a checkpoint before the snapshot: %v", err)
	}
	if _, err := dst.ImportSnapshot(bytes.NewReader(stream), want); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("importing an older snapshot: %v", err)
	}
}

// TestSnapshotImportRejects feeds damaged, oversized, reordered and unexpected streams to an
// import and checks each is refused with ErrSnapshot and leaves the target store as it was.
func TestSnapshotImportRejects(t *testing.T) {
	f, stream, want, pairs := snapshotSource(t)
	var src SnapshotInfo
	src, err := ReadSnapshot(bytes.NewReader(stream), nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) []byte {
		b := bytes.Clone(stream)
		b[off] ^= 0x01
		return b
	}
	hdrLen := 8 + 4 + 1 + len(src.Network) + 32 + 8 + 32 + 32 + 8
	swapped := append([]pair(nil), pairs...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	other := src
	other.Network = "another"
	bigValue := append([]pair(nil), pairs...)
	bigValue[0].v = make([]byte, MaxSnapshotValue+1)
	bigKey := append([]pair(nil), pairs...)
	bigKey[0].k = bytes.Repeat([]byte{0}, MaxSnapshotKey+1)
	chunkLenAt := hdrLen
	oversizedChunk := bytes.Clone(stream)
	binary.BigEndian.PutUint32(oversizedChunk[chunkLenAt:], MaxSnapshotChunk+1)
	oversizedHeader := bytes.Clone(stream)
	binary.BigEndian.PutUint32(oversizedHeader[8:], MaxSnapshotHeader+1)
	otherMeta := withOtherMeta(t, pairs)
	wrong := func(mod func(*SnapshotExpect)) SnapshotExpect {
		w := want
		mod(&w)
		return w
	}
	cases := []struct {
		name   string
		stream []byte
		want   SnapshotExpect
	}{
		{"byte flipped in the magic", flip(0), want},
		{"byte flipped in the header's meta", flip(8 + 4 + 1 + len(src.Network) + 32 + 3), want},
		{"byte flipped in the first key", flip(hdrLen + 4 + 4 + 2), want},
		{"byte flipped in the middle", flip(len(stream) / 2), want},
		{"byte flipped in the trailer's digest", flip(len(stream) - 5), want},
		{"byte flipped in the trailer's count", flip(len(stream) - 33), want},
		{"wrong expected digest", stream, wrong(func(w *SnapshotExpect) { w.Digest[0] ^= 1 })},
		{"wrong expected sequence", stream, wrong(func(w *SnapshotExpect) { w.Seq++ })},
		{"wrong expected checkpoint", stream, wrong(func(w *SnapshotExpect) { w.Checkpoint[31] ^= 1 })},
		{"wrong expected state root", stream, wrong(func(w *SnapshotExpect) { w.StateRoot[0] ^= 1 })},
		{"truncated in the header", stream[:20], want},
		{"truncated in a chunk", stream[:len(stream)/2], want},
		{"truncated before the trailer", stream[:len(stream)-40], want},
		{"truncated in the trailer", stream[:len(stream)-1], want},
		{"empty", nil, want},
		{"bytes after the trailer", append(bytes.Clone(stream), 0), want},
		{"oversized chunk length", oversizedChunk, want},
		{"oversized header length", oversizedHeader, want},
		{"oversized value", encodeSnapshot(src, bigValue, 50, nil), want},
		{"oversized key", encodeSnapshot(src, bigKey, 50, nil), want},
		{"keys out of order", encodeSnapshot(src, swapped, 50, nil), want},
		{"a key repeated", encodeSnapshot(src, append([]pair{pairs[0]}, pairs...), 50, nil), want},
		{"a pair left out", encodeSnapshot(src, pairs[1:], 50, nil), want},
		{"another network", encodeSnapshot(other, pairs, 50, nil), want},
		{"state meta disagrees with the header", encodeSnapshot(src, otherMeta, 50, nil),
			wrong(func(w *SnapshotExpect) { w.Digest = digestOf(otherMeta) })},
		{"more pairs than attested", stream, wrong(func(w *SnapshotExpect) { w.Pairs = uint64(len(pairs) - 1) })},
		{"fewer pairs than attested", stream, wrong(func(w *SnapshotExpect) { w.Pairs = uint64(len(pairs) + 1) })},
	}
	// A small memtable makes the import's WriteBatch commit several times before the stream ends,
	// so a late failure has written part of the state, which must be removed.
	dst := openDisk(t, t.TempDir(), Options{MemTableSize: 1 << 20})
	defer dst.Close()
	if err := dst.Init(f.net.Genesis); err != nil {
		t.Fatal(err)
	}
	before := storeFingerprint(t, dst)
	for _, c := range cases {
		_, err := dst.ImportSnapshot(bytes.NewReader(c.stream), c.want)
		if !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: import gave %v, want ErrSnapshot", c.name, err)
		}
		if after := storeFingerprint(t, dst); after != before {
			t.Fatalf("%s: the failed import changed the store", c.name)
		}
	}
	// A valid re-chunking of the same pairs is accepted: the format, not the chunking, is checked.
	if _, err := dst.ImportSnapshot(bytes.NewReader(encodeSnapshot(src, pairs, 7, nil)), wrong(func(w *SnapshotExpect) { w.Pairs = uint64(len(pairs)) })); err != nil {
		t.Fatalf("the same pairs in chunks of 7: %v", err)
	}
	if storeFingerprint(t, dst) == before {
		t.Fatal("a successful import did not change the store")
	}
}

// withOtherMeta returns pairs whose ledger meta record (found as the pair that decodes to the
// current meta) records another time: a valid meta that disagrees with the header.
func withOtherMeta(t *testing.T, pairs []pair) []pair {
	t.Helper()
	mem := ledger.NewMemState()
	for _, p := range pairs {
		mem.Commit([]ledger.Write{{Key: p.k, Value: p.v}})
	}
	cur, err := ledger.ReadMeta(mem)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]pair(nil), pairs...)
	for i, p := range out {
		if m, err := ledger.ReadMeta(singleReader(p)); err == nil && m == cur {
			out[i].v = bytes.Clone(p.v)
			out[i].v[len(out[i].v)-1] ^= 1 // the last byte of the time, an 8-byte integer
			if m, err := ledger.ReadMeta(singleReader(out[i])); err != nil || m.Time == cur.Time {
				t.Fatalf("tampered meta %+v: %v", m, err)
			}
			return out
		}
	}
	t.Fatal("no meta record among the pairs")
	return nil
}

// singleReader answers every key with one pair's value, to find the meta record by decoding.
type singleReader pair

func (r singleReader) Get(key []byte) ([]byte, bool, error) {
	if !bytes.Equal(key, r.k) {
		return nil, false, nil
	}
	return r.v, true, nil
}

func digestOf(pairs []pair) ledger.Hash {
	d := ledger.NewStateDigest()
	for _, p := range pairs {
		d.Add(p.k, p.v)
	}
	return d.Sum()
}

// storeFingerprint digests every key and value of the database as it is now — all prefixes and
// generations, written after the current view too.
func storeFingerprint(t *testing.T, s *Store) string {
	t.Helper()
	d := ledger.NewStateDigest()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			val, err := itemValue(it.Item())
			if err != nil {
				return err
			}
			if err := d.Add(it.Item().Key(), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/%d", d.Sum(), d.Len())
}

// FuzzReadSnapshot feeds arbitrary bytes to the snapshot reader: it must never panic or allocate
// beyond its bounds, and what it accepts must be in strict key order with a matching count.
func FuzzReadSnapshot(f *testing.F) {
	n := ledgertest.New(f)
	st := n.GenesisState()
	var pairs []pair
	for _, k := range st.Keys(nil) {
		v, _, _ := st.Get(k)
		pairs = append(pairs, pair{k, v})
	}
	info := SnapshotInfo{Network: n.Genesis.Network, Genesis: n.Genesis.Hash()}
	valid := encodeSnapshot(info, pairs, 2, nil)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(encodeSnapshot(info, nil, 1, nil))
	f.Add([]byte("JMNSNAP\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var last []byte
		count := uint64(0)
		info, err := ReadSnapshot(bytes.NewReader(data), func(k, v []byte) error {
			if last != nil && bytes.Compare(k, last) <= 0 {
				t.Fatalf("key %x after %x", k, last)
			}
			if len(k) > MaxSnapshotKey || len(v) > MaxSnapshotValue {
				t.Fatalf("pair beyond the bounds: %d, %d", len(k), len(v))
			}
			last = bytes.Clone(k)
			count++
			return nil
		})
		if err == nil && info.Pairs != count {
			t.Fatalf("accepted with %d pairs, visited %d", info.Pairs, count)
		}
		if err != nil && !errors.Is(err, ErrSnapshot) {
			t.Fatalf("error not wrapping ErrSnapshot: %v", err)
		}
	})
}

// FuzzImportSnapshot feeds arbitrary streams to ImportSnapshot, with the valid snapshot as a
// seed: an import either succeeds with exactly the attested state, or fails with an error and
// leaves the store as it was (position, state digest, and a later import still works).
func FuzzImportSnapshot(f *testing.F) {
	fx, stream, want, _ := snapshotSource(f)
	f.Add(stream)
	f.Add(stream[:len(stream)/2])
	f.Add(append(bytes.Clone(stream), 0))
	flipped := bytes.Clone(stream)
	flipped[len(flipped)/3] ^= 0x20
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := openMem(t)
		defer dst.Close()
		if err := dst.Init(fx.net.Genesis); err != nil {
			t.Fatal(err)
		}
		v := dst.View()
		d0, _, err := v.StateDigest()
		m0, _ := v.Meta()
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		_, ierr := dst.ImportSnapshot(bytes.NewReader(data), want)
		v = dst.View()
		defer v.Release()
		d1, _, err := v.StateDigest()
		if err != nil {
			t.Fatalf("state after an import (%v): %v", ierr, err)
		}
		m1, _ := v.Meta()
		if ierr == nil {
			if d1 != want.Digest || m1.Seq != want.Seq {
				t.Fatalf("import accepted: state %s at %d, attested %s at %d", d1, m1.Seq, want.Digest, want.Seq)
			}
			return
		}
		if d1 != d0 || m1 != m0 {
			t.Fatalf("failed import (%v) changed the store: %s at %d, was %s at %d", ierr, d1, m1.Seq, d0, m0.Seq)
		}
		if _, err := dst.ImportSnapshot(bytes.NewReader(stream), want); err != nil {
			t.Fatalf("the valid snapshot after a failed import (%v): %v", ierr, err)
		}
	})
}

// TestImportSwitchFailure: when the transaction that switches to the imported state fails after
// the indexes' engine took the snapshot's entry, the store stays as it was, refuses writes with
// a reason until it is reopened, and after reopening imports the snapshot.
func TestImportSwitchFailure(t *testing.T) {
	f, stream, want, _ := snapshotSource(t)
	dir := t.TempDir()
	dst := openDisk(t, dir, Options{})
	if err := dst.Init(f.net.Genesis); err != nil {
		t.Fatal(err)
	}
	importSwitchHook = func() error { return errors.New("disk gone") }
	_, err := dst.ImportSnapshot(bytes.NewReader(stream), want)
	importSwitchHook = nil
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("import with a failing switch: %v", err)
	}
	if m, err := dst.Meta(); err != nil || m.Seq != 0 {
		t.Fatalf("after the failed import the store is at %d (%v), want 0", m.Seq, err)
	}
	if _, err := dst.ImportSnapshot(bytes.NewReader(stream), want); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("a write after the failed switch: %v, want a refusal asking to reopen", err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openDisk(t, dir, Options{})
	defer dst.Close()
	if _, err := dst.ImportSnapshot(bytes.NewReader(stream), want); err != nil {
		t.Fatalf("import after reopening: %v", err)
	}
	if m, err := dst.Meta(); err != nil || m.Seq != want.Seq {
		t.Fatalf("after the import the store is at %d (%v), want %d", m.Seq, err, want.Seq)
	}
}
