package node

import (
	"errors"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

func TestDrainRate(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var d drainRate
	if got := d.pendingAllowed(t0, 30*time.Second, 200); got != 200 {
		t.Fatalf("nothing applied yet: %d allowed, want the floor 200", got)
	}
	d.add(t0, 0) // a checkpoint with none of the bureau's records counts nothing
	for i := range 10 {
		d.add(t0.Add(time.Duration(i)*6*time.Second), 3000)
	}
	now := t0.Add(54 * time.Second)
	if got := d.perSecond(now); got != 500 {
		t.Fatalf("30,000 records in the last minute: %v records/s, want 500", got)
	}
	if got := d.pendingAllowed(now, 30*time.Second, 200); got != 15_000 {
		t.Fatalf("at 500 records/s, 30 s of wait: %d allowed, want 15,000", got)
	}
	// The network stops applying: the rate decays as the samples leave the window.
	if got := d.perSecond(t0.Add(87 * time.Second)); got != 250 {
		t.Fatalf("33 s later, the samples of 30–54 s left in the window: %v records/s, want 250", got)
	}
	if got := d.pendingAllowed(t0.Add(3*time.Minute), 30*time.Second, 200); got != 200 {
		t.Fatalf("two minutes without applying: %d allowed, want the floor 200", got)
	}
	if len(d.samples) != 0 || d.sum != 0 {
		t.Fatalf("samples outside the window kept: %d samples, sum %d", len(d.samples), d.sum)
	}
}

// TestAdmitTakesAnyBatchWhenNothingIsPending: the wait bound never refuses a batch, however
// large, when nothing is pending (an idle bureau has applied nothing lately, so without this it
// would refuse a large upload for ever); with records pending it refuses beyond the floor.
func TestAdmitTakesAnyBatchWhenNothingIsPending(t *testing.T) {
	p := &producer{maxWait: time.Second, waitFloor: 20, clock: time.Now, pending: map[ledger.Hash]bool{}}
	if err := p.admit(5000); err != nil {
		t.Fatalf("a batch of 5,000 with nothing pending: %v", err)
	}
	p.pending[ledger.Hash{1}] = true
	if err := p.admit(5000); !errors.Is(err, errBusy) {
		t.Fatalf("a batch of 5,000 with one record pending and nothing applied: %v, want errBusy", err)
	}
	if err := p.admit(19); err != nil {
		t.Fatalf("within the floor: %v", err)
	}
}
