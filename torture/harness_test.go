package torture

import (
	"strings"
	"testing"
	"time"
)

func TestCrashOfFindsTheGoCrashReport(t *testing.T) {
	seg := "time=… level=WARN msg=x\nunexpected fault address 0x7f\nfatal error: fault\n[signal SIGBUS: bus error code=0x2]\n\n" +
		"goroutine 852 [running]:\nruntime.throw({0x1})\n\t/usr/local/go/src/runtime/panic.go:1229\n" +
		"github.com/dgraph-io/badger/v4.(*valueLog).write(0x1)\n\t/root/go/pkg/mod/…/value.go:914\n"
	got := crashOf([]byte("\n" + seg))
	for _, want := range []string{"fatal error: fault", "SIGBUS", "badger/v4.(*valueLog).write"} {
		if !strings.Contains(got, want) {
			t.Errorf("crash report %q lacks %q", got, want)
		}
	}
	if crashOf([]byte("\ntime=… level=WARN msg=x\n")) != "" {
		t.Error("a log without a crash has a crash report")
	}
}

func TestTimeStepsCountsBackwardSteps(t *testing.T) {
	now := time.Now()
	k := &Checker{times: map[uint64]uint64{}}
	ms := uint64(now.UnixMilli())
	k.times[1], k.times[2], k.times[3], k.times[4] = ms, ms+100, ms-45_000, ms-44_900
	n, worst := k.TimeSteps(now.Add(-time.Minute), now.Add(time.Minute))
	if n != 1 || worst != 45_100*time.Millisecond {
		t.Errorf("TimeSteps = %d, %v; want 1, 45.1s", n, worst)
	}
}
