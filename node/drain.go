package node

import (
	"time"
)

// drainWindow is how far back drainRate looks: long enough to smooth the checkpoints' bursts
// (under overload a checkpoint carries thousands of blocks, and a bureau may see nothing applied
// for ten seconds and more, then a flood), short enough to follow a network that slows down or
// recovers.
const drainWindow = time.Minute

// drainRate estimates how fast the network takes a bureau's acknowledged records off its hands:
// the own records that the checkpoints applied in the last drainWindow carried. With the
// records still pending it gives the wait a new record can expect before it is final (Little's
// law), which is what max_pending_wait bounds.
type drainRate struct {
	samples []drainSample // oldest first, none older than drainWindow before the last add
	sum     int
}

type drainSample struct {
	at      time.Time
	records int
}

// add counts records applied at now.
func (d *drainRate) add(now time.Time, records int) {
	if records <= 0 {
		return
	}
	d.samples = append(d.samples, drainSample{now, records})
	d.sum += records
	d.prune(now)
}

func (d *drainRate) prune(now time.Time) {
	i := 0
	for i < len(d.samples) && now.Sub(d.samples[i].at) > drainWindow {
		d.sum -= d.samples[i].records
		i++
	}
	if i > 0 {
		d.samples = append(d.samples[:0], d.samples[i:]...)
	}
}

// perSecond returns the records applied per second over the window ending at now. It divides by
// the whole window even when the bureau has been applying for less, so that it errs low (and the
// bound errs towards refusing) while it has seen little.
func (d *drainRate) perSecond(now time.Time) float64 {
	d.prune(now)
	return float64(d.sum) / drainWindow.Seconds()
}

// pendingAllowed returns how many records may be pending at now so that a new one can expect to
// be final within wait, at least floor.
func (d *drainRate) pendingAllowed(now time.Time, wait time.Duration, floor int) int {
	n := d.perSecond(now) * wait.Seconds()
	if n > 1<<40 {
		n = 1 << 40
	}
	return max(floor, int(n))
}
