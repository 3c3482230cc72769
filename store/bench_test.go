package store

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/options"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
	"github.com/jaminan/jaminan/store/internal/statedb"
)

// Benchmarks of the apply path on disk, sync on. Run with
//
//	go test ./store -run '^$' -bench 'StoreApply' -benchtime 1x
//
// JAMINAN_STORE_BENCH_RECORDS sets the number of records (default 100,000; 1,000,000 or
// 10,000,000 for the large runs). Each op builds a fresh store in a temporary directory; the
// records are valid pension contributions of distinct workers (each opens a worker and an
// account), 1,000 to a block, from the four bureaus in turn.
//
// Reported per run: records/s (wall clock), records/cpu-s and cpu-µs/record (the process's CPU
// time over the timed part, badger's background work during it included: the robust figure on
// a shared machine), keys/record (badger keys the commits wrote), B/record on disk as closed and after the
// value-log GC, the peak RSS (VmHWM, harness included), the resident set at the end split into
// anonymous and file pages, the Go heap in use and live, and (end to end) the peaks of the
// anonymous and file-backed resident set sampled once a second. JAMINAN_STORE_BENCH_PROFILE=FILE
// writes a CPU profile of the timed part, JAMINAN_STORE_BENCH_HEAP=FILE a heap profile at the end.
func benchRecords(b *testing.B) int {
	b.Helper()
	if o := benchOptions(b); o.setCompression {
		b.Logf("table compression %v", o.compression)
	}
	if n, err := strconv.Atoi(os.Getenv("JAMINAN_STORE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// benchOptions are the store options of the benchmarks: the defaults, except for
// JAMINAN_STORE_BENCH_COMPRESSION (none, snappy, zstd) to compare table compressions.
func benchOptions(b *testing.B) Options {
	var o Options
	if m := os.Getenv("JAMINAN_STORE_BENCH_STATE_MIB"); m != "" {
		mib, err := strconv.Atoi(m)
		if err != nil || mib <= 0 {
			b.Fatalf("JAMINAN_STORE_BENCH_STATE_MIB=%q: want a positive number of MiB", m)
		}
		o.StateMemBytes = int64(mib) << 20
	}
	c := os.Getenv("JAMINAN_STORE_BENCH_COMPRESSION")
	if c == "" {
		return o
	}
	kinds := map[string]options.CompressionType{"none": options.None, "snappy": options.Snappy, "zstd": options.ZSTD}
	k, ok := kinds[c]
	if !ok {
		b.Fatalf("JAMINAN_STORE_BENCH_COMPRESSION=%q: want none, snappy or zstd", c)
	}
	o.compression, o.setCompression = k, true
	return o
}

// contributionBlocks builds the blocks of the next checkpoint: blocks blocks of 1,000 records,
// workers first, first+1, ….
func contributionBlocks(n *ledgertest.Net, first, blocks int) []*ledger.Block {
	return blocksOf(n, first, blocks, func(start int) (int, string, uint32) {
		return start, ledgertest.Provinces[(start/1000)%len(ledgertest.Provinces)], 202301
	})
}

// blocksOf builds blocks of 1,000 contributions, for records first onwards: at(start) names
// the block starting at record start: its first worker (the others follow), its province
// and the records' period.
func blocksOf(n *ledgertest.Net, first, blocks int, at func(start int) (worker int, prov string, period uint32)) []*ledger.Block {
	out := make([]*ledger.Block, blocks)
	for j := range out {
		w0, prov, period := at(first + j*1000)
		recs := make([][]byte, 1000)
		for i := range recs {
			c := n.Contribution(ledgertest.Worker(w0+i), ledgertest.Region(prov), period, int64(500000+i*37), ledgertest.Employer(i%50))
			recs[i] = n.Record(n.Bureau[prov], c)
		}
		out[j] = n.Block(n.Bureau[prov], recs...)
	}
	return out
}

// benchBlocks builds the next checkpoint's blocks of the workload JAMINAN_STORE_BENCH_WORKLOAD
// names: "new" (the default: every record a new worker's contribution, contributionBlocks) or
// "monthly" (JAMINAN_STORE_BENCH_WORKERS workers, 100,000 by default, each contributing month
// after month: record r is worker r mod W's contribution for the month r / W months before
// December 2022, going back (the ledger refuses periods after the checkpoint's month), in the same province
// every month, so that from the second month on a record opens no worker and no account).
func benchBlocks(b *testing.B, n *ledgertest.Net, first, blocks int) []*ledger.Block {
	switch w := os.Getenv("JAMINAN_STORE_BENCH_WORKLOAD"); w {
	case "", "new":
		return contributionBlocks(n, first, blocks)
	case "monthly":
	default:
		b.Fatalf("JAMINAN_STORE_BENCH_WORKLOAD=%q: want new or monthly", w)
	}
	workers := 100_000
	if v := os.Getenv("JAMINAN_STORE_BENCH_WORKERS"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k <= 0 || k%1000 != 0 {
			b.Fatalf("JAMINAN_STORE_BENCH_WORKERS=%q: want a positive multiple of 1000", v)
		}
		workers = k
	}
	return blocksOf(n, first, blocks, func(start int) (int, string, uint32) {
		slot, month := start%workers/1000, start/workers
		period := uint32((2022-month/12)*100 + 12 - month%12) // month months before December 2022
		return start % workers, ledgertest.Provinces[slot%len(ledgertest.Provinces)], period
	})
}

// BenchmarkStoreApplyCheckpoint times ApplyCheckpoint alone: the results are computed by the
// state machine on a MemState beforehand. Checkpoints of 1 block (1,000 records) fit one badger
// transaction; checkpoints of 10 blocks go through the journal.
func BenchmarkStoreApplyCheckpoint(b *testing.B) {
	for _, blocks := range []int{1, 10} {
		b.Run(strconv.Itoa(blocks)+"blocks", func(b *testing.B) {
			total := benchRecords(b)
			n := ledgertest.New(b)
			mem := n.GenesisState()
			var steps []step
			for done := 0; done < total; done += blocks * 1000 {
				bs := contributionBlocks(n, done, blocks)
				meta, _ := ledger.ReadMeta(mem)
				cb := n.Checkpoint(meta, bs...)
				steps = append(steps, step{cb, bs, n.ApplyMem(mem, cb, bs)})
			}
			records := len(steps) * blocks * 1000
			b.ResetTimer()
			for range b.N {
				dir := b.TempDir()
				s, err := Open(dir, benchOptions(b))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Init(n.Genesis); err != nil {
					b.Fatal(err)
				}
				keys0 := s.keysWritten.Load()
				stopProfile := benchProfile(b)
				start, cpu0 := time.Now(), processCPU(b)
				for _, st := range steps {
					if err := s.ApplyCheckpoint(st.cb, st.blocks, st.res, nil); err != nil {
						b.Fatal(err)
					}
				}
				elapsed, cpu := time.Since(start), processCPU(b)-cpu0
				stopProfile()
				reportApply(b, s, records, elapsed, cpu, keys0)
				reportDisk(b, s, dir, records)
			}
		})
	}
}

// BenchmarkStoreApplyEndToEnd times Store.Apply — the state machine reading the state from the
// store, then the store writing the result — over checkpoints of 10 blocks (10,000 records).
// Building the records and blocks is not timed. Memory stays flat, so it serves the 1M and 10M
// runs.
func BenchmarkStoreApplyEndToEnd(b *testing.B) {
	total := benchRecords(b)
	for range b.N {
		b.StopTimer()
		n := ledgertest.New(b)
		dir := b.TempDir()
		s, err := Open(dir, benchOptions(b))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Init(n.Genesis); err != nil {
			b.Fatal(err)
		}
		var elapsed, cpu time.Duration
		records := 0
		keys0 := s.keysWritten.Load()
		stopProfile := benchProfile(b)
		peaks := startRSSPeaks()
		for records < total {
			bs := benchBlocks(b, n, records, 10)
			meta, err := s.Meta()
			if err != nil {
				b.Fatal(err)
			}
			cb := n.Checkpoint(meta, bs...)
			b.StartTimer()
			start, cpu0 := time.Now(), processCPU(b)
			res, err := s.Apply(n.Machine, cb, bs, nil)
			if err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			for _, r := range res.Receipts {
				if r.Code != ledger.CodeOK {
					b.Fatalf("checkpoint %d: record %s refused, %s: %s", cb.Checkpoint.Seq, r.ID, r.Code, r.Message)
				}
			}
			cpu += processCPU(b) - cpu0
			b.StopTimer()
			records += 10 * 1000
			if records%1_000_000 == 0 {
				// Progress of the long runs (10M takes hours on a shared machine), readable before the end.
				fmt.Fprintf(os.Stderr, "%d records: %.1f CPU µs/record, %.0f records/s, peak RSS %d MiB "+
					"(anonymous %d, file %d), RSS anonymous %d / file %d MiB, Go heap live %d MiB\n", records,
					float64(cpu.Microseconds())/float64(records), float64(records)/elapsed.Seconds(), procStatus(b, "VmHWM")>>20,
					peaks.anon.Load()>>20, peaks.file.Load()>>20, procStatus(b, "RssAnon")>>20, procStatus(b, "RssFile")>>20, liveHeap()>>20)
			}
		}
		stopProfile()
		peaks.Stop(b)
		// How many runs a read that misses probes, and how much the merges wrote.
		for _, e := range []struct {
			name string
			db   *statedb.DB
		}{{"state", s.state}, {"index", s.index}} {
			st := e.db.Stats()
			b.ReportMetric(float64(st.Runs), "runs-"+e.name)
			b.ReportMetric(float64(st.Compactions), "merges-"+e.name)
		}
		reportApply(b, s, records, elapsed, cpu, keys0)
		reportDisk(b, s, dir, records)
	}
}

// reportApply reports the apply rate by the wall clock and by the process's CPU time (the
// robust figure on a shared machine: badger's background compactions are included, work of
// other processes is not), the badger keys written per record, and the peak RSS so far.
func reportApply(b *testing.B, s *Store, records int, elapsed, cpu time.Duration, keys0 int64) {
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(records), "cpu-µs/record")
	b.ReportMetric(float64(s.keysWritten.Load()-keys0)/float64(records), "keys/record")
	b.ReportMetric(float64(procStatus(b, "VmHWM"))/(1<<20), "MiB-peak-RSS")
	// The resident set now, split: anonymous memory (Go heap, badger's arenas and caches) and
	// file pages (badger's mmapped tables, value log and memtable logs, which the kernel can
	// drop under pressure).
	b.ReportMetric(float64(procStatus(b, "RssAnon"))/(1<<20), "MiB-RSS-anon")
	b.ReportMetric(float64(procStatus(b, "RssFile"))/(1<<20), "MiB-RSS-file")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap-inuse")
	b.ReportMetric(float64(liveHeap())/(1<<20), "MiB-heap-live")
	if path := os.Getenv("JAMINAN_STORE_BENCH_HEAP"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// benchProfile writes a CPU profile of the timed part to $JAMINAN_STORE_BENCH_PROFILE, if set
// (the test binary's -cpuprofile would include building the records).
func benchProfile(b *testing.B) (stop func()) {
	path := os.Getenv("JAMINAN_STORE_BENCH_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a size field of /proc/self/status (VmHWM, RssAnon, …), in bytes.
func procStatus(b *testing.B, field string) int64 {
	n, err := readProcStatus(field)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func readProcStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing %s of /proc/self/status: %w", field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// rssPeaks samples the anonymous and file-backed resident set once a second and keeps the
// largest of each (VmHWM has only their sum): anonymous memory is what the process owns (Go
// heap, badger's memtables, caches and table builders), file pages are badger's mmapped tables
// and value log, which the kernel can drop.
type rssPeaks struct {
	anon, file atomic.Int64
	stop, done chan struct{}
}

func startRSSPeaks() *rssPeaks {
	p := &rssPeaks{stop: make(chan struct{}), done: make(chan struct{})}
	p.sample()
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.sample()
			}
		}
	}()
	return p
}

func (p *rssPeaks) sample() {
	if a, err := readProcStatus("RssAnon"); err == nil && a > p.anon.Load() {
		p.anon.Store(a)
	}
	if f, err := readProcStatus("RssFile"); err == nil && f > p.file.Load() {
		p.file.Store(f)
	}
}

// Stop ends the sampling and reports the peaks.
func (p *rssPeaks) Stop(b *testing.B) {
	close(p.stop)
	<-p.done
	p.sample()
	b.ReportMetric(float64(p.anon.Load())/(1<<20), "MiB-peak-RSS-anon")
	b.ReportMetric(float64(p.file.Load())/(1<<20), "MiB-peak-RSS-file")
}

// liveHeap returns the Go heap live at the last garbage collection.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// reportDisk closes s and reports the bytes on disk per record, as closed and after the
// value-log GC would have reclaimed the journals (a reopen, GC passes, close).
func reportDisk(b *testing.B, s *Store, dir string, records int) {
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dirSize(b, dir))/float64(records), "B/record")
	// Where the bytes are: the state engine, the index engine and badger (the rest).
	state, index := dirSize(b, filepath.Join(dir, "state")), dirSize(b, filepath.Join(dir, "index"))
	b.ReportMetric(float64(state)/float64(records), "B/record-state")
	b.ReportMetric(float64(index)/float64(records), "B/record-index")
	s, err := Open(dir, Options{Verify: VerifyNone})
	if err != nil {
		b.Fatal(err)
	}
	for s.db.RunValueLogGC(0.5) == nil {
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dirSize(b, dir))/float64(records), "B/record-after-gc")
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkLocation times View.Location of an accepted record in a store of 30,000 records in
// 10-block checkpoints: the ledger's record state, then the checkpoint body and a scan of its
// receipt lists (format 2 keeps no location key for such records).
func BenchmarkLocation(b *testing.B) {
	n := ledgertest.New(b)
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Init(n.Genesis); err != nil {
		b.Fatal(err)
	}
	var ids []ledger.Hash
	for records := 0; records < 30_000; records += 10_000 {
		bs := contributionBlocks(n, records, 10)
		meta, err := s.Meta()
		if err != nil {
			b.Fatal(err)
		}
		res, err := s.Apply(n.Machine, n.Checkpoint(meta, bs...), bs, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, rc := range res.Receipts {
			ids = append(ids, rc.ID)
		}
	}
	v := s.View()
	defer v.Release()
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Location(ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}
