package main

import (
	"strings"
	"testing"
)

// TestBenchProcsUsage: --procs drives records over HTTP, so an explicit --mode producer is a
// usage error that says why; --binary belongs to --procs.
func TestBenchProcsUsage(t *testing.T) {
	code, _, stderr := runCLI(t, "bench", "--procs", "--mode", "producer")
	if code != 2 || !strings.Contains(stderr, "--mode http") || !strings.Contains(stderr, "node.Submit") {
		t.Errorf("--procs --mode producer: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "bench", "--binary", "/bin/true"); code != 2 || !strings.Contains(stderr, "--procs") {
		t.Errorf("--binary without --procs: exit %d, %q", code, stderr)
	}
}
