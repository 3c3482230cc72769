//go:build race

package consensus

// raceEnabled shortens the heaviest test loads under the race detector, which slows raft on two
// cores enough for leaders to lose their lease.
const raceEnabled = true
