package consensus

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// benchBlocks builds n blocks of one contribution each, round-robin over the four bureaus.
func benchBlocks(c *cluster, n int) []*ledger.Block {
	out := make([]*ledger.Block, n)
	for i := range out {
		prov := ledgertest.Provinces[i%len(ledgertest.Provinces)]
		net := c.net
		rec := net.Record(net.Bureau[prov], net.Contribution(ledgertest.Worker(i), ledgertest.Region(prov), 202212, 700000+int64(i), ledgertest.Employer(i%5)))
		out[i] = net.Block(net.Bureau[prov], rec)
	}
	return out
}

// BenchmarkOrdering3 submits b.N blocks to a 3-node ministry group (real raft over libp2p on
// loopback, raft logs on disk, default timings) as fast as the nodes take them and reports the
// block references ordered per second, measured until every node has ordered, cut and applied
// them all.
func BenchmarkOrdering3(b *testing.B) {
	c := newCluster(b, 3, RaftTimings{}, 0, nil)
	c.waitLeader(30*time.Second, -1)
	blocks := benchBlocks(c, b.N)
	b.ResetTimer()
	for _, blk := range blocks {
		c.submit(blk)
	}
	c.settle(blocks, 5*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refs/s")
}

// BenchmarkFinality3 submits blocks at a steady rate of one every 2 ms to a 3-node group and
// reports the latency from submitting a block to the certificate of the checkpoint holding it
// being present on all three nodes, p50 and p99.
func BenchmarkFinality3(b *testing.B) {
	c := newCluster(b, 3, RaftTimings{}, 0, nil)
	c.waitLeader(30*time.Second, -1)
	blocks := benchBlocks(c, b.N)
	finalAt := map[uint64]time.Time{} // sequence → when it was final on every node
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var seen uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			low := ^uint64(0)
			for _, n := range c.live() {
				low = min(low, n.m.Finality.Final())
			}
			if low != ^uint64(0) && low > seen {
				now := time.Now()
				mu.Lock()
				for s := seen + 1; s <= low; s++ {
					finalAt[s] = now
				}
				mu.Unlock()
				seen = low
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	submitted := make(map[ledger.Hash]time.Time, len(blocks))
	b.ResetTimer()
	tick := time.NewTicker(2 * time.Millisecond)
	for _, blk := range blocks {
		<-tick.C
		submitted[blk.Hash()] = time.Now()
		c.submit(blk)
	}
	tick.Stop()
	last := c.settle(blocks, 5*time.Minute)
	eventually(b, time.Minute, "all final", func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := finalAt[last]
		return ok
	})
	b.StopTimer()
	close(stop)
	<-done
	var lat []time.Duration
	for _, cb := range c.live()[0].m.Orderer.FSM().Retained(0) {
		for _, h := range cb.Blocks {
			if at, ok := submitted[h]; ok {
				lat = append(lat, finalAt[cb.Checkpoint.Seq].Sub(at))
			}
		}
	}
	if len(lat) != len(blocks) {
		b.Fatalf("%d latencies for %d blocks", len(lat), len(blocks))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
