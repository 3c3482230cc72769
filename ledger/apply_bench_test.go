package ledger

import (
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger/civil"
)

// BenchmarkApplyContributions applies checkpoints of one 1,000-record block of valid pension
// contributions to the in-memory state and commits the writes:
//   - new-workers: every record is a new worker's first contribution (opens a worker and an
//     account: the most writes per record);
//   - monthly: the same 1,000 workers contribute month after month (the steady state of a
//     bureau's monthly upload).
func BenchmarkApplyContributions(b *testing.B) {
	for _, mode := range []string{"new-workers", "monthly"} {
		b.Run(mode, func(b *testing.B) {
			n := newTnet(b)
			p := n.bureau["44"]
			const per = 1000
			blocks := make([]*Block, b.N)
			var id [8]byte
			// Monthly uploads run through 2016-01..2024-12, the years with published crediting
			// rates, so that interest is posted as it would be; then the next 1,000 workers.
			start, _ := civil.PeriodFromInt(201601)
			const months = 9 * 12
			tmpl := map[uint32]*Contribution{}
			for i := range blocks {
				recs := make([][]byte, per)
				period := start.Add(i % months).Int()
				if mode == "new-workers" {
					period = 202301
				}
				if tmpl[period] == nil {
					tmpl[period] = n.contribution(worker(0), "440300", period, 800000)
				}
				for j := range recs {
					c := *tmpl[period]
					w := i*per + j
					if mode == "monthly" {
						w = i/months*per + j
					}
					binary.BigEndian.PutUint64(id[:], uint64(w))
					c.Worker = Pseudonym([]byte("bench"), string(id[:]))
					recs[j] = n.rec(p, &c)
				}
				blocks[i] = n.block(p, recs...)
				n.advanceDays(31)
			}
			warm(b, n, blocks)
			b.ResetTimer()
			cpu0 := processCPU(b)
			flt0 := minorFaults(b)
			for i := range blocks {
				res := n.apply(blocks[i])
				if res.Receipts[0].Code != CodeOK {
					b.Fatalf("receipt %+v", res.Receipts[0])
				}
				// A node releases a checkpoint's result once its writes are committed; keeping
				// every one (as tests do, to inspect them) would make the run allocate fresh
				// memory for every checkpoint's writes instead of reusing the last ones'.
				res.Release()
				n.results = n.results[:0]
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
			// CPU time, not wall time: on a machine shared with other work, the CPU seconds the
			// process spent (GC included; with -cpu 1 it all runs on one core) vary far less.
			b.ReportMetric(float64(b.N*per)/(processCPU(b)-cpu0).Seconds(), "records/cpu-s")
			b.ReportMetric(float64(minorFaults(b)-flt0)/float64(b.N*per), "faults/record")
		})
	}
}

// warm applies blocks once to a throwaway copy of n's network, so that the timed run reuses
// memory the process has already touched instead of faulting in fresh pages.
func warm(b *testing.B, n *tnet, blocks []*Block) {
	w := newTnet(b)
	w.time = n.time
	for _, blk := range blocks {
		res := w.apply(blk)
		if res.Receipts[0].Code != CodeOK {
			b.Fatalf("warm-up receipt %+v", res.Receipts[0])
		}
		res.Release()
		w.results = w.results[:0]
	}
	runtime.GC()
}

// minorFaults returns the page faults the process has taken that needed no I/O: the first touch
// of fresh memory, which on a virtual machine can cost microseconds each.
func minorFaults(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
