package consensus

import "testing"

// TestRaftStat: raft.Stats gives indexes, durations and "never"; each becomes the gauge's value.
func TestRaftStat(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "4711": 4711, "1.5s": 1.5, "250ms": 0.25, "never": -1, "": -1} {
		if got := raftStat(in); got != want {
			t.Errorf("raftStat(%q) = %v, want %v", in, got, want)
		}
	}
}
