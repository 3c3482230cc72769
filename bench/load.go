package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/node"
	"github.com/jaminan/jaminan/node/client"
	"github.com/jaminan/jaminan/workload"
)

// source makes one bureau's records: the synthetic workload of its province (employment starts
// and monthly contributions in the four schemes; a single-province generator makes no transfers),
// starting monthsBack months ago so that the months stay in the past for the whole run.
type source struct {
	gen   *workload.Generator
	conv  *intake.Converter
	node  *node.Node
	cl    *client.Client
	bad   atomic.Int64 // inputs the converter refused (none expected)
	local bool         // the ack comes from node.Submit, not HTTP
}

func newSource(seed uint64, region workload.Region, workers, monthsBack int, g *ledger.Genesis, pepper []byte) *source {
	start := civil.DateOfUnixMilli(time.Now().UnixMilli(), int(g.UTCOffset)).Period().Add(-monthsBack)
	return &source{gen: workload.New(seed, []workload.Region{region}, workers, start), conv: intake.NewConverter(g, pepper)}
}

// next returns the next n inputs (or slightly more: a worker's records stay together).
func (s *source) next(n int) []intake.Input {
	out := make([]intake.Input, 0, n+5)
	for len(out) < n {
		out = append(out, s.gen.Next()...)
	}
	return out
}

// submit acknowledges a batch at the bureau and returns the acknowledged IDs.
func (s *source) submit(ctx context.Context, ins []intake.Input, offset int) ([]ledger.Hash, error) {
	if !s.local {
		res, err := s.cl.Submit(ctx, ins)
		if err != nil {
			return nil, fmt.Errorf("submit over HTTP: %w", err)
		}
		ids := make([]ledger.Hash, 0, len(res.Accepted))
		for _, a := range res.Accepted {
			h, err := ledger.ParseHash(a.ID)
			if err != nil {
				return nil, fmt.Errorf("submit over HTTP: accepted ID %q: %w", a.ID, err)
			}
			ids = append(ids, h)
		}
		s.bad.Add(int64(len(res.Rejected)))
		return ids, nil
	}
	nowMs := time.Now().UnixMilli()
	today := civil.DateOfUnixMilli(nowMs, offset)
	author := s.node.Member().ID
	recs := make([]ledger.Record, 0, len(ins))
	for i := range ins {
		body, err := s.conv.Body(&ins[i], today)
		if err != nil {
			s.bad.Add(1)
			continue
		}
		recs = append(recs, ledger.NewRecord(author, uint64(nowMs), body))
	}
	res, err := s.node.Submit(ctx, recs)
	if err != nil {
		return nil, fmt.Errorf("submit in process: %w", err)
	}
	ids := make([]ledger.Hash, 0, len(res))
	for _, r := range res {
		if r.Code == "" {
			ids = append(ids, r.ID)
		} else {
			s.bad.Add(1)
		}
	}
	return ids, nil
}

// driver offers load to the bureaus at a rate (records/s; 0: as fast as they acknowledge) until
// its context ends. Each bureau has a generator and conc submitters; under an open-loop rate, a
// batch that finds every submitter busy is shed (counted, not sent), so that the offered load
// does not silently become a closed loop.
type driver struct {
	sources []*source
	tr      *tracker
	offset  int // the network's UTC offset, for today's date
	conc    int
	errs    atomic.Int64
	shed    atomic.Int64 // records not offered: every submitter busy, or refused until the load stopped
	busy    atomic.Int64 // submissions the bureau refused with back-pressure (503), retried
	lastErr atomic.Value
}

// busyBackoff is the first and the longest wait before a submitter offers a batch the bureau
// refused with back-pressure again, as a client does: the offered load meets the rate the
// network carries instead of a stream of refusals (whose building would take the nodes' CPU).
const (
	busyBackoff    = 50 * time.Millisecond
	busyBackoffMax = time.Second
)

// isBusy reports whether err is a bureau's back-pressure refusal (503, nothing stored).
func isBusy(err error) bool {
	var ce *client.Error
	return errors.Is(err, api.ErrUnavailable) || (errors.As(err, &ce) && ce.Status == http.StatusServiceUnavailable)
}

// submitRetrying submits a batch, offering it again after a back-off while the bureau refuses it
// with back-pressure and the load has not stopped.
func (d *driver) submitRetrying(ctx context.Context, s *source, ins []intake.Input) ([]ledger.Hash, error) {
	wait := busyBackoff
	for {
		// A submission under way when the load stops is finished, not cancelled: records the
		// outbox took are on their way to a block, so they must be counted as acknowledged.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		ids, err := s.submit(sctx, ins, d.offset)
		cancel()
		if err == nil || !isBusy(err) {
			return ids, err
		}
		d.busy.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, busyBackoffMax)
	}
}

const tick = 20 * time.Millisecond // how often a bureau's generator offers a batch

func (d *driver) run(ctx context.Context, rate float64) {
	var wg sync.WaitGroup
	for _, s := range d.sources {
		batches := make(chan []intake.Input, d.conc)
		for range d.conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ins := range batches {
					ids, err := d.submitRetrying(ctx, s, ins)
					if isBusy(err) { // still refused when the load stopped: not offered after all
						d.shed.Add(int64(len(ins)))
						continue
					}
					if err != nil {
						d.errs.Add(1)
						d.lastErr.Store(err.Error())
						continue
					}
					d.tr.acknowledged(ids, time.Now())
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(batches)
			if rate <= 0 {
				for ctx.Err() == nil {
					select {
					case batches <- s.next(500):
					case <-ctx.Done():
					}
				}
				return
			}
			// Credit accrues by the clock, not by ticks: a starved process misses ticks, and
			// the offered load must not drop with them.
			per := rate / float64(len(d.sources))
			t := time.NewTicker(tick)
			defer t.Stop()
			credit, last := 0.0, time.Now()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				now := time.Now()
				credit += per * now.Sub(last).Seconds()
				last = now
				if credit < 1 {
					continue
				}
				ins := s.next(int(credit))
				credit -= float64(len(ins))
				select {
				case batches <- ins:
				default:
					d.shed.Add(int64(len(ins)))
				}
			}
		}()
	}
	wg.Wait()
}
