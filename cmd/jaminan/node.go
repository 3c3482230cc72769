package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jaminan/jaminan/node"
)

// loadNodeConfig builds a node configuration: the file, then JAMINAN_* variables, then flags.
func loadNodeConfig(args []string, stderr io.Writer, env func(string) (string, bool)) (node.Config, bool, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (JSON; see docs/OPERATING.md)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	apply := node.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return node.Config{}, false, exitUsage{err}
	}
	if fs.NArg() != 0 {
		return node.Config{}, false, exitUsage{fmt.Errorf("usage: jaminan node --config FILE [--check] [flags overriding the file]")}
	}
	cfg := node.DefaultConfig()
	if *path != "" {
		var err error
		if cfg, err = node.LoadConfig(*path); err != nil {
			return cfg, false, err
		}
	}
	if err := cfg.ApplyEnv(env); err != nil {
		return cfg, false, fmt.Errorf("environment: %w", err)
	}
	if err := apply(&cfg); err != nil {
		return cfg, false, exitUsage{err}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, false, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, *check, nil
}

func runNode(args []string, stdout, stderr io.Writer) error {
	cfg, check, err := loadNodeConfig(args, stderr, os.LookupEnv)
	if err != nil {
		return err
	}
	if check {
		fmt.Fprintln(stdout, "configuration ok")
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(cfg, node.Options{ProcessMetrics: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s node %q (%s) serving http://%s\n", n.Member().Role, n.Member().Name, n.ID(), n.HTTPAddr())
	<-ctx.Done()
	stop() // a second SIGTERM or SIGINT ends the process at once
	return closeNode(n, cfg.ShutdownTimeout.Duration, closeGrace)
}

// closeGrace is how long past the shutdown timeout runNode still waits for Close to return
// before it gives up on it: Close returns by its deadline unless a store's own close blocks.
const closeGrace = 5 * time.Second

// closeNode closes n within timeout. A Close that has not returned grace after that is stuck
// (badger retries flushing its memtable for ever when the disk is full or the data directory
// is gone): the process then exits without it. Nothing acknowledged depends on that close:
// records are fsynced before they are acknowledged and checkpoints when they are committed,
// and the store completes or discards what was in flight when it opens again.
func closeNode(n interface{ Close(context.Context) error }, timeout, grace time.Duration) error {
	cctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Close(cctx) }()
	t := time.NewTimer(timeout + grace)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("shutdown: the node did not close within %v; exiting without closing its stores (what was acknowledged is on disk; the next start recovers the rest)", timeout+grace)
	}
}
