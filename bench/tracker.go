package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// tracker follows every acknowledged record to the moment it is final and applied on every
// bureau (its latency) and every checkpoint to the moment it is final and applied on every node
// (the throughput). Nodes report applied checkpoints through node.Options.OnCommitted and their
// final sequence through a poller; a node's read view moves only to a checkpoint it has applied
// and that is final, so "final sequence ≥ s" means "checkpoint s final and applied here".
type tracker struct {
	mu      sync.Mutex
	bureau  []bool   // by node index
	final   []uint64 // last final sequence seen, by node index
	seqs    map[uint64]*seqInfo
	acks    map[ledger.Hash]ack       // acknowledged, not yet final on every bureau
	early   map[ledger.Hash]time.Time // final on every bureau before its acknowledgement came back
	lowBur  uint64                    // checkpoints up to this one are final on every bureau
	lowAll  uint64                    // … and on every node
	acked   int64                     // records acknowledged
	doneAll int64                     // records (receipts) final on every node
	okAll   int64                     // of which with code OK
	missing int64                     // checkpoints final everywhere whose receipts were never seen

	// The current step's measurement window and what fell inside it.
	step               int
	winFrom, winTo     time.Time
	winAcked, winFinal int64
	winCkpts, winCkRec int64             // checkpoints final on every bureau in the window, and their records
	lat                [][]time.Duration // by step: acknowledgement → final on every bureau
	first              [][]time.Duration // by step: acknowledgement → final on the first node
	spread             [][]time.Duration // by step, per checkpoint: first node → every bureau
}

type ack struct {
	at   time.Time
	step int // -1: acknowledged outside a measurement window, not sampled
}

type seqInfo struct {
	ids   []ledger.Hash
	ok    int
	first time.Time // when the first node served it final (zero: its contents came later)
}

func newTracker(bureau []bool) *tracker {
	return &tracker{bureau: bureau, final: make([]uint64, len(bureau)), seqs: map[uint64]*seqInfo{},
		acks: map[ledger.Hash]ack{}, early: map[ledger.Hash]time.Time{}, step: -1}
}

// committed is node i's OnCommitted hook: it learns which records checkpoint res.Seq holds.
func (t *tracker) committed(res *ledger.Result) {
	t.mu.Lock()
	known := res.Seq <= t.lowAll || t.seqs[res.Seq] != nil
	t.mu.Unlock()
	if known { // another node applied it first: spare the copy
		return
	}
	ids := make([]ledger.Hash, len(res.Receipts))
	ok := 0
	for j, r := range res.Receipts {
		ids[j] = r.ID
		if r.Code == ledger.CodeOK {
			ok++
		}
	}
	t.contents(res.Seq, ids, ok)
}

// contents learns that checkpoint seq holds the records ids, ok of them with code OK.
func (t *tracker) contents(seq uint64, ids []ledger.Hash, ok int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq <= t.lowAll || t.seqs[seq] != nil {
		return
	}
	t.seqs[seq] = &seqInfo{ids: ids, ok: ok}
}

// acknowledged records the acknowledgement of ids at time at.
func (t *tracker) acknowledged(ids []ledger.Hash, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	step := -1
	if t.step >= 0 && !at.Before(t.winFrom) && !at.After(t.winTo) {
		step = t.step
		t.winAcked += int64(len(ids))
	}
	t.acked += int64(len(ids))
	for _, id := range ids {
		if fin, ok := t.early[id]; ok {
			delete(t.early, id)
			if step >= 0 {
				t.lat[step] = append(t.lat[step], max(0, fin.Sub(at)))
			}
			continue
		}
		t.acks[id] = ack{at: at, step: step}
	}
}

// observe records that node i serves final sequence seq at time now.
func (t *tracker) observe(i int, seq uint64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq <= t.final[i] {
		return
	}
	for s := t.final[i] + 1; s <= seq; s++ {
		if si := t.seqs[s]; si != nil && si.first.IsZero() {
			si.first = now
		}
	}
	t.final[i] = seq
	lowBur, lowAll := ^uint64(0), ^uint64(0)
	for j, f := range t.final {
		lowAll = min(lowAll, f)
		if t.bureau[j] {
			lowBur = min(lowBur, f)
		}
	}
	inWin := t.step >= 0 && !now.Before(t.winFrom) && !now.After(t.winTo)
	for s := t.lowBur + 1; s <= lowBur; s++ {
		si := t.seqs[s]
		if si == nil {
			continue
		}
		if inWin {
			t.winCkpts++
			t.winCkRec += int64(len(si.ids))
			if !si.first.IsZero() {
				t.spread[t.step] = append(t.spread[t.step], now.Sub(si.first))
			}
		}
		for _, id := range si.ids {
			a, ok := t.acks[id]
			if !ok {
				t.early[id] = now
				continue
			}
			delete(t.acks, id)
			if a.step >= 0 {
				t.lat[a.step] = append(t.lat[a.step], now.Sub(a.at))
				if !si.first.IsZero() {
					t.first[a.step] = append(t.first[a.step], max(0, si.first.Sub(a.at)))
				}
			}
		}
	}
	t.lowBur = max(t.lowBur, lowBur)
	for s := t.lowAll + 1; s <= lowAll; s++ {
		si := t.seqs[s]
		delete(t.seqs, s)
		if si == nil {
			t.missing++
			continue
		}
		t.doneAll += int64(len(si.ids))
		t.okAll += int64(si.ok)
		if inWin {
			t.winFinal += int64(len(si.ids))
		}
	}
	t.lowAll = max(t.lowAll, lowAll)
}

// startWindow opens the measurement window of step k.
func (t *tracker) startWindow(k int, from, to time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.lat) <= k {
		t.lat, t.first, t.spread = append(t.lat, nil), append(t.first, nil), append(t.spread, nil)
	}
	t.step, t.winFrom, t.winTo, t.winAcked, t.winFinal, t.winCkpts, t.winCkRec = k, from, to, 0, 0, 0, 0
}

// window returns what fell in the current window: records acknowledged and final on every node.
func (t *tracker) window() (acked, final int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.winAcked, t.winFinal
}

// stages returns step k's sorted samples of the two stages of the latency, acknowledgement →
// final on the first node and, per checkpoint, first node → every bureau, and the checkpoints
// final on every bureau in its window and their records.
func (t *tracker) stages(k int) (first, spread []time.Duration, ckpts, records int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k < len(t.first) {
		first, spread = slices.Clone(t.first[k]), slices.Clone(t.spread[k])
	}
	slices.Sort(first)
	slices.Sort(spread)
	if k == t.step {
		ckpts, records = t.winCkpts, t.winCkRec
	}
	return first, spread, ckpts, records
}

// outstanding returns the acknowledged records not yet final on every bureau, and the
// acknowledged records minus the records final on every node (≤ 0 once everything is through).
func (t *tracker) outstanding() (notFinalBureaus int, behind int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.acks), t.acked - t.doneAll
}

// latencies returns step k's sorted latency samples.
func (t *tracker) latencies(k int) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k >= len(t.lat) {
		return nil
	}
	out := slices.Clone(t.lat[k])
	slices.Sort(out)
	return out
}

// totals returns the records acknowledged and final on every node (all, and with code OK).
func (t *tracker) totals() (acked, final, ok int64, lowAll uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked, t.doneAll, t.okAll, t.lowAll
}

// percentile returns the q-quantile (0–1) of sorted samples by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}
