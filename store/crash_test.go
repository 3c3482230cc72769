package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// Environment of the crash test's child process.
const (
	crashDirEnv   = "JAMINAN_STORE_CRASH_DIR"   // the store; its presence selects child mode
	crashAtEnv    = "JAMINAN_STORE_CRASH_AT"    // point:n — kill itself at the n-th pass of a commit point
	crashCountEnv = "JAMINAN_STORE_CRASH_COUNT" // apply this many checkpoints, then exit
	crashItersEnv = "JAMINAN_STORE_CRASH_ITERS" // parent: number of kills (default 24; 8 with -short)
)

// crashOptions make both commit paths common: a change set over 300 changes goes through the
// journal, redone in batches of 200.
func crashOptions() Options {
	return Options{journalAbove: 10, redoBatch: 4, StateMemBytes: 256 << 10}
}

// TestCrashChild is the child process of TestCrash (it skips itself otherwise). It opens the
// store, resumes the network from it (producers' tips from the stored blocks, the clock from the
// ledger meta) and applies generated checkpoints — small ones in one transaction, every third a
// large one through the journal — printing "applied <seq>" after each, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash")
	}
	if at := os.Getenv(crashAtEnv); at != "" {
		point, n, _ := strings.Cut(at, ":")
		left, _ := strconv.Atoi(n)
		crashHook = func(p string) {
			if p == point {
				if left--; left == 0 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	limit, _ := strconv.Atoi(os.Getenv(crashCountEnv))
	s, err := Open(dir, crashOptions())
	if err != nil {
		t.Fatal(err)
	}
	net := ledgertest.New(t)
	if err := s.Init(net.Genesis); err != nil {
		t.Fatal(err)
	}
	v := s.View()
	meta, err := v.Meta()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range net.Bureau {
		blk, err := v.LatestBlock(b.ID())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		net.SetTip(blk.Header)
	}
	v.Release()
	net.Time = max(net.Time, meta.Time)
	// The producer's half: records accepted into the outbox while checkpoints are applied,
	// each reported only after Append returned (the acknowledgement a bureau gives).
	ob, err := OpenOutbox(crashOutboxDir(dir), OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				rec := fmt.Sprintf("pid %d appender %d record %d", os.Getpid(), g, i)
				seq, err := ob.Append(context.Background(), []byte(rec))
				if err != nil {
					return
				}
				fmt.Printf("acked %d %s\n", seq, rec)
			}
		}()
	}
	fmt.Printf("start %d\n", meta.Seq)
	h := ledgertest.NewHistory(net, meta.Seq)
	for i := 0; limit == 0 || i < limit; i++ {
		v := s.View()
		blocks, per := 1, 10
		if i%3 == 2 {
			blocks, per = 4, 60
		}
		cb, bs := h.Next(v, blocks, per)
		v.Release()
		if _, err := s.Apply(net.Machine, cb, bs, nil); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("applied %d\n", cb.Checkpoint.Seq)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// crashOutboxDir is where the crash child keeps its outbox: beside the store's directory.
func crashOutboxDir(storeDir string) string { return storeDir + "-outbox" }

// outboxAcks parses the child's acknowledged outbox records.
func outboxAcks(out string) map[uint64]string {
	acks := map[uint64]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), "acked "); found {
			n, rec, _ := strings.Cut(v, " ")
			if seq, err := strconv.ParseUint(n, 10, 64); err == nil {
				acks[seq] = rec
			}
		}
	}
	return acks
}

// checkOutbox checks that every record the children acknowledged is in the outbox with its
// exact bytes.
func checkOutbox(t *testing.T, dir string, acks map[uint64]string) {
	t.Helper()
	ob, err := OpenOutbox(crashOutboxDir(dir), OutboxOptions{})
	if err != nil {
		t.Fatalf("reopen outbox: %v", err)
	}
	defer ob.Close()
	got := map[uint64]string{}
	for after := uint64(0); ; {
		es, err := ob.Pending(after, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			got[e.Seq] = string(e.Record)
			after = e.Seq
		}
	}
	for seq, rec := range acks {
		if got[seq] != rec {
			t.Fatalf("acknowledged outbox record %d %q: stored %q", seq, rec, got[seq])
		}
	}
}

// runCrashChild runs the child on dir with extra environment; kill, if positive, is when the
// parent kills it. It returns the child's output.
func runCrashChild(t *testing.T, dir string, kill time.Duration, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), crashDirEnv+"="+dir), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	limit := time.After(30 * time.Second)
	var killed <-chan time.Time
	if kill > 0 {
		killed = time.After(kill)
	}
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-killed:
			cmd.Process.Kill() // SIGKILL
			killed = nil
		case <-limit:
			cmd.Process.Kill()
			<-done
			t.Fatalf("crash child did not end:\n%s", out.String())
		}
	}
}

// childProgress parses the child's output: where it started and the last checkpoint it
// reported applied (its Apply had returned).
func childProgress(t *testing.T, out string) (start, acked uint64, ok bool) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, found := strings.CutPrefix(line, "start "); found {
			start, _ = strconv.ParseUint(v, 10, 64)
			ok = true
		}
		if v, found := strings.CutPrefix(line, "applied "); found {
			acked, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	return start, acked, ok
}

// TestCrash is the crash acceptance test. A child process applies checkpoints to a store on
// disk; the parent kills it with SIGKILL at random moments — and, every fourth time, the child
// kills itself at a chosen point of a commit — then opens the store and checks:
//   - the store is at the last checkpoint the child reported applied, or the one in flight; a
//     checkpoint killed at a known point is exactly applied or not, as that point dictates, and
//     a committed journal was re-applied by Open;
//   - no partial checkpoint is visible: the ledger meta in the state agrees with the checkpoint
//     table, and no checkpoint, block place, location, index entry or journal of a later
//     checkpoint is stored;
//   - the state equals a replay of the stored checkpoints into a ledger.MemState (the same state
//     root at every checkpoint, the same full-state digest);
//   - the next child continues from where the store is.
//
// At the end a child runs to completion and the whole history is replayed from scratch.
//
//   - every record the child acknowledged from its outbox (appended by four goroutines while
//     checkpoints are applied) is there with its exact bytes, and no sequence number was given
//     to two different records;
func TestCrash(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector slows the child ~10x; the crash test runs without -race")
	}
	iters := 24
	if testing.Short() {
		iters = 8
	}
	if n, err := strconv.Atoi(os.Getenv(crashItersEnv)); err == nil && n > 0 {
		iters = n
	}
	points := []string{"journal-written", "journal-committed", "redo-batch", "redone", "txn-committed", "state-appended"}
	dir := filepath.Join(t.TempDir(), "store")
	outboxAcked := map[uint64]string{}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill timing seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mem := ledger.NewMemState() // the replay, extended after every kill
	var acked uint64
	redone, started := 0, time.Now()
	for i := range iters {
		var out string
		var err error
		point := ""
		if i%4 == 3 {
			point = points[(i/4)%len(points)]
			out, err = runCrashChild(t, dir, 0, crashAtEnv+"="+point+":2")
		} else {
			out, err = runCrashChild(t, dir, time.Duration(50+rng.IntN(700))*time.Millisecond)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child did not die of SIGKILL (%v):\n%s", i, err, out)
		}
		for seq, rec := range outboxAcks(out) {
			if prev, dup := outboxAcked[seq]; dup && prev != rec {
				t.Fatalf("kill %d: outbox seq %d acknowledged twice, %q and %q", i, seq, prev, rec)
			}
			outboxAcked[seq] = rec
		}
		checkOutbox(t, dir, outboxAcked)
		start, last, ok := childProgress(t, out)
		if ok && start < acked {
			t.Fatalf("kill %d: the child started at %d, below the acknowledged %d", i, start, acked)
		}
		if last > acked {
			acked = last
		}
		s, err := Open(dir, crashOptions())
		if err != nil {
			t.Fatalf("kill %d: reopen: %v\n%s", i, err, out)
		}
		redone += s.redone
		seq := checkCrashState(t, s, mem, acked)
		switch point {
		case "":
			if seq > acked+1 {
				t.Fatalf("kill %d: store at %d, the child acknowledged %d", i, seq, acked)
			}
		case "journal-written", "txn-committed", "state-appended":
			// Before the commit point nothing is applied (the state engine drops the writes it
			// holds of the checkpoint); after a one-transaction commit all is.
			want, wantRedo := acked, 0
			if point == "txn-committed" {
				want = acked + 1
			}
			if seq != want || s.redone != wantRedo {
				t.Fatalf("kill %d at %s: store at %d (acknowledged %d), %d journals re-applied", i, point, seq, acked, s.redone)
			}
		default:
			// Killed after the journal's commit record: Open re-applied it.
			if seq != acked+1 || s.redone != 1 {
				t.Fatalf("kill %d at %s: store at %d (acknowledged %d), %d journals re-applied", i, point, seq, acked, s.redone)
			}
		}
		acked = seq
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCrashChild(t, dir, 0, crashCountEnv+"=6")
	if err != nil {
		t.Fatalf("last child: %v\n%s", err, out)
	}
	for seq, rec := range outboxAcks(out) {
		outboxAcked[seq] = rec
	}
	checkOutbox(t, dir, outboxAcked)
	start, last, _ := childProgress(t, out)
	if start != acked || last != acked+6 {
		t.Fatalf("last child went from %d to %d, want %d to %d", start, last, acked, acked+6)
	}
	s, err := Open(dir, Options{Verify: VerifyFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.View()
	defer v.Release()
	if err := v.VerifyState(context.Background()); err != nil {
		t.Fatalf("replay from scratch: %v", err)
	}
	compareIndexes(t, v, buildRef(t, storedSteps(t, v)), ledgertest.NewHistory(ledgertest.New(t), 0).Employers)
	if redone == 0 {
		t.Fatal("no kill left a committed journal to re-apply")
	}
	if len(outboxAcked) == 0 {
		t.Fatal("no outbox record was acknowledged: the producer half did not run")
	}
	t.Logf("%d outbox records acknowledged across the kills, all present", len(outboxAcked))
	t.Logf("%d kills in %v; %d checkpoints; %d journals re-applied at open", iters, time.Since(started).Round(time.Millisecond), last, redone)
}

// checkCrashState checks a store opened after a kill (see TestCrash) and extends mem to it. It
// returns the store's checkpoint.
func checkCrashState(t *testing.T, s *Store, mem *ledger.MemState, acked uint64) uint64 {
	t.Helper()
	v := s.View()
	defer v.Release()
	meta, err := v.Meta()
	if errors.Is(err, ErrNotInitialised) && acked == 0 {
		return 0 // killed before Init returned: nothing acknowledged, nothing stored
	}
	if err != nil {
		t.Fatal(err)
	}
	if meta.Seq < acked {
		t.Fatalf("store at %d after acknowledging %d", meta.Seq, acked)
	}
	stateMeta, err := ledger.ReadMeta(v)
	if err != nil || stateMeta != meta {
		t.Fatalf("ledger meta in the state %+v (%v), view %+v", stateMeta, err, meta)
	}
	if err := v.checkConsistency(); err != nil {
		t.Fatal(err)
	}
	noLater := func(p byte, seqAt func(key, val []byte) uint64) {
		err := v.scan([]byte{p}, nil, func(key, val []byte) error {
			if seq := seqAt(key, val); seq > meta.Seq {
				return fmt.Errorf("%q entry %x of checkpoint %d, the store is at %d", p, key, seq, meta.Seq)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	keySeq := func(off int) func(key, val []byte) uint64 {
		return func(key, _ []byte) uint64 { return binary.BigEndian.Uint64(key[off:]) }
	}
	valSeq := func(key, val []byte) uint64 { return binary.BigEndian.Uint64(val) }
	locSeq := func(key, val []byte) uint64 {
		l, ok := decodeLocation(val)
		if !ok {
			t.Fatalf("location %x: %x does not decode", key, val)
		}
		return l.Seq
	}
	for _, p := range []byte{pfxCkpt, pfxSummary, pfxReceipts, pfxCert} {
		noLater(p, keySeq(1))
	}
	for _, p := range []byte{pfxWorker, pfxCase, pfxAccess} {
		noLater(p, keySeq(33))
	}
	noLater(pfxLocation, locSeq)
	noLater(pfxPlace, valSeq)
	for _, p := range []byte{'J', 'j'} { // format 1's journal keys: none at all
		noLater(p, func([]byte, []byte) uint64 { return ^uint64(0) })
	}
	if left, err := os.ReadDir(filepath.Join(s.dir, journalDir)); err != nil || len(left) > 0 {
		t.Fatalf("journal files left after Open: %v (%v)", left, err)
	}
	if meta.Seq > 0 {
		checkLastComplete(t, v, meta.Seq)
	}
	if err := v.Replay(context.Background(), mem); err != nil {
		t.Fatal(err)
	}
	got, _, err := v.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	if want := mem.Digest(); got != want {
		t.Fatalf("state at %d: digest %s, replay %s", meta.Seq, got, want)
	}
	return meta.Seq
}

// checkLastComplete checks that everything of checkpoint seq, the one a kill may have
// interrupted, is stored: its blocks, receipts, the location of each record that is not a
// duplicate, and the worker index entry of each accepted record that concerns a worker.
func checkLastComplete(t *testing.T, v *View, seq uint64) {
	t.Helper()
	cb, err := v.Checkpoint(seq)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Result(seq)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.BlockCounts) != len(cb.Blocks) || ledger.ReceiptsRoot(res.Receipts) != res.ReceiptsRoot {
		t.Fatalf("checkpoint %d: receipts of %d blocks stored for %d", seq, len(res.BlockCounts), len(cb.Blocks))
	}
	for _, h := range cb.Blocks {
		if _, _, err := v.Block(h); err != nil {
			t.Fatalf("checkpoint %d: %v", seq, err)
		}
	}
	for ord, rc := range res.Receipts {
		if rc.Code == ledger.CodeDuplicate {
			continue
		}
		if _, err := v.Location(rc.ID); err != nil {
			t.Fatalf("checkpoint %d record %d: %v", seq, ord, err)
		}
	}
	// The reference index of the stored history names the worker entries this checkpoint
	// must have written.
	for w, refs := range buildRef(t, storedSteps(t, v)).workers {
		for _, ref := range refs {
			if ref.Seq != seq {
				continue
			}
			if ok, err := v.has(posKey(pfxWorker, w, seq, ref.Ord)); err != nil || !ok {
				t.Fatalf("checkpoint %d record %d: no worker index entry (%v)", seq, ref.Ord, err)
			}
		}
	}
}

// storedSteps reads the whole applied history back from the store.
func storedSteps(t *testing.T, v *View) []step {
	t.Helper()
	meta, err := v.Meta()
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	for seq := uint64(1); seq <= meta.Seq; seq++ {
		cb, err := v.Checkpoint(seq)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Result(seq)
		if err != nil {
			t.Fatal(err)
		}
		st := step{cb: cb, res: res}
		for _, h := range cb.Blocks {
			b, err := v.blockBytes(h)
			if err != nil {
				t.Fatal(err)
			}
			st.blocks = append(st.blocks, b)
		}
		steps = append(steps, st)
	}
	return steps
}
