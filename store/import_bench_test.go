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
	f, stream, want, pairs := snapshotSource(b)
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
