package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jaminan/jaminan/node/devnet"
)

func runDevnet(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "data directory (default: a temporary directory, removed at exit); reused when it holds a devnet")
	load := fs.Float64("load", 200, "synthetic workload in records per second (0: none)")
	duration := fs.Duration("duration", 0, "stop after this long (default: run until interrupted)")
	ministry := fs.Int("ministry", 3, "ministry nodes")
	bureaus := fs.Int("bureaus", 4, "bureau nodes (1–4: regions 44, 51, 33, 11)")
	httpPort := fs.Int("http-port", 8080, "HTTP port of the first bureau; the other nodes follow")
	seed := fs.Uint64("seed", 1, "workload seed")
	logLevel := fs.String("log-level", "warn", "node logs on stderr: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if fs.NArg() != 0 || *load < 0 || *ministry < 1 || *bureaus < 1 || *bureaus > 4 {
		return exitUsage{fmt.Errorf("usage: jaminan devnet [--dir DIR] [--load N] [--duration D] [--ministry N] [--bureaus 1-4] [--http-port P]")}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return exitUsage{fmt.Errorf("--log-level: %w", err)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	started := time.Now()
	d, err := devnet.Start(devnet.Options{Dir: *dir, Ministry: *ministry, Bureaus: *bureaus, HTTPPort: *httpPort,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), Out: stdout})
	if err != nil {
		return err
	}
	d.PrintSummary(stdout)
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); d.RunLoad(ctx, *load, *seed) }()
	if *load > 0 {
		fmt.Fprintf(stdout, "workload: %.0f records/s to the bureaus; Ctrl-C stops\n", *load)
	} else {
		fmt.Fprintln(stdout, "no workload (--load 0); Ctrl-C stops")
	}

	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var firstFinal time.Duration
	var lastSent int64
	lastAt := time.Now()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-poll.C:
			if firstFinal == 0 && allFinal(d) {
				firstFinal = time.Since(started)
				fmt.Fprintf(stdout, "every node has a final checkpoint after %v\n", firstFinal.Round(time.Millisecond))
			}
		case <-t.C:
			sent, refused := d.Counts()
			rate := float64(sent-lastSent) / time.Since(lastAt).Seconds()
			lastSent, lastAt = sent, time.Now()
			lo, hi := ^uint64(0), uint64(0)
			for _, n := range d.Nodes {
				s := n.Final().Seq
				lo, hi = min(lo, s), max(hi, s)
			}
			corrections, consents := d.Extras()
			fmt.Fprintf(stdout, "final checkpoints %d–%d across nodes; %d records acknowledged (%.0f/s), %d refused; %d corrections, %d consents\n", lo, hi, sent, rate, refused, corrections, consents)
		}
	}
	<-loadDone
	fmt.Fprintln(stdout, "stopping…")
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(cctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "stopped cleanly")
	return nil
}

func allFinal(d *devnet.Devnet) bool {
	for _, n := range d.Nodes {
		if n.Final().Seq == 0 {
			return false
		}
	}
	return true
}
