package p2p

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// benchRecords is the size of a benchmark block: 1,000 records of 190 bytes, the size of a signed
// contribution record, so a block is about 200 KB as in production.
const benchRecords, benchRecordSize = 1000, 190

// bigBlock builds c's next block of benchRecords records.
func (c *chain) bigBlock(tb testing.TB) *ledger.Block {
	tb.Helper()
	c.time++
	recs := make([][]byte, benchRecords)
	for i := range recs {
		r := bytes.Repeat([]byte{byte(i)}, benchRecordSize)
		copy(r, fmt.Sprintf("rec %d %d", c.time, i))
		recs[i] = r
	}
	b, err := ledger.BuildBlock(c.s, c.net, c.prev, c.time, recs)
	if err != nil {
		tb.Fatal(err)
	}
	h := b.Header
	c.prev = &h
	return b
}

// BenchmarkGossipLatency7 publishes 1,000-record blocks one at a time from one of seven meshed
// hosts and measures, per block, the time until the last of the other six holds it (delivered,
// verified and stored). It reports the p50 and p99 over all blocks.
func BenchmarkGossipLatency7(b *testing.B) {
	n := newTnet(b)
	var nodes []*tnode
	for _, s := range n.signers() {
		nodes = append(nodes, n.start(s))
	}
	n.mesh(nodes...)
	c := newChain(nodes[0].signer, n.g.Network)
	blocks := make([]*ledger.Block, b.N)
	for i := range blocks {
		blocks[i] = c.bigBlock(b)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for _, blk := range blocks {
		start := time.Now()
		if err := nodes[0].PublishBlock(ctx, blk); err != nil {
			b.Fatal(err)
		}
		h := blk.Hash()
		for _, tn := range nodes[1:] {
			for !tn.src.HasBlock(h) {
				if time.Since(start) > 30*time.Second {
					b.Fatalf("block not delivered in 30 s")
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSyncCatchUp starts an empty host next to one holding b.N blocks of 1,000 records and
// measures how fast the empty one fetches and verifies them all through the sync protocol.
func BenchmarkSyncCatchUp(b *testing.B) {
	n := newTnet(b)
	full := n.start(n.bureaus[0])
	c := newChain(n.bureaus[0], n.g.Network)
	for range b.N {
		if err := full.src.PutBlock(c.bigBlock(b)); err != nil {
			b.Fatal(err)
		}
	}
	last := c.prev
	empty := n.start(n.bureaus[1])
	b.ResetTimer()
	empty.AddStaticPeer(full.AddrInfo())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		if tip, err := empty.src.Tip(n.bureaus[0].ID()); err == nil && tip.Height >= last.Height {
			break
		}
		if ctx.Err() != nil {
			b.Fatal("catch-up did not finish in 5 minutes")
		}
		if full.Connected(empty.ID()) {
			_ = empty.SyncNow(ctx)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}
