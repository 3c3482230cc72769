package ledger

import (
	"encoding/binary"
	"testing"
)

// BenchmarkApplyContributions applies checkpoints of one 1,000-record block of valid pension
// contributions (each for a new worker) to the in-memory state and commits the writes.
func BenchmarkApplyContributions(b *testing.B) {
	n := newTnet(b)
	p := n.bureau["44"]
	tmpl := n.contribution(worker(0), "440300", 202301, 800000)
	const per = 1000
	blocks := make([]*Block, b.N)
	var id [8]byte
	for i := range blocks {
		recs := make([][]byte, per)
		for j := range recs {
			c := *tmpl
			binary.BigEndian.PutUint64(id[:], uint64(i*per+j))
			c.Worker = Pseudonym([]byte("bench"), string(id[:]))
			recs[j] = n.rec(p, &c)
		}
		blocks[i] = n.block(p, recs...)
	}
	b.ResetTimer()
	for i := range blocks {
		res := n.apply(blocks[i])
		if res.Receipts[0].Code != CodeOK {
			b.Fatalf("receipt %+v", res.Receipts[0])
		}
	}
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
}
