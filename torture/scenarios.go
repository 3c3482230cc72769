package torture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/workload"
)

// Config is one run of the suite.
type Config struct {
	Long    bool
	Dir     string // working directory (keys, data, logs)
	Bin     string // the built jaminan binary
	Logger  *slog.Logger
	Rate    float64 // records per second of the load
	Workers int     // synthetic workers of the load
	// Only, if not empty, names the scenarios to run (development); the report then says so.
	Only []string
}

// Suite is a running torture suite: the cluster, the load and the checker.
type Suite struct {
	cfg  Config
	log  *slog.Logger
	C    *Cluster
	Chk  *Checker
	load *Load

	controlled []controlled // workers waiting for their transfer application
	Started    time.Time
	Finished   time.Time
	Total      *Stats // the whole run, checked at the end
	Skipped    []string
}

type controlled struct {
	worker string
	before Balance
}

// Scenario is one fault the suite injects under load; run returns when the fault is healed,
// with the moment of healing.
type Scenario struct {
	Name, Injected string
	run            func(ctx context.Context, s *Suite, st *Stats) (healAt time.Time, err error)
}

// tmpfsBytes is the size of bureau 51's file system: its store's mapped files take their full
// size when created (value log 128 MiB, memtable logs 32 MiB each, third_party/README.md), and
// the node stops writing below its 256 MiB free-space floor, so 1 GiB leaves it room to work
// until the full-disk scenario fills the rest.
const tmpfsBytes = 1 << 30

// durations of the short and the long run.
func (s *Suite) pick(short, long time.Duration) time.Duration {
	if s.cfg.Long {
		return long
	}
	return short
}

func (s *Suite) rounds(short, long int) int {
	if s.cfg.Long {
		return long
	}
	return short
}

// Run builds the cluster, runs every scenario and checks the whole run. The caller must call
// Close.
func Run(ctx context.Context, cfg Config) (*Suite, error) {
	s := &Suite{cfg: cfg, log: cfg.Logger, Started: time.Now()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	opts := Options{Dir: cfg.Dir, Bin: cfg.Bin, Logger: s.log}
	_, ipErr := exec.LookPath("ip")
	switch {
	case os.Geteuid() != 0:
		s.Skipped = append(s.Skipped, "partition and full-disk: network namespaces and tmpfs mounts need root")
	case ipErr != nil:
		opts.TmpfsRegion, opts.TmpfsBytes = "51", tmpfsBytes
		s.Skipped = append(s.Skipped, "partition: the ip tool (iproute2) is missing")
	default:
		opts.NetNSRegion, opts.TmpfsRegion, opts.TmpfsBytes = "11", "51", tmpfsBytes
	}
	var err error
	if s.C, err = NewCluster(opts); err != nil {
		return s, err
	}
	s.Chk = NewChecker(s.C, s.log)
	s.Chk.CrossCheckAll = cfg.Long
	s.Chk.QuiesceWithin = s.pick(90*time.Second, 3*time.Minute)
	if err := s.C.StartAll(ctx); err != nil {
		return s, fmt.Errorf("start the cluster: %w", err)
	}
	if err := s.setup(ctx); err != nil {
		return s, err
	}
	s.load = NewLoad(s.C, s.Chk, cfg.Rate, cfg.Workers, 8)
	s.load.Pause()
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.load.Run(lctx) }()
	defer func() { stopLoad(); wg.Wait() }()

	for _, sc := range s.scenarios() {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, sc.Name) {
			s.Skipped = append(s.Skipped, sc.Name+" (not selected)")
			continue
		}
		s.runScenario(ctx, sc)
	}
	stopLoad()
	wg.Wait()

	// The whole run: every acknowledgement of every scenario once more, after everything.
	s.Total = s.Chk.Begin("whole run", "all of the above, checked once more at the end")
	s.Chk.Evaluate(ctx, s.Total, s.Chk.Acks("", time.Time{}))
	s.Chk.Transfers(ctx, s.Total, 2*time.Minute)
	var acked, rejected, errs int64
	for _, st := range s.Chk.Scenarios[:len(s.Chk.Scenarios)-1] {
		acked += st.Acked
		rejected += st.IntakeRejected
		errs += st.SubmitErrors
	}
	s.Total.Acked, s.Total.IntakeRejected, s.Total.SubmitErrors = acked, rejected, errs
	for _, st := range s.Chk.Scenarios[:len(s.Chk.Scenarios)-1] {
		s.Total.SeqsCompared += st.SeqsCompared
		for k, v := range st.ErrorKinds {
			s.Total.ErrorKinds[k] += v
		}
		for k, v := range st.RejectCodes {
			s.Total.RejectCodes[k] += v
		}
	}
	seqs, nodes := s.Chk.RootsCovered()
	s.Total.note("state roots: sequences 1–%d compared on all %d nodes (each node's whole event stream)", seqs, nodes)
	s.Total.End = time.Now()
	s.Finished = time.Now()
	return s, nil
}

// Close stops every process and undoes namespaces and mounts.
func (s *Suite) Close() error {
	if s.C == nil {
		return nil
	}
	return s.C.Close()
}

// Failed says whether any scenario broke a promise.
func (s *Suite) Failed() bool {
	if s.Chk == nil {
		return true
	}
	for _, st := range s.Chk.Scenarios {
		if st.Failed() {
			return true
		}
	}
	return false
}

func (s *Suite) runScenario(ctx context.Context, sc Scenario) {
	s.log.Info("scenario", "name", sc.Name)
	st := s.Chk.Begin(sc.Name, sc.Injected)
	s.load.Resume()
	s.applyTransfers(ctx, st, 2)
	sleepCtx(ctx, s.pick(2*time.Second, 5*time.Second)) // load before the fault
	healAt, err := sc.run(ctx, s, st)
	if err != nil {
		st.fail("inject: %v", err)
	}
	if healAt.IsZero() {
		healAt = time.Now()
	}
	pending := s.Chk.Acks(st.Name, healAt)
	rec, err := s.Chk.Recovery(ctx, healAt, pending, s.pick(90*time.Second, 3*time.Minute))
	st.Recovery, st.Recovered = rec, err == nil
	if err != nil {
		st.fail("recovery: %v", err)
	}
	sleepCtx(ctx, s.pick(1500*time.Millisecond, 5*time.Second)) // load after the healing
	s.load.Pause()
	s.load.WaitIdle(15 * time.Second)
	st.End = time.Now()
	s.Chk.Evaluate(ctx, st, s.Chk.Acks(st.Name, time.Time{}))
	if n, worst := s.Chk.TimeSteps(st.Start, st.End); n > 0 {
		st.note("checkpoint time went backwards %d times (at most %v) as leadership moved between clocks; every node still agreed", n, worst)
	} else if sc.Name == "clock-skew" {
		st.note("checkpoint times never went backwards, also under the leader whose clock was behind")
	}
	s.log.Info("scenario done", "name", sc.Name, "acked", st.Acked, "lost", st.Lost, "duplicated", st.Duplicated,
		"recovery", st.Recovery, "failures", len(st.Failures))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *Suite) scenarios() []Scenario {
	var out []Scenario
	leaderRounds, leaderEvery := s.rounds(3, 12), s.pick(4*time.Second, 5*time.Second)
	out = append(out, Scenario{Name: "leader-kill",
		Injected: fmt.Sprintf("kill -9 of the ministry Raft leader every %v, %d times, each restarted %v later, under load", leaderEvery, leaderRounds, leaderEvery/2),
		run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
			var healAt time.Time
			for i := range leaderRounds {
				var leader *Proc
				for range 50 {
					if leader = s.C.Leader(ctx); leader != nil {
						break
					}
					sleepCtx(ctx, 200*time.Millisecond)
				}
				if leader == nil {
					return time.Now(), errors.New("no leader within 10 s")
				}
				st.note("round %d: killed leader %s", i+1, leader.Name)
				if err := s.C.Kill(leader); err != nil {
					return time.Now(), err
				}
				sleepCtx(ctx, leaderEvery/2)
				if err := s.C.Start(leader); err != nil {
					return time.Now(), err
				}
				healAt = time.Now()
				sleepCtx(ctx, leaderEvery/2)
			}
			return healAt, nil
		}})
	bureauRounds := s.rounds(4, 16)
	out = append(out, Scenario{Name: "bureau-kill",
		Injected: fmt.Sprintf("kill -9 of bureaus 44 and 33 in turn, %d times, each restarted 1.5 s later, under load; one worker applies for a transfer twice", bureauRounds),
		run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
			s.applyDuplicate(ctx, st)
			var healAt time.Time
			for i := range bureauRounds {
				p := s.C.Bureau([]string{"44", "33"}[i%2])
				sleepCtx(ctx, time.Duration(500+300*(i%3))*time.Millisecond)
				if err := s.C.Kill(p); err != nil {
					return time.Now(), err
				}
				sleepCtx(ctx, 1500*time.Millisecond)
				if err := s.C.Start(p); err != nil {
					return time.Now(), err
				}
				healAt = time.Now()
				if err := s.C.WaitReady(ctx, p, time.Minute); err != nil {
					return healAt, err
				}
			}
			return healAt, nil
		}})
	if s.C.netns != nil {
		hold := s.pick(12*time.Second, 30*time.Second)
		out = append(out, Scenario{Name: "partition",
			Injected: fmt.Sprintf("bureau 11 (in its own network namespace) cut off for %v by bringing its veth link down, then healed, under load", hold),
			run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
				if err := s.C.Partition(); err != nil {
					return time.Now(), err
				}
				sleepCtx(ctx, hold)
				if err := s.C.Heal(); err != nil {
					return time.Now(), err
				}
				return time.Now(), nil
			}})
	}
	if s.C.tmpfs != "" {
		hold := s.pick(8*time.Second, 20*time.Second)
		out = append(out, Scenario{Name: "full-disk",
			Injected: fmt.Sprintf("the tmpfs holding bureau 51's data directory filled to the last byte for %v, then freed, under load", hold),
			run:      func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) { return s.fullDisk(ctx, st, hold) }})
	}
	skewHold := s.pick(10*time.Second, 30*time.Second)
	out = append(out, Scenario{Name: "clock-skew",
		Injected: fmt.Sprintf("bureau 33 restarted with its clock 90 s ahead and ministry-3 with its clock 45 s behind; leadership handed to ministry-3; %v under load, then both restarted with the true clock", skewHold),
		run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
			return s.clockSkew(ctx, st, skewHold)
		}})
	out = append(out, s.hostileScenarios()...)
	restarts := s.rounds(2, 4)
	out = append(out, Scenario{Name: "full-restart",
		Injected: fmt.Sprintf("kill -9 of all seven nodes at once under load, then all restarted; %d times, 3 s of load in between", restarts),
		run: func(ctx context.Context, s *Suite, st *Stats) (time.Time, error) {
			var healAt time.Time
			for i := range restarts {
				if i > 0 {
					sleepCtx(ctx, 3*time.Second)
				}
				var wg sync.WaitGroup
				for _, p := range s.C.Procs {
					wg.Add(1)
					go func() { defer wg.Done(); _ = s.C.Kill(p) }()
				}
				wg.Wait()
				sleepCtx(ctx, time.Second)
				for _, p := range s.C.Procs {
					if err := s.C.Start(p); err != nil {
						return time.Now(), err
					}
				}
				healAt = time.Now()
				for _, p := range s.C.Procs {
					if err := s.C.WaitReady(ctx, p, 90*time.Second); err != nil {
						return healAt, err
					}
				}
			}
			return healAt, nil
		}})
	return out
}

// fullDisk fills bureau 51's disk, checks that it refuses records rather than acknowledging
// them, frees the space and checks that it takes records again.
func (s *Suite) fullDisk(ctx context.Context, st *Stats, hold time.Duration) (time.Time, error) {
	p := s.C.Bureau("51")
	free, err := s.C.FillDisk()
	if err != nil {
		return time.Now(), err
	}
	st.note("filled: %d bytes left on the tmpfs", s.C.DiskFree())
	res, err := s.load.SubmitOnce(ctx, p, 20)
	switch {
	case err != nil:
		st.note("a batch of 20 sent to the full bureau: %v", err)
	case len(res.Accepted) > 0:
		st.note("the full bureau acknowledged %d of 20 records (they must still be final)", len(res.Accepted))
	default:
		st.note("the full bureau refused all 20 records in its answer")
	}
	sleepCtx(ctx, hold)
	if err := free(); err != nil {
		return time.Now(), fmt.Errorf("free the disk: %w", err)
	}
	healAt := time.Now()
	if !p.Running() {
		// What an operator's supervisor (systemd Restart=on-failure) does; the death stays
		// booked as a failure of the scenario.
		st.note("bureau 51 died while its disk was full (see below); restarted after the space was freed")
		if err := s.C.Start(p); err != nil {
			return healAt, err
		}
		if err := s.C.WaitReady(ctx, p, time.Minute); err != nil {
			return healAt, err
		}
	}
	// The bureau takes records again once there is space: bounded wait for a 202.
	var last error
	for i := range 60 {
		if !p.Running() {
			last = errors.New("the bureau is not running")
			break
		}
		res, err := s.load.SubmitOnce(ctx, p, 5)
		if err == nil && len(res.Accepted) > 0 {
			st.note("after freeing, bureau 51 acknowledged records again within %v (%d tries)", time.Since(healAt).Round(100*time.Millisecond), i+1)
			return healAt, nil
		}
		last = err
		sleepCtx(ctx, 500*time.Millisecond)
	}
	st.fail("bureau 51 did not take records again after its disk was freed: %v", last)
	return healAt, nil
}

// clockSkew runs two nodes with skewed clocks, the ministry one as the leader.
func (s *Suite) clockSkew(ctx context.Context, st *Stats, hold time.Duration) (time.Time, error) {
	b, m := s.C.Bureau("33"), s.C.Proc("ministry-3")
	restart := func(p *Proc, env []string) error {
		if err := s.C.Stop(p); err != nil {
			return err
		}
		p.Env = env
		if err := s.C.Start(p); err != nil {
			return err
		}
		return s.C.WaitReady(ctx, p, time.Minute)
	}
	if err := restart(b, []string{"JAMINAN_CLOCK_OFFSET=90s"}); err != nil {
		return time.Now(), err
	}
	if err := restart(m, []string{"JAMINAN_CLOCK_OFFSET=-45s"}); err != nil {
		return time.Now(), err
	}
	// Hand leadership to the node whose clock is behind: checkpoint times then come from it.
	var last error
	for range 20 {
		leader := s.C.Leader(ctx)
		if leader == m {
			st.note("ministry-3 (clock 45 s behind) leads")
			last = nil
			break
		}
		if leader != nil {
			last = s.C.Client(leader).Post(ctx, "/v1/admin", map[string]string{"action": "transfer-leadership", "peer": m.ID}, nil)
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	if last != nil {
		st.note("could not hand leadership to ministry-3: %v", last)
	}
	sleepCtx(ctx, hold)
	if err := restart(b, nil); err != nil {
		return time.Now(), err
	}
	if err := restart(m, nil); err != nil {
		return time.Now(), err
	}
	return time.Now(), nil
}

// setup submits a year of contributions of a few Guangdong workers, waits until they are final
// and reads their balances: these workers apply for a transfer to Sichuan during the scenarios
// and get no records after that, so that exactly their balance must arrive.
func (s *Suite) setup(ctx context.Context) error {
	st := s.Chk.Begin("setup", "controlled transfer workers' history (no fault)")
	var regions []workload.Region
	for _, r := range workload.DefaultRegions() {
		if r.Province == "44" {
			regions = append(regions, r)
		}
	}
	gen := workload.New(20260, regions, 40, civil.MustPeriod(2024, 1))
	chosen := map[string]bool{}
	for _, w := range gen.Workers() {
		if !w.Flexible && w.Employer != "" && len(chosen) < 16 {
			chosen[w.ID] = true
		}
	}
	var jobs, contribs []intake.Input
	for gen.Month().Int() <= civil.MustPeriod(2024, 12).Int() {
		for _, in := range gen.Next() {
			switch {
			case !chosen[in.WorkerID]:
			case in.Type == "contribution":
				contribs = append(contribs, in)
			default:
				jobs = append(jobs, in)
			}
		}
	}
	p := s.C.Bureau("44")
	for _, batch := range [][]intake.Input{jobs, contribs} {
		res, err := s.C.Client(p).Submit(ctx, batch)
		if err != nil {
			return fmt.Errorf("setup: submit the controlled workers' history: %w", err)
		}
		s.Chk.Submitted(p.Name, res)
		if len(res.Rejected) > 0 {
			return fmt.Errorf("setup: %d records refused: %+v", len(res.Rejected), res.Rejected[0])
		}
		if _, err := s.Chk.Recovery(ctx, time.Now(), s.Chk.Acks("setup", time.Time{}), 2*time.Minute); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	st.End = time.Now()
	s.Chk.Evaluate(ctx, st, s.Chk.Acks("setup", time.Time{}))
	if st.Failed() {
		return fmt.Errorf("setup: %v", st.Failures)
	}
	for w := range chosen {
		bal, err := s.Chk.balances(ctx, p, w)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if bal["44"].IA <= 0 {
			return fmt.Errorf("setup: worker has no pension balance at 44: %+v", bal)
		}
		s.controlled = append(s.controlled, controlled{worker: w, before: bal["44"]})
	}
	return nil
}

// applyTransfers applies, at bureau 51, for the transfer of n controlled workers from 44.
func (s *Suite) applyTransfers(ctx context.Context, st *Stats, n int) {
	p := s.C.Bureau("51")
	for range n {
		if len(s.controlled) == 0 {
			return
		}
		w := s.controlled[0]
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		caseID, err := s.C.Client(p).ApplyTransfer(rctx, w.worker, "44", "51")
		cancel()
		if err != nil {
			st.note("transfer application at bureau 51: %v (retried in the next scenario)", err)
			return
		}
		s.controlled = s.controlled[1:]
		s.Chk.AddCase(Case{ID: caseID, Worker: w.worker, From: "44", To: "51", Controlled: true, Before: w.before})
	}
}

// applyDuplicate applies twice for the same worker: the second application must not move the
// account a second time.
func (s *Suite) applyDuplicate(ctx context.Context, st *Stats) {
	if len(s.controlled) == 0 {
		return
	}
	w := s.controlled[0]
	s.controlled = s.controlled[1:]
	p := s.C.Bureau("51")
	for i := range 2 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		caseID, err := s.C.Client(p).ApplyTransfer(rctx, w.worker, "44", "51")
		cancel()
		if err != nil {
			st.note("application %d of the same worker: %v", i+1, err)
			continue
		}
		st.note("application %d of the same worker: case %s", i+1, caseID)
		s.Chk.AddCase(Case{ID: caseID, Worker: w.worker, From: "44", To: "51", Controlled: i == 0, Before: w.before})
	}
}
