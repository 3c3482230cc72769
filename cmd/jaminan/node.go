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
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Close(cctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
