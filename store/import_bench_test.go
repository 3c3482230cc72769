package store

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

// BenchmarkImportSnapshot imports a snapshot of the fixture's state plus 120,000 synthetic
// pairs (keys after every ledger key, 120-byte values: about the size of a bench run's state)
// into an empty store on disk: the fast join's cost on the joining node, without the network.
func BenchmarkImportSnapshot(b *testing.B) {
	f, stream, want, pairs := snapshotSourceTB(b)
	info, err := ReadSnapshot(bytes.NewReader(stream), nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 120_000 {
		k := binary.BigEndian.AppendUint32([]byte{0xff, 'x'}, uint32(i))
		v := bytes.Repeat([]byte{byte(i)}, 120)
		pairs = append(pairs, pair{k, v})
	}
	big := encodeSnapshot(info, pairs, 4000, nil)
	d := ledger.NewStateDigest()
	for _, p := range pairs {
		_ = d.Add(p.k, p.v)
	}
	want.Digest = d.Sum()
	b.SetBytes(int64(len(big)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dst := openDisk(b, b.TempDir(), Options{})
		if err := dst.Init(f.net.Genesis); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := dst.ImportSnapshot(bytes.NewReader(big), want); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(pairs))*float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// snapshotSourceTB is snapshotSource for a benchmark: a store with a history and the snapshot
// stream of its last checkpoint, with what an importer is told to expect.
func snapshotSourceTB(tb testing.TB) (*fixture, []byte, SnapshotExpect, []pair) {
	s := openMem(tb)
	f := newFixture(tb, s, 11)
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
		tb.Fatal(err)
	}
	var pairs []pair
	if _, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), func(k, v []byte) error {
		pairs = append(pairs, pair{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return f, buf.Bytes(), SnapshotExpect{Seq: cert.Seq, Checkpoint: cert.Checkpoint, StateRoot: cert.StateRoot, Digest: info.Digest}, pairs
}
