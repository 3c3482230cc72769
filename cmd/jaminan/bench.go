package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/jaminan/jaminan/bench"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	def := bench.DefaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ministry := fs.Int("ministry", def.Ministry, "ministry nodes")
	bureaus := fs.Int("bureaus", def.Bureaus, "bureau nodes (1–4)")
	mode := fs.String("mode", def.Mode, "how records go in: producer (in process, outbox onwards) or http (POST /v1/records)")
	rates := fs.String("rates", joinRates(def.Rates), "offered loads in records/s, comma-separated; max: as fast as the bureaus acknowledge")
	warmup := fs.Duration("warmup", def.Warmup, "load before each step's window")
	duration := fs.Duration("duration", def.Duration, "each step's measurement window")
	drain := fs.Duration("drain", def.Drain, "longest wait after each step for the backlog to become final")
	blockRecords := fs.Int("block-records", def.BlockRecords, "records per block (node block_records)")
	blockInterval := fs.Duration("block-interval", def.BlockInterval, "node block_interval")
	cpInterval := fs.Duration("checkpoint-interval", def.CheckpointInterval, "node checkpoint_interval")
	conc := fs.Int("concurrency", def.Concurrency, "concurrent submissions per bureau")
	workers := fs.Int("workers", def.Workers, "synthetic workers per bureau")
	catchUp := fs.Bool("catch-up", def.CatchUp, "after the steps, wipe the last bureau and time its catch-up")
	snapInterval := fs.Int("snapshot-interval", def.SnapshotInterval, "ministry snapshot_interval; the catch-up joins from the latest attested snapshot (0: off, it replays every checkpoint)")
	ceilings := fs.Bool("ceilings", def.Ceilings, "measure the component ceilings after the network stops")
	ceilingRecords := fs.Int("ceiling-records", def.CeilingRecords, "records the store apply ceiling applies")
	ceilingBlocks := fs.Int("ceiling-blocks", def.CeilingBlocks, "blocks per checkpoint in the store apply ceiling")
	onlyCeilings := fs.Bool("only-ceilings", false, "measure the component ceilings only, without a network")
	procs := fs.Bool("procs", false, "one jaminan node process per node, logs in the data directory (records go in over HTTP: mode http)")
	binary := fs.String("binary", "", "with --procs: the jaminan binary the nodes run (default: this executable)")
	dir := fs.String("dir", "", "data directory (default: a temporary directory, removed at the end)")
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	plotPath := fs.String("plot", "", "write the latency-versus-load plot to this .svg or .png file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	seed := fs.Uint64("seed", def.Seed, "workload seed")
	logLevel := fs.String("log-level", "off", "node logs on stderr: off, debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	usage := "usage: jaminan bench [--mode producer|http] [--rates 2000,10000,max] [--duration 10s] [--ministry N] [--bureaus N] [--procs [--binary PATH]] [--json FILE] [--plot FILE.svg] [--cpuprofile FILE]"
	if fs.NArg() != 0 {
		return exitUsage{fmt.Errorf("unexpected arguments %q; %s", fs.Args(), usage)}
	}
	modeSet := false
	fs.Visit(func(f *flag.Flag) { modeSet = modeSet || f.Name == "mode" })
	if *procs {
		if modeSet && *mode == bench.ModeProducer {
			return exitUsage{fmt.Errorf("--procs with --mode producer: the producer mode calls node.Submit inside the harness's process, and with --procs no node runs there; use --mode http (the default with --procs)")}
		}
		*mode = bench.ModeHTTP
		if *binary == "" {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("--procs: find this executable for the nodes: %w (give --binary)", err)
			}
			*binary = exe
		}
	} else if *binary != "" {
		return exitUsage{fmt.Errorf("--binary is for --procs")}
	}
	rs, err := parseRates(*rates)
	if err != nil {
		return exitUsage{fmt.Errorf("--rates: %w; %s", err, usage)}
	}
	logs := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *logLevel != "off" {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
			return exitUsage{fmt.Errorf("--log-level: %w", err)}
		}
		logs = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	}
	o := bench.Options{Ministry: *ministry, Bureaus: *bureaus, Mode: *mode, Rates: rs, Warmup: *warmup, Duration: *duration,
		Drain: *drain, BlockRecords: *blockRecords, BlockInterval: *blockInterval, CheckpointInterval: *cpInterval,
		Workers: *workers, Concurrency: *conc, CatchUp: *catchUp, Ceilings: *ceilings, CeilingRecords: *ceilingRecords, CeilingBlocks: *ceilingBlocks,
		Procs: *procs, Binary: *binary, Dir: *dir, Seed: *seed, Out: stderr, Logger: logs, SnapshotInterval: *snapInterval}
	if *snapInterval <= 0 {
		o.SnapshotInterval = -1 // off; 0 in Options means the default
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *onlyCeilings {
		cs, err := bench.Ceilings(ctx, o)
		if err != nil {
			return err
		}
		rep := &bench.Report{Ceilings: cs}
		return rep.WriteCeilings(stdout)
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := rep.WriteJSON(*jsonPath); err != nil {
			return err
		}
	}
	if *plotPath != "" {
		if err := rep.WritePlot(*plotPath); err != nil {
			return err
		}
	}
	return nil
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "max" {
			out = append(out, 0)
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.ToLower(f), "k"), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: want a positive number of records/s (10000 or 10k) or max", f)
		}
		if strings.HasSuffix(strings.ToLower(f), "k") {
			v *= 1000
		}
		out = append(out, v)
	}
	return out, nil
}

func joinRates(rs []float64) string {
	var parts []string
	for _, r := range rs {
		if r == 0 {
			parts = append(parts, "max")
		} else {
			parts = append(parts, strconv.FormatFloat(r, 'f', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}
