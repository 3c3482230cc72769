package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jaminan/jaminan/intake"
)

// submitBatch is the number of records per POST /v1/records.
const submitBatch = 1000

func runSubmit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	format := fs.String("format", "", "csv or jsonl (default: from the file name; .csv is CSV, anything else JSON lines)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if fs.NArg() != 1 {
		return exitUsage{fmt.Errorf("usage: jaminan submit [--node URL] [--token T | --token-file F | --key K] [--format csv|jsonl] FILE\ntry: jaminan submit --node http://127.0.0.1:8080 --token-file operator.token records.csv")}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var (
		inputs []intake.Input
		lines  []int
		bad    int
	)
	collect := func(line int, in *intake.Input, err error) error {
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "%s:%d: %s: %v\n", path, line, intake.Code(err), err)
			return nil
		}
		inputs, lines = append(inputs, *in), append(lines, line)
		return nil
	}
	if err := readRecords(f, path, *format, collect); err != nil {
		if u, ok := err.(exitUsage); ok {
			return u
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	ctx := context.Background()
	accepted, rejected := 0, 0
	start := time.Now()
	for from := 0; from < len(inputs); from += submitBatch {
		to := min(from+submitBatch, len(inputs))
		var res struct {
			Accepted []struct {
				Index int    `json:"index"`
				ID    string `json:"id"`
			} `json:"accepted"`
			Rejected []struct {
				Index   int    `json:"index"`
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"rejected"`
		}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			err = c.Post(ctx, "/v1/records", map[string]any{"records": inputs[from:to]}, &res)
			if err == nil || !retryable(err) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * time.Second) // records are deduplicated by ID: a retry is safe
		}
		if err != nil {
			return fmt.Errorf("submit lines %d–%d: %w", lines[from], lines[to-1], err)
		}
		accepted += len(res.Accepted)
		rejected += len(res.Rejected)
		for _, r := range res.Rejected {
			if r.Index >= 0 && from+r.Index < len(lines) {
				fmt.Fprintf(stdout, "%s:%d: %s: %s\n", path, lines[from+r.Index], r.Code, r.Message)
			}
		}
		if !*quiet {
			fmt.Fprintf(stderr, "\rsubmitted %d/%d records (%d accepted, %d rejected)", to, len(inputs), accepted, rejected)
		}
	}
	if !*quiet && len(inputs) > 0 {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "%d accepted, %d rejected by the node, %d lines unreadable, in %v\n", accepted, rejected, bad, time.Since(start).Round(time.Millisecond))
	if rejected > 0 || bad > 0 {
		return fmt.Errorf("%d records not accepted", rejected+bad)
	}
	return nil
}

func retryable(err error) bool {
	var status int
	if s := clientStatus(err); s != 0 {
		status = s
	}
	return status == 0 || status == 503 || status == 507 // unavailable or busy, disk full: nothing was stored
}
