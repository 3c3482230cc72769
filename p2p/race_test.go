//go:build race

package p2p

// raceEnabled is true under the race detector, which slows ed25519 about tenfold: the
// volume tests then default to smaller counts (their environment variables still override).
const raceEnabled = true
