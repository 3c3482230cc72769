package store

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// Benchmarks of the apply path on disk, sync on. Run with
//
//	go test ./store -run '^$' -bench 'StoreApply' -benchtime 1x
//
// JAMINAN_STORE_BENCH_RECORDS sets the number of records (default 100,000; 1,000,000 or
// 10,000,000 for the large runs). Each op builds a fresh store in a temporary directory; the
// records are valid pension contributions of distinct workers (each opens a worker and an
// account), 1,000 to a block, from the four bureaus in turn.
func benchRecords(b *testing.B) int {
	if n, err := strconv.Atoi(os.Getenv("JAMINAN_STORE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// contributionBlocks builds the blocks of the next checkpoint: blocks blocks of 1,000 records,
// workers first, first+1, ….
func contributionBlocks(n *ledgertest.Net, first, blocks int) []*ledger.Block {
	out := make([]*ledger.Block, blocks)
	for j := range out {
		prov := ledgertest.Provinces[(first/1000+j)%len(ledgertest.Provinces)]
		recs := make([][]byte, 1000)
		for i := range recs {
			w := ledgertest.Worker(first + j*1000 + i)
			c := n.Contribution(w, ledgertest.Region(prov), 202301, int64(500000+i*37), ledgertest.Employer(i%50))
			recs[i] = n.Record(n.Bureau[prov], c)
		}
		out[j] = n.Block(n.Bureau[prov], recs...)
	}
	return out
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
				s, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Init(n.Genesis); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for _, st := range steps {
					if err := s.ApplyCheckpoint(st.cb, st.blocks, st.res, nil); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				reportDisk(b, s, dir, records)
				b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
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
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Init(n.Genesis); err != nil {
			b.Fatal(err)
		}
		var elapsed time.Duration
		records := 0
		for records < total {
			bs := contributionBlocks(n, records, 10)
			meta, err := s.Meta()
			if err != nil {
				b.Fatal(err)
			}
			cb := n.Checkpoint(meta, bs...)
			b.StartTimer()
			start := time.Now()
			if _, err := s.Apply(n.Machine, cb, bs, nil); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
			b.StopTimer()
			records += 10 * 1000
		}
		reportDisk(b, s, dir, records)
		b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	}
}

// reportDisk closes s and reports the bytes on disk per record, as closed and after the
// value-log GC would have reclaimed the journals (a reopen, GC passes, close).
func reportDisk(b *testing.B, s *Store, dir string, records int) {
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(dirSize(b, dir))/float64(records), "B/record")
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
