package torture

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

// Load submits the synthetic workload to the bureaus of its regions over HTTP and tells the
// checker every answer. Records of a batch whose answer was lost (a killed or cut-off bureau)
// are not acknowledged and are not retried: the client does not know whether they were taken.
type Load struct {
	c        *Cluster
	chk      *Checker
	rate     float64
	gen      *workload.Generator
	paused   atomic.Bool
	inflight atomic.Int64

	mu    sync.Mutex
	queue map[string][]intake.Input // region → records waiting to be sent
}

// maxQueue bounds what waits for a bureau that does not answer; beyond it the generator's
// records for that region are dropped (never sent, so never acknowledged).
const maxQueue = 4000

// NewLoad returns a workload of about rate records per second over workers synthetic workers.
func NewLoad(c *Cluster, chk *Checker, rate float64, workers int, seed uint64) *Load {
	// Months well in the past, so that the generated periods stay in the past for the whole run.
	now := civil.DateOfUnixMilli(time.Now().UnixMilli(), 8*3600).Period()
	start := civil.MustPeriod(now.Year-5, now.Month)
	return &Load{c: c, chk: chk, rate: rate, gen: workload.New(seed, workload.DefaultRegions(), workers, start),
		queue: map[string][]intake.Input{}}
}

// Pause stops generating records until Resume (the checker waits for quiescence meanwhile).
func (l *Load) Pause() { l.paused.Store(true) }

// WaitIdle waits, bounded, until no request of the load is in flight and the queues are empty
// (the queues of a bureau that does not answer are dropped).
func (l *Load) WaitIdle(within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		queued := 0
		for _, q := range l.queue {
			queued += len(q)
		}
		l.mu.Unlock()
		if queued == 0 && l.inflight.Load() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.mu.Lock()
	for r, q := range l.queue {
		l.chk.dropped.Add(int64(len(q)))
		l.queue[r] = nil
	}
	l.mu.Unlock()
}

// Resume generates records again.
func (l *Load) Resume() { l.paused.Store(false) }

// Run generates and submits until ctx ends, and waits for its senders.
func (l *Load) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, r := range Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.sender(ctx, r)
		}()
	}
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	credit := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.paused.Load() {
			continue
		}
		credit += l.rate * tick.Seconds()
		l.mu.Lock()
		for credit >= 1 {
			for _, in := range l.gen.Next() {
				credit--
				if len(in.Region) < 2 {
					continue
				}
				r := in.Region[:2]
				if len(l.queue[r]) < maxQueue {
					l.queue[r] = append(l.queue[r], in)
				} else {
					l.chk.dropped.Add(1)
				}
			}
		}
		for _, m := range l.gen.Transfers() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.applyMove(ctx, m)
			}()
		}
		l.gen.Consents() // consents are not part of what the suite checks
		l.mu.Unlock()
	}
}

func (l *Load) applyMove(ctx context.Context, m workload.Transfer) {
	p := l.c.Bureau(m.To)
	if p == nil || !p.Running() {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	caseID, err := l.c.Client(p).ApplyTransfer(rctx, m.WorkerID, m.From, m.To)
	if err == nil {
		l.chk.AddCase(Case{ID: caseID, Worker: m.WorkerID, From: m.From, To: m.To})
	}
}

// sender sends the region's queue in batches of up to 500, one request at a time.
func (l *Load) sender(ctx context.Context, region string) {
	p := l.c.Bureau(region)
	for ctx.Err() == nil {
		l.mu.Lock()
		batch := l.queue[region]
		if len(batch) > 500 {
			batch = batch[:500]
		}
		l.queue[region] = l.queue[region][len(batch):]
		l.mu.Unlock()
		if len(batch) == 0 || !p.Running() {
			if len(batch) > 0 {
				l.chk.SubmitFailed(region, len(batch), errNotRunning)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		l.submit(ctx, p, region, batch)
	}
}

func (l *Load) submit(ctx context.Context, p *Proc, region string, batch []intake.Input) {
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := l.c.Client(p).Submit(rctx, batch)
	if err != nil {
		l.chk.SubmitFailed(region, len(batch), err)
		return
	}
	l.chk.Submitted(p.Name, res)
}

// SubmitOnce sends one batch to a bureau outside the load (the full-disk scenario's probe) and
// books the answer like the load does.
func (l *Load) SubmitOnce(ctx context.Context, p *Proc, n int) (client.SubmitResult, error) {
	l.mu.Lock()
	var batch []intake.Input
	for len(batch) < n {
		for _, in := range l.gen.Next() {
			if len(in.Region) >= 2 && in.Region[:2] == p.Region {
				batch = append(batch, in)
			} else if r := in.Region; len(r) >= 2 && len(l.queue[r[:2]]) < maxQueue {
				l.queue[r[:2]] = append(l.queue[r[:2]], in)
			}
		}
	}
	l.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := l.c.Client(p).Submit(rctx, batch)
	if err != nil {
		l.chk.SubmitFailed(p.Region, len(batch), err)
		return res, err
	}
	l.chk.Submitted(p.Name, res)
	return res, nil
}
