package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger/civil"
)

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	genesisPath := fs.String("genesis", "genesis.json", "the network's genesis file (its rule parameters are used)")
	format := fs.String("format", "", "csv or jsonl (default: from the file name; .csv is CSV, anything else JSON lines)")
	today := fs.String("today", "", "the date to validate as of, YYYY-MM-DD (default: today in the network's time zone)")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if fs.NArg() != 1 {
		return exitUsage{fmt.Errorf("usage: jaminan validate [--genesis FILE] [--format csv|jsonl] [--today YYYY-MM-DD] FILE")}
	}
	g, err := loadGenesisFile(*genesisPath)
	if err != nil {
		return err
	}
	day := civil.DateOfUnixMilli(time.Now().UnixMilli(), int(g.UTCOffset))
	if *today != "" {
		if day, err = civil.ParseDate(*today); err != nil {
			return exitUsage{fmt.Errorf("--today: %w", err)}
		}
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer f.Close()
	// Validation needs no pepper: the pseudonym does not change whether a record is valid.
	conv := intake.NewConverter(g, nil)
	var ok, bad int
	check := func(line int, in *intake.Input, err error) error {
		if err == nil {
			_, err = conv.Body(in, day)
		}
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "%s:%d: %s: %v\n", path, line, intake.Code(err), err)
			return nil
		}
		ok++
		return nil
	}
	if err := readRecords(f, path, *format, check); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d valid, %d invalid\n", ok, bad)
	if bad > 0 {
		return fmt.Errorf("%d invalid records in %s", bad, path)
	}
	return nil
}

// readRecords reads a file of records as CSV or JSON lines: format is "csv", "jsonl", or "" to go
// by the file name (.csv is CSV, anything else JSON lines). fn gets each record or why a line
// could not be read.
func readRecords(r io.Reader, path, format string, fn func(line int, in *intake.Input, err error) error) error {
	switch {
	case format == "csv" || (format == "" && strings.HasSuffix(strings.ToLower(path), ".csv")):
		return intake.ReadCSV(r, fn)
	case format == "" || format == "jsonl":
		return intake.ReadLines(r, fn)
	}
	return exitUsage{fmt.Errorf("--format %q: want csv or jsonl", format)}
}
