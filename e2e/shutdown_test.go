package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jaminan/jaminan/node/client"
)

// TestNodeExitsWhenItsStoreCannotClose: a node whose store cannot close (its data directory
// vanished, so badger retries flushing its memtable for ever) still exits after SIGTERM, within
// shutdown_timeout and a few seconds, with an error that says so, instead of hanging until a
// supervisor kills it.
func TestNodeExitsWhenItsStoreCannotClose(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node process")
	}
	bin := binary(t)
	dir := t.TempDir()
	// A bureau (its ledger store is closed by Close itself; a ministry node's Raft log store
	// would be closed in the background once consensus stops), and a ministry member that
	// does not run.
	ministry := run(t, bin, "keygen", "--out", filepath.Join(dir, "ministry.key"))
	id := run(t, bin, "keygen", "--out", filepath.Join(dir, "m1.key"))
	run(t, bin, "keygen", "--pepper", "--out", filepath.Join(dir, "network.pepper"))
	run(t, bin, "genesis", "--network", "jaminan-shutdown", "--out", filepath.Join(dir, "genesis.json"),
		"--member", "ministry,,ministry-1,"+ministry, "--member", "bureau,44,bureau-44,"+id)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := map[string]any{"data_dir": "m1", "key": "m1.key", "genesis": "genesis.json", "pepper": "network.pepper",
		"http": httpAddr, "listen": []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))}, "peers": []string{},
		"log_level": "warn", "raft_timings": "fast", "shutdown_timeout": "2s"}
	raw, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "m1.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "node", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("node output:\n%s", out.String())
		}
	}()
	wait(t, "node serving", 60*time.Second, func() (bool, error) {
		_, err := client.New("http://"+httpAddr, "").Status(context.Background())
		return err == nil, err
	})
	if err := os.RemoveAll(filepath.Join(dir, "m1")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("the node exited with %v after its store could not close, want a failure status", err)
		}
		t.Logf("exited %v after SIGTERM: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(40 * time.Second):
		t.Fatal("the node did not exit within 40 s of SIGTERM (shutdown_timeout 2s)")
	}
}
