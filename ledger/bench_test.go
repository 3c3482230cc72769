package ledger

import (
	"testing"
)

// Benchmarks of the ledger core's hot paths. Run them on one core with
//
//	go test ./ledger -run '^$' -bench 'Record|Block|Merkle' -benchtime 2s -cpu 1
//
// and see docs/PERFORMANCE.md for the recorded numbers and the targets.

const benchBlockRecords = 1000

// benchContribution returns the signed fixture contribution record (every field set), as the
// producing bureau publishes it. i varies the author time and period so that records differ.
func benchContribution(i int) Record {
	producer := fixtureSigner(1)
	body := *fixtureBodies()[0].(*Contribution)
	body.Period = 202401 + uint32(i%12)
	body.Through = body.Period
	r := NewRecord(producer.ID(), 1735689600000+uint64(i), &body)
	r.Sign(fixtureNetwork, producer)
	return r
}

// benchContributions returns n distinct encoded, signed contribution records.
func benchContributions(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		r := benchContribution(i)
		out[i] = r.Encode()
	}
	return out
}

func reportRecordsPerSec(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkRecordEncode(b *testing.B) {
	r := benchContribution(0)
	b.SetBytes(int64(len(r.Encode())))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = r.Encode()
	}
}

func BenchmarkRecordDecode(b *testing.B) {
	r := benchContribution(0)
	enc := r.Encode()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := DecodeRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordVerifySigs is the per-record signature check (one ed25519 verification plus the
// record ID hash). Block.Verify does not do it; it is here to show its cost next to block verify.
func BenchmarkRecordVerifySigs(b *testing.B) {
	r := benchContribution(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.VerifySigs(fixtureNetwork); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSec(b, 1)
}

func BenchmarkBlockBuild1000(b *testing.B) {
	records := benchContributions(benchBlockRecords)
	s := fixtureSigner(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := BuildBlock(s, fixtureNetwork, nil, 1735689600100, records); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSec(b, benchBlockRecords)
}

// BenchmarkBlockVerify1000 measures Block.Verify: header checks, record sizes, the Merkle root
// over all records and the producer's one block signature. It does not decode the records or
// check their own signatures.
func BenchmarkBlockVerify1000(b *testing.B) {
	blk, err := BuildBlock(fixtureSigner(1), fixtureNetwork, nil, 1735689600100, benchContributions(benchBlockRecords))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := blk.Verify(fixtureNetwork); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSec(b, benchBlockRecords)
}

func benchLeaves(n int) []Hash {
	records := benchContributions(n)
	leaves := make([]Hash, n)
	for i, r := range records {
		leaves[i] = LeafHash(r)
	}
	return leaves
}

// BenchmarkMerkleRoot1000 measures the root over 1000 precomputed leaf hashes (interior nodes
// only; leaf hashing is part of BenchmarkBlockVerify1000).
func BenchmarkMerkleRoot1000(b *testing.B) {
	leaves := benchLeaves(benchBlockRecords)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = MerkleRoot(leaves)
	}
}

// BenchmarkMerkleProof1000 builds and verifies the inclusion proof of one leaf of a 1000-leaf
// tree per iteration, cycling through the leaves.
func BenchmarkMerkleProof1000(b *testing.B) {
	leaves := benchLeaves(benchBlockRecords)
	root := MerkleRoot(leaves)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx := i % len(leaves)
		p, err := BuildMerkleProof(leaves, idx)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(leaves[idx], root); err != nil {
			b.Fatal(err)
		}
	}
}
