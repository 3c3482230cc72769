package torture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jaminan/jaminan/node/client"
)

var errNotRunning = errors.New("bureau not running")

// Ack is a record a bureau acknowledged (HTTP 202 with its ID).
type Ack struct {
	ID, Node, Scenario string
	At                 time.Time
}

// Balance is a worker's pension account in one region.
type Balance struct{ IA, Pooled int64 }

// Case is a transfer application the suite made.
type Case struct {
	ID, Worker, From, To string
	// Controlled cases are of workers whose whole history the suite submitted and who get no
	// records after the application: what arrives must equal Before exactly.
	Controlled bool
	Before     Balance
}

// Stats are one scenario's numbers: what was injected, what the clients saw, what the checker
// found.
type Stats struct {
	Name, Injected string
	Start, End     time.Time
	Acked          int64
	IntakeRejected int64 // refused in the 202 answer, with a code
	SubmitErrors   int64 // records of requests that got no 202 (error answer or none)
	ErrorKinds     map[string]int64
	RejectCodes    map[string]int64

	Lost, Duplicated, Final, ReceiptRejected int
	ReceiptCodes                             map[string]int
	Mismatch                                 int // a node answered differently for a record
	CrossChecked                             int // records queried on every node
	SeqsCompared                             uint64
	RootMismatches                           []string
	Deaths                                   []Death
	Recovery                                 time.Duration
	Recovered                                bool
	Notes                                    []string
	Failures                                 []string
}

// Failed says whether the scenario broke a promise.
func (s *Stats) Failed() bool { return len(s.Failures) > 0 }

func (s *Stats) fail(format string, args ...any) {
	s.Failures = append(s.Failures, fmt.Sprintf(format, args...))
}
func (s *Stats) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// Checker records every acknowledgement and answer and verifies the promises.
type Checker struct {
	c   *Cluster
	log *slog.Logger
	// CrossCheckAll queries every node for every acknowledged record (the long run); otherwise a
	// sample of CrossSample records per scenario is queried on every node and the rest on the
	// bureau that acknowledged them (identical roots imply identical receipts elsewhere).
	CrossCheckAll bool
	CrossSample   int
	// QuiesceWithin bounds the wait for quiescence before a scenario is checked.
	QuiesceWithin time.Duration

	mu        sync.Mutex
	cur       *Stats
	Scenarios []*Stats
	acks      []Ack
	ackSeen   map[string]bool
	cases     []Case
	dropped   atomic.Int64

	chainMu  sync.Mutex
	occ      map[string][]uint64 // record ID → checkpoints carrying it
	walked   uint64
	refRoots map[uint64]string // seq → "hash root" of the first node that reported it
	rootsAt  map[string]uint64 // node → compared up to this seq
	times    map[uint64]uint64 // seq → checkpoint time (unix ms, the leader's clock)
}

// NewChecker returns a checker of the cluster.
func NewChecker(c *Cluster, log *slog.Logger) *Checker {
	return &Checker{c: c, log: log, CrossSample: 100, QuiesceWithin: 3 * time.Minute, ackSeen: map[string]bool{}, occ: map[string][]uint64{},
		refRoots: map[uint64]string{}, rootsAt: map[string]uint64{}, times: map[uint64]uint64{}}
}

// Begin starts booking answers under a new scenario.
func (k *Checker) Begin(name, injected string) *Stats {
	s := &Stats{Name: name, Injected: injected, Start: time.Now(), ErrorKinds: map[string]int64{}, RejectCodes: map[string]int64{},
		ReceiptCodes: map[string]int{}}
	k.mu.Lock()
	k.cur = s
	k.Scenarios = append(k.Scenarios, s)
	k.mu.Unlock()
	return s
}

// Submitted books a 202 answer.
func (k *Checker) Submitted(node string, res client.SubmitResult) {
	now := time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range res.Accepted {
		if k.ackSeen[a.ID] {
			continue
		}
		k.ackSeen[a.ID] = true
		k.acks = append(k.acks, Ack{ID: a.ID, Node: node, Scenario: k.cur.Name, At: now})
		k.cur.Acked++
	}
	for _, r := range res.Rejected {
		k.cur.IntakeRejected++
		k.cur.RejectCodes[r.Code]++
	}
}

// SubmitFailed books a request that got no 202.
func (k *Checker) SubmitFailed(region string, n int, err error) {
	kind := "no answer"
	var ae *client.Error
	switch {
	case errors.Is(err, errNotRunning):
		kind = "bureau down"
	case errors.As(err, &ae):
		kind = fmt.Sprintf("HTTP %d %s", ae.Status, ae.Code)
	case strings.Contains(err.Error(), "connection refused"):
		kind = "connection refused"
	case strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "Timeout"):
		kind = "timeout"
	}
	k.mu.Lock()
	k.cur.SubmitErrors += int64(n)
	k.cur.ErrorKinds[kind] += int64(n)
	k.mu.Unlock()
}

// AddCase books a transfer application. The case token is the ID of the transfer.apply
// record the bureau acknowledged, so it is booked as an acknowledgement too.
func (k *Checker) AddCase(c Case) {
	k.mu.Lock()
	k.cases = append(k.cases, c)
	k.mu.Unlock()
	k.Submitted("bureau-"+c.To, client.SubmitResult{Accepted: []client.Accepted{{ID: c.ID}}})
}

// Acks returns the acknowledgements of a scenario ("" for all) made before t (zero: any time).
func (k *Checker) Acks(scenario string, before time.Time) []Ack {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Ack
	for _, a := range k.acks {
		if (scenario == "" || a.Scenario == scenario) && (before.IsZero() || a.At.Before(before)) {
			out = append(out, a)
		}
	}
	return out
}

// source returns a running node to read the chain from: a ministry node if one answers.
func (k *Checker) source(ctx context.Context) (*Proc, uint64, error) {
	var best *Proc
	var seq uint64
	for _, p := range append(k.c.Ministry(), k.c.Procs...) {
		if !p.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := k.c.Client(p).Status(sctx)
		cancel()
		if err == nil && (best == nil || s.Finalized.Seq > seq) {
			best, seq = p, s.Finalized.Seq
		}
	}
	if best == nil {
		return nil, 0, errors.New("no node answers")
	}
	return best, seq, nil
}

// Walk reads the checkpoints final since the last walk, and every block in them, and books
// which checkpoint carries each record. Identical roots (CompareRoots) make any node's chain
// everyone's.
func (k *Checker) Walk(ctx context.Context) error {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	p, top, err := k.source(ctx)
	if err != nil {
		return fmt.Errorf("walk the chain: %w", err)
	}
	// A checkpoint one node cannot serve is read from another (CompareRoots reports the gap).
	clients := []*client.Client{k.c.Client(p)}
	for _, o := range k.c.Procs {
		if o != p && o.Running() {
			clients = append(clients, k.c.Client(o))
		}
	}
	from := k.walked + 1
	if top < from {
		return nil
	}
	type result struct {
		seq uint64
		ids []string
		err error
	}
	seqs := make(chan uint64)
	results := make(chan result)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range seqs {
				var ids []string
				var err error
				for _, cl := range clients {
					if ids, err = k.checkpointRecords(ctx, cl, seq); err == nil {
						break
					}
				}
				results <- result{seq, ids, err}
			}
		}()
	}
	go func() {
		defer close(seqs)
		for s := from; s <= top; s++ {
			select {
			case seqs <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	got := map[uint64][]string{}
	var errs []error
	for r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		got[r.seq] = r.ids
	}
	// Book the contiguous prefix only, so that a failed read is retried on the next walk.
	for s := from; s <= top; s++ {
		ids, ok := got[s]
		if !ok {
			break
		}
		for _, id := range ids {
			k.occ[id] = append(k.occ[id], s)
		}
		k.walked = s
	}
	if len(errs) > 0 {
		return fmt.Errorf("walk the chain on %s: %w", p.Name, errors.Join(errs[:min(3, len(errs))]...))
	}
	return nil
}

func (k *Checker) checkpointRecords(ctx context.Context, cl *client.Client, seq uint64) ([]string, error) {
	var cp struct {
		Blocks []string `json:"blocks"`
	}
	if err := cl.Get(ctx, "/v1/checkpoints/"+strconv.FormatUint(seq, 10), &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", seq, err)
	}
	var ids []string
	for _, h := range cp.Blocks {
		var b struct {
			Checkpoint uint64 `json:"checkpoint"`
			Records    []struct {
				ID string `json:"id"`
			} `json:"records"`
		}
		if err := cl.Get(ctx, "/v1/blocks/"+h, &b); err != nil {
			return nil, fmt.Errorf("block %s of checkpoint %d: %w", h, seq, err)
		}
		if b.Checkpoint != seq {
			return nil, fmt.Errorf("block %s listed in checkpoint %d says it is in %d", h, seq, b.Checkpoint)
		}
		for _, r := range b.Records {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

func (k *Checker) walkedTo() uint64 {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	return k.walked
}

// Carried returns the checkpoints that carry a record.
func (k *Checker) Carried(id string) []uint64 {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	return k.occ[id]
}

// CompareRoots reads, from every running node, the checkpoints it has not reported yet (over
// GET /v1/events) and compares hash and state root with what the other nodes said at the same
// sequence. It returns the number of sequences newly compared and every disagreement.
func (k *Checker) CompareRoots(ctx context.Context) (uint64, []string, error) {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	var compared uint64
	var mismatches []string
	var errs []error
	for _, p := range k.c.Procs {
		if !p.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := k.c.Client(p).Status(sctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s status: %w", p.Name, err))
			continue
		}
		from := k.rootsAt[p.Name] + 1
		if s.Finalized.Seq < from {
			continue
		}
		n := s.Finalized.Seq - from + 1
		ectx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = k.events(ectx, p, from, n, func(seq uint64, v string, at uint64) {
			if ref, ok := k.refRoots[seq]; !ok {
				k.refRoots[seq] = v
				k.times[seq] = at
			} else if ref != v {
				mismatches = append(mismatches, fmt.Sprintf("%s at %d: %s, others %s", p.Name, seq, v, ref))
			} else {
				compared++
			}
			k.rootsAt[p.Name] = seq
		}, func(seq uint64) {
			var cp struct {
				Hash      string `json:"hash"`
				StateRoot string `json:"state_root"`
			}
			err := k.c.Client(p).Get(ctx, "/v1/checkpoints/"+strconv.FormatUint(seq, 10), &cp)
			if err != nil {
				mismatches = append(mismatches, fmt.Sprintf("%s skips final checkpoint %d in its event stream and cannot serve it: %v", p.Name, seq, err))
			} else {
				mismatches = append(mismatches, fmt.Sprintf("%s skips final checkpoint %d in its event stream but serves it (%s)", p.Name, seq, cp.Hash))
			}
		})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s events: %w", p.Name, err))
		}
	}
	return compared, mismatches, errors.Join(errs...)
}

// TimeSteps returns how often the checkpoint time went backwards between consecutive
// checkpoints final between from and to (times of the checkpoints, as the leaders stamped
// them), and the largest step back.
func (k *Checker) TimeSteps(from, to time.Time) (int, time.Duration) {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	var seqs []uint64
	for s := range k.times {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	n, worst := 0, time.Duration(0)
	for i := 1; i < len(seqs); i++ {
		a, b := k.times[seqs[i-1]], k.times[seqs[i]]
		if seqs[i] != seqs[i-1]+1 || b >= a {
			continue
		}
		at := time.UnixMilli(int64(b))
		if at.Before(from.Add(-2*time.Minute)) || at.After(to.Add(2*time.Minute)) {
			continue
		}
		n++
		worst = max(worst, time.Duration(a-b)*time.Millisecond)
	}
	return n, worst
}

// RootsCovered returns the highest sequence whose root every node reported, and the number of
// nodes.
func (k *Checker) RootsCovered() (uint64, int) {
	k.chainMu.Lock()
	defer k.chainMu.Unlock()
	var low uint64
	for i, p := range k.c.Procs {
		if at := k.rootsAt[p.Name]; i == 0 || at < low {
			low = at
		}
	}
	return low, len(k.c.Procs)
}

// events streams checkpoints [from, from+n) of a node.
func (k *Checker) events(ctx context.Context, p *Proc, from, n uint64, f func(seq uint64, v string, at uint64), gap func(seq uint64)) error {
	got := uint64(0)
	errDone := errors.New("all events read")
	cl := k.c.Client(p)
	cl.HTTP = nil // a stream is bounded by ctx, not by the cluster client's request timeout
	err := cl.Events(ctx, from, n, func(ev client.Event) error {
		if ev.Seq < from+got || ev.Seq >= from+n {
			return fmt.Errorf("event %d where %d was due", ev.Seq, from+got)
		}
		// The stream skips a checkpoint the node cannot read; ask for it directly, so that
		// the error is seen.
		for ; from+got < ev.Seq; got++ {
			gap(from + got)
		}
		f(ev.Seq, ev.Hash.String()+" "+ev.StateRoot.String(), ev.Time)
		if got++; got == n {
			return errDone
		}
		return nil
	})
	switch {
	case errors.Is(err, errDone):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("stream ended after %d of %d events", got, n)
}

// Quiesce waits, bounded, until every node runs, answers and reports one final sequence that
// does not move for a while (the load is paused by the caller).
func (k *Checker) Quiesce(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	var lastSeq uint64
	stable := 0
	for time.Now().Before(deadline) {
		st := k.c.Statuses(ctx)
		seqs := map[uint64]int{}
		var top uint64
		for _, s := range st {
			seqs[s.Finalized.Seq]++
			top = max(top, s.Finalized.Seq)
		}
		switch {
		case len(st) != len(k.c.Procs):
			last, stable = fmt.Sprintf("%d of %d nodes answer", len(st), len(k.c.Procs)), 0
		case len(seqs) != 1:
			last, stable = fmt.Sprintf("final sequences differ: %v", seqsOf(st)), 0
		case top != lastSeq:
			last, stable, lastSeq = fmt.Sprintf("still moving at %d", top), 0, top
		default:
			stable++
			if stable >= 4 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("not quiet within %v: %s", within, last)
}

func seqsOf(st map[string]client.Status) string {
	var parts []string
	for n, s := range st {
		parts = append(parts, fmt.Sprintf("%s=%d", n, s.Finalized.Seq))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Recovery measures, from healAt, how long it takes until every node's final sequence passes
// the highest one at healing time and every record in pending is carried in a final
// checkpoint. It polls every 250 ms, bounded by within.
func (k *Checker) Recovery(ctx context.Context, healAt time.Time, pending []Ack, within time.Duration) (time.Duration, error) {
	var mark uint64
	for _, s := range k.c.Statuses(ctx) {
		mark = max(mark, s.Finalized.Seq)
	}
	deadline := healAt.Add(within)
	var last string
	for time.Now().Before(deadline) {
		werr := k.Walk(ctx)
		st := k.c.Statuses(ctx)
		behind := []string{}
		for _, p := range k.c.Procs {
			if s, ok := st[p.Name]; !ok || s.Finalized.Seq <= mark {
				behind = append(behind, p.Name)
			}
		}
		missing := 0
		for _, a := range pending {
			if len(k.Carried(a.ID)) == 0 {
				missing++
			}
		}
		if len(behind) == 0 && missing == 0 {
			return time.Since(healAt), nil
		}
		last = fmt.Sprintf("nodes not past %d: %v; %d acknowledged records not final yet (chain walked to %d, last walk error: %v)",
			mark, behind, missing, k.walkedTo(), werr)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return within, fmt.Errorf("not recovered within %v: %s", within, last)
}

// recordAnswer is a node's answer about one record.
type recordAnswer struct {
	status, code string
	checkpoint   uint64
	err          error
}

func (k *Checker) record(ctx context.Context, p *Proc, id string) recordAnswer {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := k.c.Client(p).Record(rctx, id)
	if err != nil {
		return recordAnswer{err: err}
	}
	a := recordAnswer{status: st.Status, checkpoint: st.Checkpoint}
	if st.Receipt != nil {
		a.code = st.Receipt.Code
	}
	return a
}

// CheckAcks verifies acknowledged records after quiescence and a walk: each is carried in
// exactly one final checkpoint; the bureau that acknowledged it says final (receipt ok) or
// rejected with a receipt code, at that checkpoint; and every other node says the same (for
// all records in the long run, for a sample otherwise).
func (k *Checker) CheckAcks(ctx context.Context, s *Stats, acks []Ack) {
	type job struct {
		i   int
		ack Ack
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	stride := 1
	if !k.CrossCheckAll && len(acks) > k.CrossSample && k.CrossSample > 0 {
		stride = len(acks) / k.CrossSample
	}
	var failures []string
	addFail := func(format string, args ...any) {
		mu.Lock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		} else if len(failures) == 20 {
			failures = append(failures, "… (more)")
		}
		mu.Unlock()
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				a := j.ack
				carried := k.Carried(a.ID)
				if len(carried) > 1 {
					mu.Lock()
					s.Duplicated++
					mu.Unlock()
					addFail("record %s (acknowledged by %s) carried in checkpoints %v", a.ID, a.Node, carried)
					continue
				}
				home := k.c.Proc(a.Node)
				ans := k.record(ctx, home, a.ID)
				if len(carried) == 0 {
					mu.Lock()
					s.Lost++
					mu.Unlock()
					addFail("record %s (acknowledged by %s at %s) in no final checkpoint; the bureau says %q %v", a.ID, a.Node,
						a.At.Format("15:04:05.000"), ans.status, ans.err)
					continue
				}
				switch {
				case ans.err != nil:
					addFail("record %s at %s: %v", a.ID, a.Node, ans.err)
					continue
				case ans.checkpoint != carried[0] || ans.code == "" || (ans.status != "final" && ans.status != "rejected"):
					mu.Lock()
					s.Mismatch++
					mu.Unlock()
					addFail("record %s at %s: %s at %d code %q, the chain carries it at %d", a.ID, a.Node, ans.status, ans.checkpoint, ans.code, carried[0])
					continue
				}
				mu.Lock()
				if ans.code == "ok" {
					s.Final++
				} else {
					s.ReceiptRejected++
					s.ReceiptCodes[ans.code]++
				}
				mu.Unlock()
				if j.i%stride != 0 {
					continue
				}
				for _, p := range k.c.Procs {
					if p == home {
						continue
					}
					if o := k.record(ctx, p, a.ID); o.err != nil || o.status != ans.status || o.checkpoint != ans.checkpoint || o.code != ans.code {
						mu.Lock()
						s.Mismatch++
						mu.Unlock()
						addFail("record %s: %s says %s/%d/%s (%v), %s says %s/%d/%s", a.ID, p.Name, o.status, o.checkpoint, o.code, o.err,
							a.Node, ans.status, ans.checkpoint, ans.code)
					}
				}
				mu.Lock()
				s.CrossChecked++
				mu.Unlock()
			}
		}()
	}
	for i, a := range acks {
		select {
		case jobs <- job{i, a}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	s.Failures = append(s.Failures, failures...)
}

// Evaluate checks a scenario after its fault is healed: quiescence, chain walk, roots, its
// acknowledged records, and the deaths since it began.
func (k *Checker) Evaluate(ctx context.Context, s *Stats, acks []Ack) {
	if err := k.Quiesce(ctx, k.QuiesceWithin); err != nil {
		s.fail("quiescence: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := k.Walk(ctx); err == nil {
			break
		} else if i == 2 {
			s.fail("chain walk: %v", err)
		}
	}
	n, mism, err := k.CompareRoots(ctx)
	s.SeqsCompared += n
	s.RootMismatches = append(s.RootMismatches, mism...)
	if err != nil {
		s.fail("compare roots: %v", err)
	}
	for _, m := range mism {
		s.fail("state roots disagree: %s", m)
	}
	k.CheckAcks(ctx, s, acks)
	for _, d := range k.c.Deaths() {
		if !d.At.Before(s.Start) {
			s.Deaths = append(s.Deaths, d)
			msg := fmt.Sprintf("%s died unexpectedly at %s: %s", d.Node, d.At.Format("15:04:05"), d.Err)
			if d.Crash != "" {
				msg += "\n\n```\n" + d.Crash + "\n```\n"
			}
			s.Failures = append(s.Failures, msg)
		}
	}
	if s.Lost > 0 {
		s.fail("%d acknowledged records lost", s.Lost)
	}
	if s.Duplicated > 0 {
		s.fail("%d acknowledged records carried more than once", s.Duplicated)
	}
}

// Transfers checks every transfer case the suite applied for: all bureaus tell the same stage
// and amounts; no worker's account left one region twice; and for controlled cases, the case
// completed and moved exactly the balance the worker had, which arrived whole.
func (k *Checker) Transfers(ctx context.Context, s *Stats, within time.Duration) {
	k.mu.Lock()
	cases := append([]Case(nil), k.cases...)
	k.mu.Unlock()
	type view struct {
		Stage  string `json:"stage"`
		From   string `json:"from"`
		To     string `json:"to"`
		Amount struct {
			Individual int64 `json:"individual"`
			Pooled     int64 `json:"pooled"`
			Total      int64 `json:"total"`
		} `json:"amount"`
	}
	var bureaus []*Proc
	for _, r := range Regions {
		bureaus = append(bureaus, k.c.Bureau(r))
	}
	get := func(p *Proc, id string) (view, error) {
		var v view
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := client.New("http://"+p.HTTP, "").Get(rctx, "/v1/transfers/"+id, &v)
		return v, err
	}
	// Controlled cases complete by themselves once the bureaus act; wait for them, bounded.
	deadline := time.Now().Add(within)
	for _, c := range cases {
		if !c.Controlled {
			continue
		}
		for {
			v, err := get(k.c.Bureau(c.From), c.ID)
			if (err == nil && (v.Stage == "completed" || v.Stage == "rejected")) || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	moved := map[string]int{} // worker|from → cases that moved money out
	conserved, completed, refused := 0, 0, 0
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.ID] {
			continue // the same application twice is one record, one case
		}
		seen[c.ID] = true
		// An application the ledger rejected (say, a second one while a case is open) makes no
		// case: it must be rejected with a receipt.
		if _, err := get(k.c.Bureau(c.To), c.ID); client.StatusOf(err) == http.StatusNotFound {
			ans := k.record(ctx, k.c.Bureau(c.To), c.ID)
			if ans.err == nil && ans.status == "rejected" && ans.code != "" {
				refused++
				s.note("transfer application %s… makes no case: rejected by receipt %q at checkpoint %d", c.ID[:12], ans.code, ans.checkpoint)
			} else {
				s.fail("transfer application %s: no case, and the record is %q %q (%v)", c.ID, ans.status, ans.code, ans.err)
			}
			continue
		}
		var ref view
		for i, p := range bureaus {
			v, err := get(p, c.ID)
			if err != nil {
				s.fail("transfer %s at %s: %v", c.ID, p.Name, err)
				continue
			}
			if i == 0 {
				ref = v
			} else if v != ref {
				s.fail("transfer %s: %s says %+v, %s says %+v", c.ID, p.Name, v, bureaus[0].Name, ref)
			}
		}
		if ref.Stage == "out_processed" || ref.Stage == "partial" || ref.Stage == "completed" {
			moved[c.Worker+"|"+c.From]++
			if ref.Amount.Total != ref.Amount.Individual+ref.Amount.Pooled {
				s.fail("transfer %s: total %d ≠ individual %d + pooled %d", c.ID, ref.Amount.Total, ref.Amount.Individual, ref.Amount.Pooled)
			}
		}
		if !c.Controlled {
			continue
		}
		if ref.Stage != "completed" {
			s.fail("controlled transfer %s (%s→%s) at stage %q, not completed within %v", c.ID, c.From, c.To, ref.Stage, within)
			continue
		}
		completed++
		if ref.Amount.Individual != c.Before.IA || ref.Amount.Pooled != c.Before.Pooled {
			s.fail("transfer %s moved individual %d pooled %d; the account held %d and %d", c.ID, ref.Amount.Individual, ref.Amount.Pooled,
				c.Before.IA, c.Before.Pooled)
			continue
		}
		after, err := k.balances(ctx, k.c.Bureau(c.To), c.Worker)
		if err != nil {
			s.fail("account of a transferred worker: %v", err)
			continue
		}
		if after[c.To].IA != c.Before.IA || after[c.From].IA != 0 {
			s.fail("transfer %s: after it, individual account %d at %s (want %d) and %d at %s (want 0)", c.ID, after[c.To].IA, c.To,
				c.Before.IA, after[c.From].IA, c.From)
			continue
		}
		conserved++
	}
	for key, n := range moved {
		if n > 1 {
			s.fail("the account %s was transferred out %d times", key, n)
		}
	}
	s.note("%d transfer applications (%d rejected by receipt); %d controlled cases: %d completed, %d with the exact balance arriving whole; %d accounts moved money out, none twice",
		len(seen), refused, countControlled(cases), completed, conserved, len(moved))
}

func countControlled(cs []Case) int {
	n := 0
	for _, c := range cs {
		if c.Controlled {
			n++
		}
	}
	return n
}

// balances returns a worker's pension accounts by region, as a bureau's operator reads them.
func (k *Checker) balances(ctx context.Context, p *Proc, worker string) (map[string]Balance, error) {
	var acct struct {
		Regions []struct {
			Region string `json:"region"`
			Scheme string `json:"scheme"`
			IA     int64  `json:"individual_balance"`
			Pooled int64  `json:"pooled_transferable"`
		} `json:"regions"`
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := k.c.Client(p).Get(rctx, "/v1/workers/"+worker+"/account", &acct); err != nil {
		return nil, fmt.Errorf("account at %s: %w", p.Name, err)
	}
	out := map[string]Balance{}
	for _, r := range acct.Regions {
		if r.Scheme == "pension" {
			out[r.Region] = Balance{IA: r.IA, Pooled: r.Pooled}
		}
	}
	return out, nil
}
