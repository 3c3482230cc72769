package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
	"github.com/jaminan/jaminan/p2p"
	"github.com/jaminan/jaminan/store"
)

// The component ceilings: each part of the pipeline alone, on this machine, with the block size
// of the run. They use ledgertest's network (valid contribution records of distinct workers) and
// the packages' exported APIs, the same code paths the node runs.

// Ceilings measures the four component ceilings alone, without starting a network (`jaminan
// bench --only-ceilings`).
func Ceilings(ctx context.Context, o Options) ([]Ceiling, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cs, warns := ceilings(ctx, o)
	if len(cs) == 0 {
		return nil, fmt.Errorf("bench: no ceiling measured: %s", strings.Join(warns, "; "))
	}
	for _, w := range warns {
		fmt.Fprintf(o.Out, "warning: %s\n", w)
	}
	return cs, ctx.Err()
}

// ceilings measures all four, one after the other. A component that cannot be measured is
// left out with a warning: the others still stand.
func ceilings(ctx context.Context, o Options) (out []Ceiling, warnings []string) {
	nodes := o.Ministry + o.Bureaus
	for _, f := range []func(context.Context, Options, int) (Ceiling, error){verifyCeiling, applyCeiling, gossipCeiling, orderingCeiling} {
		if ctx.Err() != nil {
			return out, append(warnings, "ceilings: "+ctx.Err().Error())
		}
		runtime.GC()
		c, err := f(ctx, o, nodes)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("ceiling %s: %v", c.Name, err))
			fmt.Fprintf(o.Out, "  %s: not measured: %v\n", c.Name, err)
			continue
		}
		fmt.Fprintf(o.Out, "  %s: %.0f records/s (%.1f µs CPU/record)\n", c.Name, c.RecordsPerSec, c.CPUMicrosPerRecord)
		out = append(out, c)
	}
	return out, warnings
}

// withTB runs f once with a testing.TB, which ledgertest needs (it reports through it). A
// failure in f (tb.Fatal) comes back as an error.
func withTB(what string, f func(tb testing.TB)) error {
	ran := false
	var msg atomic.Value
	res := testing.Benchmark(func(b *testing.B) {
		if ran {
			return
		}
		ran = true
		defer func() {
			if b.Failed() {
				msg.Store("failed")
			}
		}()
		f(b)
	})
	if res.N == 0 || msg.Load() != nil {
		return fmt.Errorf("%s: setup or measurement failed", what)
	}
	return nil
}

// contributionBlocks builds blocks blocks of per records, workers first, first+1, …, each block
// from the next bureau in turn.
func contributionBlocks(n *ledgertest.Net, first, blocks, per int) []*ledger.Block {
	out := make([]*ledger.Block, blocks)
	for j := range out {
		prov := ledgertest.Provinces[(first/per+j)%len(ledgertest.Provinces)]
		recs := make([][]byte, per)
		for i := range recs {
			w := ledgertest.Worker(first + j*per + i)
			c := n.Contribution(w, ledgertest.Region(prov), 202301, int64(500000+i*37), ledgertest.Employer(i%50))
			recs[i] = n.Record(n.Bureau[prov], c)
		}
		out[j] = n.Block(n.Bureau[prov], recs...)
	}
	return out
}

// network is the rate the network reaches if the component alone used every core: each of
// instances does the work once per record.
func network(perInstance, cpuMicros float64, instances int, sequential bool) float64 {
	if cpuMicros <= 0 {
		return perInstance
	}
	byCPU := float64(runtime.NumCPU()) * 1e6 / (cpuMicros * float64(instances))
	if sequential {
		return min(perInstance, byCPU)
	}
	return byCPU
}

// verifyCeiling times Block.Verify of one block of the run's size, one goroutine.
func verifyCeiling(_ context.Context, o Options, nodes int) (Ceiling, error) {
	c := Ceiling{Name: "block verify (ledger)", Instances: nodes - 1}
	err := withTB(c.Name, func(tb testing.TB) {
		n := ledgertest.New(tb)
		blk := contributionBlocks(n, 0, 1, o.BlockRecords)[0]
		cpu0, t0, blocks := cpuTime(), time.Now(), 0
		for time.Since(t0) < time.Second {
			if err := blk.Verify(n.Genesis.Network); err != nil {
				tb.Fatal(err)
			}
			blocks++
		}
		recs := float64(blocks * o.BlockRecords)
		c.RecordsPerSec = recs / time.Since(t0).Seconds()
		c.CPUMicrosPerRecord = float64((cpuTime() - cpu0).Microseconds()) / recs
		c.Detail = fmt.Sprintf("Block.Verify of a %d-record block (header, sizes, Merkle root, one signature), one goroutine", o.BlockRecords)
	})
	c.NetworkPerSec = network(c.RecordsPerSec, c.CPUMicrosPerRecord, c.Instances, false)
	return c, err
}

// applyCeiling times Store.Apply (the state machine over the badger state, then the badger
// write, sync on) of checkpoints of 10 blocks into a fresh store, as store's
// BenchmarkStoreApplyEndToEnd does.
func applyCeiling(_ context.Context, o Options, nodes int) (Ceiling, error) {
	c := Ceiling{Name: "store apply (ledger + store)", Instances: nodes}
	dir, err := os.MkdirTemp("", "jaminan-bench-apply-")
	if err != nil {
		return c, fmt.Errorf("apply ceiling: %w", err)
	}
	defer os.RemoveAll(dir)
	err = withTB(c.Name, func(tb testing.TB) {
		n := ledgertest.New(tb)
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		defer s.Close()
		if err := s.Init(n.Genesis); err != nil {
			tb.Fatal(err)
		}
		var elapsed, cpu time.Duration
		records := 0
		for records < o.CeilingRecords {
			bs := contributionBlocks(n, records, o.CeilingBlocks, o.BlockRecords)
			meta, err := s.Meta()
			if err != nil {
				tb.Fatal(err)
			}
			cb := n.Checkpoint(meta, bs...)
			cpu0, t0 := cpuTime(), time.Now()
			if _, err := s.Apply(n.Machine, cb, bs, nil); err != nil {
				tb.Fatal(err)
			}
			elapsed += time.Since(t0)
			cpu += cpuTime() - cpu0
			records += o.CeilingBlocks * o.BlockRecords
		}
		c.RecordsPerSec = float64(records) / elapsed.Seconds()
		c.CPUMicrosPerRecord = float64(cpu.Microseconds()) / float64(records)
		c.Detail = fmt.Sprintf("Store.Apply of %d new workers' contributions in checkpoints of %d blocks, fresh store, sync on", records, o.CeilingBlocks)
	})
	c.NetworkPerSec = network(c.RecordsPerSec, c.CPUMicrosPerRecord, c.Instances, true)
	return c, err
}

// gossipCeiling publishes blocks from one of nodes p2p hosts (real libp2p on 127.0.0.1, block
// validation on, each host storing into memory) with up to four blocks outstanding, and times
// until every other host holds them all.
func gossipCeiling(ctx context.Context, o Options, nodes int) (Ceiling, error) {
	c := Ceiling{Name: "gossip (p2p, libp2p)", Instances: 1}
	err := withTB(c.Name, func(tb testing.TB) {
		n := ledgertest.New(tb)
		signers := append([]*ledger.Signer{}, n.Bureau[ledgertest.Provinces[0]])
		for _, p := range ledgertest.Provinces[1:] {
			signers = append(signers, n.Bureau[p])
		}
		signers = append(signers, n.Ministry...)
		signers = signers[:min(len(signers), max(nodes, 2))]
		ids := make([]ledger.KeyID, len(n.Ministry))
		for i, s := range n.Ministry {
			ids[i] = s.ID()
		}
		mfunc := func(uint64) ([]ledger.KeyID, error) { return ids, nil }
		var hosts []*p2p.Node
		var srcs []*p2p.MemorySource
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, h := range hosts {
				_ = h.Close(cctx)
			}
		}()
		for _, s := range signers {
			cfg := p2p.DefaultConfig()
			cfg.Network, cfg.GenesisHash, cfg.Signer, cfg.Ministry = n.Genesis.Network, n.Genesis.Hash(), s, mfunc
			cfg.ListenAddrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
			cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			src := p2p.NewMemorySource(n.Genesis.Network, n.Genesis.Hash(), mfunc)
			h, err := p2p.New(cfg, p2p.NewMembers(n.Genesis.Members, n.Genesis.Time), src, src)
			if err != nil {
				tb.Fatal(err)
			}
			hosts, srcs = append(hosts, h), append(srcs, src)
		}
		for _, a := range hosts {
			for _, b := range hosts {
				if a != b {
					a.AddStaticPeer(b.AddrInfo())
				}
			}
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			ok := true
			for _, h := range hosts {
				ok = ok && len(h.TopicPeers()) >= len(hosts)-1
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatal("gossip mesh not formed in 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		blocks := make([]*ledger.Block, 0, 40)
		for first := 0; len(blocks) < cap(blocks); first += o.BlockRecords {
			// All from the first bureau: one producer's chain, consecutive heights.
			prov := ledgertest.Provinces[0]
			recs := make([][]byte, o.BlockRecords)
			for i := range recs {
				w := ledgertest.Worker(first + i)
				recs[i] = n.Record(n.Bureau[prov], n.Contribution(w, ledgertest.Region(prov), 202301, int64(500000+i*37), ledgertest.Employer(i%50)))
			}
			blocks = append(blocks, n.Block(n.Bureau[prov], recs...))
		}
		held := func(b *ledger.Block) bool {
			h := b.Hash()
			for _, s := range srcs[1:] {
				if !s.HasBlock(h) {
					return false
				}
			}
			return true
		}
		cpu0, t0 := cpuTime(), time.Now()
		done := 0
		for i, b := range blocks {
			if err := srcs[0].PutBlock(b); err != nil {
				tb.Fatal(err)
			}
			if err := hosts[0].PublishBlock(ctx, b); err != nil {
				tb.Fatal(err)
			}
			for done <= i && (i-done >= 4 || i == len(blocks)-1) {
				if held(blocks[done]) {
					done++
					continue
				}
				if time.Since(t0) > time.Minute {
					tb.Fatal("gossip: blocks not delivered in a minute")
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		recs := float64(len(blocks) * o.BlockRecords)
		c.RecordsPerSec = recs / time.Since(t0).Seconds()
		c.CPUMicrosPerRecord = float64((cpuTime() - cpu0).Microseconds()) / recs
		c.Detail = fmt.Sprintf("%d blocks of %d records from one of %d hosts, ≤ 4 outstanding, until all hold them", len(blocks), o.BlockRecords, len(hosts))
	})
	c.NetworkPerSec = network(c.RecordsPerSec, c.CPUMicrosPerRecord, c.Instances, true)
	return c, err
}

// orderingCeiling runs a Raft group of the ministry's size in memory (hashicorp/raft, in-memory
// transport and log) and commits one block reference per entry, 64 in flight, for a second:
// the order of blocks, not of records. The orderer batches many references per entry, so this
// is a lower bound of the ordering ceiling.
func orderingCeiling(_ context.Context, o Options, _ int) (Ceiling, error) {
	c := Ceiling{Name: "ordering (raft)", Instances: 1}
	voters := max(o.Ministry, 1)
	var rafts []*raft.Raft
	defer func() {
		for _, r := range rafts {
			_ = r.Shutdown().Error()
		}
	}()
	var trans []*raft.InmemTransport
	var conf raft.Configuration
	for i := range voters {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("m%d", i)))
		trans = append(trans, t)
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(addr), Address: addr})
	}
	for _, a := range trans {
		for _, b := range trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i, t := range trans {
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(t.LocalAddr())
		// Timings that survive a starved process (a lost leader fails the in-flight applies).
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.Logger = hclog.NewNullLogger()
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(cfg, &countFSM{}, store, store, raft.NewInmemSnapshotStore(), t)
		if err != nil {
			return c, fmt.Errorf("ordering ceiling: start raft %d: %w", i, err)
		}
		rafts = append(rafts, r)
	}
	if err := rafts[0].BootstrapCluster(conf).Error(); err != nil {
		return c, fmt.Errorf("ordering ceiling: bootstrap: %w", err)
	}
	var leader *raft.Raft
	for deadline := time.Now().Add(10 * time.Second); leader == nil; {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
			}
		}
		if time.Now().After(deadline) {
			return c, errors.New("ordering ceiling: no leader in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	entry := make([]byte, 15+78) // one batch command carrying one reference
	var wg sync.WaitGroup
	var refs, failed atomic.Int64
	cpu0, t0 := cpuTime(), time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(t0) < time.Second {
				if err := leader.Apply(entry, 5*time.Second).Error(); err != nil {
					failed.Add(1)
					return
				}
				refs.Add(1)
			}
		}()
	}
	wg.Wait()
	if refs.Load() == 0 {
		return c, fmt.Errorf("no entry committed (%d applies failed)", failed.Load())
	}
	recs := float64(refs.Load()) * float64(o.BlockRecords)
	c.RecordsPerSec = recs / time.Since(t0).Seconds()
	c.CPUMicrosPerRecord = float64((cpuTime() - cpu0).Microseconds()) / recs
	c.NetworkPerSec = network(c.RecordsPerSec, c.CPUMicrosPerRecord, c.Instances, true)
	c.Detail = fmt.Sprintf("%d-voter raft in memory, one %d-record block reference per entry, 64 in flight: %.0f refs/s", voters, o.BlockRecords,
		float64(refs.Load())/time.Since(t0).Seconds())
	if n := failed.Load(); n > 0 {
		c.Detail += fmt.Sprintf(" (%d applies failed: leadership lost)", n)
	}
	return c, nil
}

type countFSM struct{ n atomic.Int64 }

func (f *countFSM) Apply(*raft.Log) any                 { f.n.Add(1); return nil }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (f *countFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                             {}
