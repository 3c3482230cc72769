package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func outboxOpenT(t testing.TB, dir string, opts OutboxOptions) *Outbox {
	t.Helper()
	o, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func outboxRec(tag string, i int) []byte {
	b := []byte(fmt.Sprintf("%s-%06d|", tag, i))
	for len(b) < 300 {
		b = append(b, byte('a'+(i+len(b))%26))
	}
	return b
}

// outboxAll returns every record Pending offers, checking that the
// sequence numbers are dense.
func outboxAll(t *testing.T, o *Outbox) []OutboxEntry {
	t.Helper()
	var all []OutboxEntry
	after := uint64(0)
	for {
		page, err := o.Pending(after, 97)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		for _, e := range page {
			if e.Seq <= after {
				t.Fatalf("Pending after %d returned seq %d", after, e.Seq)
			}
			if len(all) > 0 && e.Seq != all[len(all)-1].Seq+1 {
				t.Fatalf("Pending skipped from %d to %d", all[len(all)-1].Seq, e.Seq)
			}
			after = e.Seq
			all = append(all, e)
		}
	}
}

func outboxFrameCount(o *Outbox) int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	n := 0
	for _, s := range o.segs {
		n += len(s.frames)
	}
	return n
}

// TestOutboxConcurrentAppends: 64 goroutines append at once; every record
// gets a distinct seq, each goroutine's seqs increase, the seqs are exactly
// 1..N, fsyncs were shared, and everything is there with its bytes after a
// reopen, where numbering continues.
func TestOutboxConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	o := outboxOpenT(t, dir, OutboxOptions{})
	const workers, each = 64, 40
	seqs := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq, err := o.Append(context.Background(), outboxRec(fmt.Sprintf("w%02d", w), i))
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], seq)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want := map[uint64][]byte{}
	for w, ss := range seqs {
		if !slices.IsSorted(ss) {
			t.Fatalf("worker %d got seqs out of order: %v", w, ss)
		}
		for i, s := range ss {
			if _, dup := want[s]; dup {
				t.Fatalf("seq %d given twice", s)
			}
			want[s] = outboxRec(fmt.Sprintf("w%02d", w), i)
		}
	}
	const total = workers * each
	for s := uint64(1); s <= total; s++ {
		if want[s] == nil {
			t.Fatalf("seq %d not given; seqs are not 1..%d", s, total)
		}
	}
	if frames := outboxFrameCount(o); frames >= total/2 {
		t.Fatalf("%d records took %d frames (fsyncs): no group commit", total, frames)
	} else {
		t.Logf("%d records in %d frames", total, frames)
	}
	check := func(o *Outbox) {
		t.Helper()
		all := outboxAll(t, o)
		if len(all) != total {
			t.Fatalf("Pending has %d records, want %d", len(all), total)
		}
		for _, e := range all {
			if !bytes.Equal(e.Record, want[e.Seq]) {
				t.Fatalf("seq %d holds %q, want %q", e.Seq, e.Record, want[e.Seq])
			}
		}
	}
	check(o)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o2 := outboxOpenT(t, dir, OutboxOptions{})
	check(o2)
	seq, err := o2.Append(context.Background(), []byte("after reopen"))
	if err != nil || seq != total+1 {
		t.Fatalf("Append after reopen = %d, %v; want %d", seq, err, total+1)
	}
}

func TestOutboxMaxBatch(t *testing.T) {
	o := outboxOpenT(t, t.TempDir(), OutboxOptions{MaxBatch: 4, MaxDelay: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if _, err := o.Append(context.Background(), outboxRec("b", i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	o.mu.RLock()
	defer o.mu.RUnlock()
	grouped := false
	for _, s := range o.segs {
		for _, f := range s.frames {
			if f.count > 4 {
				t.Fatalf("frame of %d records with MaxBatch 4", f.count)
			}
			grouped = grouped || f.count > 1
		}
	}
	if !grouped {
		t.Fatal("MaxDelay 5ms with 16 appenders never grouped two records")
	}
}

func TestOutboxAppendLimitsAndCancel(t *testing.T) {
	o := outboxOpenT(t, t.TempDir(), OutboxOptions{MaxRecordBytes: 100})
	if _, err := o.Append(context.Background(), make([]byte, 101)); err == nil {
		t.Fatal("Append of a record over MaxRecordBytes succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With the context already done Append may still win the race to the
	// queue; it must then either succeed or report the cancellation.
	if _, err := o.Append(ctx, []byte("x")); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
	if _, err := o.Append(context.Background(), nil); err != nil {
		t.Fatalf("Append of an empty record: %v", err)
	}
	if _, err := OpenOutbox(t.TempDir(), OutboxOptions{MaxBatch: -1, SegmentBytes: -1}); err == nil ||
		!strings.Contains(err.Error(), "MaxBatch") || !strings.Contains(err.Error(), "SegmentBytes") {
		t.Fatalf("bad options: err = %v, want both fields named", err)
	}
}

// TestOutboxClose: appenders running when Close is called each end with
// either a seq or ErrOutboxClosed, never hang, and every seq they were given
// is present after reopen.
func TestOutboxClose(t *testing.T) {
	dir := t.TempDir()
	o, err := OpenOutbox(dir, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				rec := outboxRec(fmt.Sprintf("c%02d", w), i)
				seq, err := o.Append(context.Background(), rec)
				if err != nil {
					if !errors.Is(err, ErrOutboxClosed) {
						t.Errorf("Append during Close: %v, want ErrOutboxClosed", err)
					}
					return
				}
				mu.Lock()
				acked[seq] = rec
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := o.Append(context.Background(), []byte("late")); !errors.Is(err, ErrOutboxClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := o.Pending(0, 1); !errors.Is(err, ErrOutboxClosed) {
		t.Fatalf("Pending after Close: %v", err)
	}
	if len(acked) == 0 {
		t.Fatal("no Append succeeded before Close")
	}
	o2 := outboxOpenT(t, dir, OutboxOptions{})
	got := map[uint64][]byte{}
	for _, e := range outboxAll(t, o2) {
		got[e.Seq] = e.Record
	}
	for seq, rec := range acked {
		if !bytes.Equal(got[seq], rec) {
			t.Fatalf("acknowledged seq %d lost or changed after Close", seq)
		}
	}
}

// TestOutboxMarkBlockedAndPrune walks the producer's cycle over many small
// segments: Pending, MarkBlocked, Prune, reopen.
func TestOutboxMarkBlockedAndPrune(t *testing.T) {
	dir := t.TempDir()
	opts := OutboxOptions{SegmentBytes: 2048}
	o := outboxOpenT(t, dir, opts)
	for i := 1; i <= 100; i++ {
		if seq, err := o.Append(context.Background(), outboxRec("p", i)); err != nil || seq != uint64(i) {
			t.Fatalf("Append %d = %d, %v", i, seq, err)
		}
	}
	segsBefore := outboxSegFiles(t, dir)
	if len(segsBefore) < 5 {
		t.Fatalf("only %d segments; the test needs several", len(segsBefore))
	}
	wantSeqs := func(o *Outbox, after uint64, limit int, first, n uint64) {
		t.Helper()
		page, err := o.Pending(after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(page)) != n {
			t.Fatalf("Pending(%d, %d) gave %d records, want %d", after, limit, len(page), n)
		}
		for i, e := range page {
			if e.Seq != first+uint64(i) || !bytes.Equal(e.Record, outboxRec("p", int(e.Seq))) {
				t.Fatalf("Pending(%d, %d)[%d] = seq %d %q", after, limit, i, e.Seq, e.Record)
			}
		}
	}
	wantSeqs(o, 0, 10, 1, 10)
	wantSeqs(o, 95, 10, 96, 5)
	wantSeqs(o, 100, 10, 0, 0)
	if err := o.MarkBlocked(40); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkBlocked(30); err != nil || o.Blocked() != 40 {
		t.Fatalf("lower MarkBlocked: %v, watermark %d", err, o.Blocked())
	}
	if err := o.MarkBlocked(101); err == nil {
		t.Fatal("MarkBlocked past the last record succeeded")
	}
	wantSeqs(o, 0, 1000, 41, 60)
	wantSeqs(o, 50, 5, 51, 5)
	if _, err := o.Prune(41); err == nil {
		t.Fatal("Prune past the watermark succeeded")
	}
	removed, err := o.Prune(40)
	if err != nil {
		t.Fatal(err)
	}
	segsAfter := outboxSegFiles(t, dir)
	if removed == 0 || len(segsAfter) != len(segsBefore)-removed {
		t.Fatalf("Prune removed %d; segments %d → %d", removed, len(segsBefore), len(segsAfter))
	}
	// The oldest kept segment must still hold seq 41.
	if first, _ := strconv.ParseUint(strings.TrimSuffix(segsAfter[0], ".seg"), 10, 64); first > 41 {
		t.Fatalf("Prune(40) removed the segment holding 41 (oldest now starts at %d)", first)
	}
	wantSeqs(o, 0, 1000, 41, 60)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o2 := outboxOpenT(t, dir, opts)
	if o2.Blocked() != 40 || o2.LastSeq() != 100 {
		t.Fatalf("after reopen: blocked %d, last %d; want 40, 100", o2.Blocked(), o2.LastSeq())
	}
	wantSeqs(o2, 0, 1000, 41, 60)
	if seq, err := o2.Append(context.Background(), outboxRec("p", 101)); err != nil || seq != 101 {
		t.Fatalf("Append after reopen = %d, %v", seq, err)
	}
	// Pruning everything blocked never removes the active segment, and the
	// numbering survives a reopen with a single segment left.
	if err := o2.MarkBlocked(101); err != nil {
		t.Fatal(err)
	}
	if _, err := o2.Prune(101); err != nil {
		t.Fatal(err)
	}
	if n := len(outboxSegFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments after pruning everything, want the active one", n)
	}
	wantSeqs(o2, 0, 10, 0, 0)
	if err := o2.Close(); err != nil {
		t.Fatal(err)
	}
	o3 := outboxOpenT(t, dir, opts)
	if seq, err := o3.Append(context.Background(), outboxRec("p", 102)); err != nil || seq != 102 {
		t.Fatalf("Append after full prune and reopen = %d, %v", seq, err)
	}
	wantSeqs(o3, 0, 10, 102, 1)
}

func outboxSegFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	slices.Sort(m)
	return m
}

// outboxFill creates an outbox with n records, one frame each, and closes it.
func outboxFill(t *testing.T, dir string, n int, opts OutboxOptions) {
	t.Helper()
	o, err := OpenOutbox(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i := 1; i <= n; i++ {
		if _, err := o.Append(context.Background(), outboxRec("f", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutboxDamage covers the repairs and refusals at open. Repairs must
// keep every record before the damage; refusals must name the corruption
// and leave the files as they were.
func TestOutboxDamage(t *testing.T) {
	lastSeg := func(t *testing.T, dir string) string {
		s := outboxSegFiles(t, dir)
		return filepath.Join(dir, s[len(s)-1])
	}
	appendBytes := func(t *testing.T, path string, b []byte) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	flipByte := func(t *testing.T, path string, off int64) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if off < 0 {
			off += int64(len(b))
		}
		b[off] ^= 0x40
		if err := os.WriteFile(path, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	torn := outboxAppendFrame(nil, 31, [][]byte{outboxRec("torn", 1), outboxRec("torn", 2)})
	cases := []struct {
		name   string
		segs   int64 // SegmentBytes
		damage func(t *testing.T, dir string)
		keep   int // records expected after a repair; -1: open must fail
	}{
		{"torn frame at the end", 0, func(t *testing.T, dir string) {
			appendBytes(t, lastSeg(t, dir), torn[:len(torn)-100])
		}, 30},
		{"whole unsynced frame with a bad checksum", 0, func(t *testing.T, dir string) {
			bad := bytes.Clone(torn)
			bad[len(bad)-1] ^= 1
			appendBytes(t, lastSeg(t, dir), bad)
		}, 30},
		{"zeros at the end", 0, func(t *testing.T, dir string) {
			appendBytes(t, lastSeg(t, dir), make([]byte, 700))
		}, 30},
		{"three header bytes at the end", 0, func(t *testing.T, dir string) {
			appendBytes(t, lastSeg(t, dir), torn[:3])
		}, 30},
		{"last frame cut in half", 0, func(t *testing.T, dir string) {
			p := lastSeg(t, dir)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-200); err != nil {
				t.Fatal(err)
			}
		}, 29},
		{"torn empty new segment", 0, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, outboxSegName(31)), []byte("JMN"), 0o640); err != nil {
				t.Fatal(err)
			}
		}, 30},
		{"bit flip in an early frame", 0, func(t *testing.T, dir string) {
			flipByte(t, lastSeg(t, dir), outboxHeaderSize+30)
		}, -1},
		{"bit flip in the length of an early frame", 0, func(t *testing.T, dir string) {
			flipByte(t, lastSeg(t, dir), outboxHeaderSize+7)
		}, -1},
		{"bit flip in an older segment's last frame", 1500, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, outboxSegFiles(t, dir)[0]), -5)
		}, -1},
		{"missing middle segment", 1500, func(t *testing.T, dir string) {
			s := outboxSegFiles(t, dir)
			if err := os.Remove(filepath.Join(dir, s[1])); err != nil {
				t.Fatal(err)
			}
		}, -1},
		{"bad segment header", 0, func(t *testing.T, dir string) {
			flipByte(t, lastSeg(t, dir), 2)
		}, -1},
		{"header with the wrong first seq", 1500, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, outboxSegFiles(t, dir)[1]), 9)
		}, -1},
		{"corrupt watermark", 0, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, outboxMarkFile), 0)
		}, -1},
		{"missing watermark", 0, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, outboxMarkFile)); err != nil {
				t.Fatal(err)
			}
		}, -1},
		{"stray segment name", 0, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "7.seg"), nil, 0o640); err != nil {
				t.Fatal(err)
			}
		}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := OutboxOptions{SegmentBytes: tc.segs}
			outboxFill(t, dir, 30, opts)
			tc.damage(t, dir)
			before := outboxDirState(t, dir)
			o, err := OpenOutbox(dir, opts)
			if tc.keep < 0 {
				if err == nil {
					o.Close()
					t.Fatal("open of a damaged outbox succeeded")
				}
				if !errors.Is(err, ErrOutboxCorrupt) {
					t.Fatalf("open error %v does not wrap ErrOutboxCorrupt", err)
				}
				if after := outboxDirState(t, dir); after != before {
					t.Fatalf("a refused open changed the files:\n%s\n→\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("open after a repairable tear: %v", err)
			}
			defer o.Close()
			all := outboxAll(t, o)
			if len(all) != tc.keep {
				t.Fatalf("%d records after repair, want %d", len(all), tc.keep)
			}
			for _, e := range all {
				if !bytes.Equal(e.Record, outboxRec("f", int(e.Seq))) {
					t.Fatalf("seq %d changed by the repair", e.Seq)
				}
			}
			seq, err := o.Append(context.Background(), []byte("next"))
			if err != nil || seq != uint64(tc.keep)+1 {
				t.Fatalf("Append after repair = %d, %v; want %d", seq, err, tc.keep+1)
			}
			o.Close()
			o2 := outboxOpenT(t, dir, opts)
			if got := outboxAll(t, o2); len(got) != tc.keep+1 || string(got[len(got)-1].Record) != "next" {
				t.Fatalf("after repair, append and reopen: %d records", len(got))
			}
		})
	}
}

// TestOutboxInterruptedCreate: a crash while a fresh outbox is being
// created leaves a zero watermark and maybe an empty or torn first segment;
// the next open starts afresh. A nonzero watermark with no segments means
// records are gone and is refused.
func TestOutboxInterruptedCreate(t *testing.T) {
	for _, seg := range []string{"none", "empty", "torn header"} {
		t.Run(seg, func(t *testing.T) {
			dir := t.TempDir()
			o := &Outbox{dir: dir}
			if err := o.writeMark(0); err != nil {
				t.Fatal(err)
			}
			switch seg {
			case "empty":
				if err := os.WriteFile(filepath.Join(dir, outboxSegName(1)), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			case "torn header":
				if err := os.WriteFile(filepath.Join(dir, outboxSegName(1)), []byte(outboxMagic[:5]), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			ob := outboxOpenT(t, dir, OutboxOptions{})
			if seq, err := ob.Append(context.Background(), []byte("first")); err != nil || seq != 1 {
				t.Fatalf("Append = %d, %v; want 1", seq, err)
			}
		})
	}
	dir := t.TempDir()
	if err := (&Outbox{dir: dir}).writeMark(5); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutbox(dir, OutboxOptions{}); !errors.Is(err, ErrOutboxCorrupt) {
		t.Fatalf("open with watermark 5 and no segments: %v, want ErrOutboxCorrupt", err)
	}
}

func outboxDirState(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s %d %x\n", e.Name(), len(b), sha256.Sum256(b))
	}
	return sb.String()
}

const outboxCrashEnv = "JAMINAN_OUTBOX_CRASH_DIR"

// TestOutboxCrashChild is the child of TestOutboxCrash: it appends from a
// few goroutines until it is killed and prints "ack <seq> <base64 record>"
// only after Append returned.
func TestOutboxCrashChild(t *testing.T) {
	dir := os.Getenv(outboxCrashEnv)
	if dir == "" {
		t.Skip("run by TestOutboxCrash")
	}
	o, err := OpenOutbox(dir, OutboxOptions{SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Fprintf(os.Stdout, "openerr %v\n", err)
		os.Exit(3)
	}
	fmt.Fprintln(os.Stdout, "ready")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for {
				rec := make([]byte, 200+rng.IntN(200))
				for i := range rec {
					rec[i] = byte(rng.Uint32())
				}
				seq, err := o.Append(context.Background(), rec)
				if err != nil {
					fmt.Fprintf(os.Stdout, "err %v\n", err)
					os.Exit(4)
				}
				line := fmt.Sprintf("ack %d %s\n", seq, base64.StdEncoding.EncodeToString(rec))
				mu.Lock()
				_, _ = os.Stdout.WriteString(line)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestOutboxCrash SIGKILLs a child process that appends at random moments,
// at least 20 times, and checks after each kill that the outbox opens, that
// every acknowledged seq holds exactly its bytes, and that numbering never
// reuses a seq. Between runs the parent marks everything verified as blocked
// and prunes it, so the check stays small and pruning meets crashes too.
func TestOutboxCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	dir := t.TempDir()
	opts := OutboxOptions{SegmentBytes: 256 << 10}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	start := time.Now()
	var kills, totalAcks int
	var verified uint64 // every seq up to here was checked and blocked
	for kills < 20 || (kills < 40 && time.Since(start) < 8*time.Second) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("only %d kills in 30 s", kills)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), outboxCrashEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 4096), 1<<20)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		}()
		// Kill at a random moment: sometimes during open or the first
		// appends, mostly while appending at full speed.
		delay := time.Duration(20+rng.IntN(150)) * time.Millisecond
		if rng.IntN(4) == 0 {
			delay = time.Duration(rng.IntN(20)) * time.Millisecond
		}
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		<-readDone
		_ = cmd.Wait()
		kills++

		acked := map[uint64][]byte{}
		for _, line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "ack":
				seq, err1 := strconv.ParseUint(f[1], 10, 64)
				rec, err2 := base64.StdEncoding.DecodeString(f[2])
				if err1 != nil || err2 != nil {
					continue // the last line, cut by the kill
				}
				if seq <= verified {
					t.Fatalf("run %d acknowledged seq %d, which an earlier run already used", kills, seq)
				}
				if _, dup := acked[seq]; dup {
					t.Fatalf("seq %d acknowledged twice", seq)
				}
				acked[seq] = rec
			case len(f) > 0 && (f[0] == "openerr" || f[0] == "err"):
				t.Fatalf("child: %s", line)
			}
		}
		totalAcks += len(acked)

		o, err := OpenOutbox(dir, opts)
		if err != nil {
			t.Fatalf("open after kill %d: %v", kills, err)
		}
		got := map[uint64][]byte{}
		for _, e := range outboxAll(t, o) {
			got[e.Seq] = e.Record
		}
		for seq, rec := range acked {
			if g, ok := got[seq]; !ok || !bytes.Equal(g, rec) {
				t.Fatalf("after kill %d: acknowledged seq %d is missing or differs (present %v)", kills, seq, ok)
			}
		}
		if last := o.LastSeq(); last > verified {
			if err := o.MarkBlocked(last); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Prune(last); err != nil {
				t.Fatal(err)
			}
			verified = last
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill %d after %v: %d acknowledged, %d stored", kills, delay, len(acked), len(got))
	}
	t.Logf("%d kills in %v, %d acknowledged records checked", kills, time.Since(start).Round(time.Millisecond), totalAcks)
	if totalAcks < 100 {
		t.Fatalf("only %d acknowledged records over %d kills: the test did not exercise appends", totalAcks, kills)
	}
}

func FuzzOutboxDecodeFrame(f *testing.F) {
	f.Add(outboxAppendFrame(nil, 1, [][]byte{[]byte("a")}))
	f.Add(outboxAppendFrame(nil, 1<<40, [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{7}, 200)}))
	f.Add(append(outboxAppendFrame(nil, 5, [][]byte{[]byte("x")}), 1, 2, 3))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := outboxDecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrOutboxCorrupt) && !errors.Is(err, errOutboxShortFrame) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n < outboxFramePrefix+outboxFrameMinBody || n > len(b) {
			t.Fatalf("frame size %d for %d bytes", n, len(b))
		}
		// A frame has one encoding: re-encoding gives back its exact bytes.
		if re := outboxAppendFrame(nil, fr.first, fr.recs); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", re, b[:n])
		}
		_ = outboxLaterFrame(b, fr.first)
	})
}

// BenchmarkOutboxAppend measures acknowledged (fsynced) 300-byte records per
// second with 1, 16 and 256 concurrent appenders, with the default
// MaxDelay 0 and with MaxDelay 500µs for comparison.
func BenchmarkOutboxAppend(b *testing.B) {
	rec := bytes.Repeat([]byte("r"), 300)
	for _, delay := range []time.Duration{0, 500 * time.Microsecond} {
		for _, appenders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("delay=%v/appenders=%d", delay, appenders), func(b *testing.B) {
				o, err := OpenOutbox(b.TempDir(), OutboxOptions{MaxDelay: delay})
				if err != nil {
					b.Fatal(err)
				}
				defer o.Close()
				var left atomic.Int64
				left.Store(int64(b.N))
				b.SetBytes(int64(len(rec)))
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := 0; w < appenders; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for left.Add(-1) >= 0 {
							if _, err := o.Append(context.Background(), rec); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rec/s")
				b.ReportMetric(float64(b.N)/float64(max(outboxFrameCount(o), 1)), "rec/fsync")
			})
		}
	}
}
