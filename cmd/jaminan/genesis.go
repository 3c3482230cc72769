package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// memberFlags collects repeated --member role,region,name,peer_id flags.
type memberFlags []ledger.Member

func (m *memberFlags) String() string { return fmt.Sprint(len(*m)) }

func (m *memberFlags) Set(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return fmt.Errorf("member %q: want role,region,name,peer_id", v)
	}
	id, err := ledger.ParseKeyID(strings.TrimSpace(parts[3]))
	if err != nil {
		return fmt.Errorf("member %q: %w", v, err)
	}
	*m = append(*m, ledger.Member{ID: id, Role: strings.TrimSpace(parts[0]), Region: strings.TrimSpace(parts[1]), Name: strings.TrimSpace(parts[2])})
	return nil
}

func runGenesis(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("genesis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	network := fs.String("network", "", "network name, e.g. jaminan-prod")
	at := fs.String("time", "", "genesis time, RFC 3339 (default: now)")
	offset := fs.Duration("utc-offset", 8*time.Hour, "the jurisdiction's offset from UTC, for calendar days")
	out := fs.String("out", "genesis.json", "file to create (never overwritten)")
	var members memberFlags
	fs.Var(&members, "member", "a founding member as role,region,name,peer_id (repeat; role ministry, bureau, employer or supervisor)")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if *network == "" || len(members) == 0 || fs.NArg() > 0 {
		return exitUsage{fmt.Errorf("usage: jaminan genesis --network NAME --member role,region,name,peer_id … [--time RFC3339] [--out FILE]")}
	}
	t := time.Now()
	if *at != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, *at); err != nil {
			return exitUsage{fmt.Errorf("--time: %w", err)}
		}
	}
	g := &ledger.Genesis{Network: *network, Time: uint64(t.UnixMilli()), Members: members, Params: ledger.DefaultParams(), UTCOffset: int32(offset.Seconds())}
	g.Normalise()
	if err := g.Validate(); err != nil {
		return fmt.Errorf("genesis is not valid: %w", err)
	}
	b, err := g.JSON()
	if err != nil {
		return fmt.Errorf("encode genesis: %w", err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write genesis: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	fmt.Fprintf(stdout, "genesis %s written to %s (%d members)\n", g.Hash(), *out, len(g.Members))
	return nil
}

// loadGenesisFile reads and validates a genesis JSON file.
func loadGenesisFile(path string) (*ledger.Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	g, err := ledger.ParseGenesisJSON(b)
	if err != nil {
		return nil, fmt.Errorf("read genesis %s: %w", path, err)
	}
	return g, nil
}
