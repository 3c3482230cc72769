package hostile

import (
	"maps"
	"sync"
)

// Stats is what a hostile party attempted, by kind. What Errors counts is said by each Run
// function: for the rogue and the non-member, refusals are the expected outcome and are counted
// under Kinds; Errors counts what would show a defence failing (an answer where a refusal was
// due, a 5xx, a dropped connection, a probe that timed out).
type Stats struct {
	Sent, Errors int64
	Kinds        map[string]int64
}

// counter accumulates Stats from several goroutines.
type counter struct {
	mu sync.Mutex
	s  Stats
}

func newCounter() *counter { return &counter{s: Stats{Kinds: map[string]int64{}}} }

// sent counts one attempt of kind.
func (c *counter) sent(kind string) {
	c.mu.Lock()
	c.s.Sent++
	c.s.Kinds[kind]++
	c.mu.Unlock()
}

// kind counts an outcome under kind without counting an attempt.
func (c *counter) kind(kind string) {
	c.mu.Lock()
	c.s.Kinds[kind]++
	c.mu.Unlock()
}

// err counts an error (and its kind, when not empty).
func (c *counter) err(kind string) {
	c.mu.Lock()
	c.s.Errors++
	if kind != "" {
		c.s.Kinds[kind]++
	}
	c.mu.Unlock()
}

// snapshot returns a copy of the stats so far.
func (c *counter) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Sent: c.s.Sent, Errors: c.s.Errors, Kinds: maps.Clone(c.s.Kinds)}
}
