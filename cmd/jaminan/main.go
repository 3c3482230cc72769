// Command jaminan is the single binary of the Jaminan ledger.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after the command name.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"devnet":   {"start a local network of 3 ministry and 4 bureau nodes with a synthetic workload", runDevnet},
	"node":     {"run one bureau or ministry node from a configuration file", runNode},
	"submit":   {"import a CSV or JSON-lines file of records into a node over its HTTP API", runSubmit},
	"query":    {"ask a node: status, record, proof, account, statement, transfer, compliance, checkpoint", runQuery},
	"admin":    {"ministry Raft membership and leadership: add-voter, remove-voter, transfer-leadership", runAdmin},
	"gov":      {"draft, sign, show and submit governance records (members, revocations, parameters, calendars)", runGov},
	"keygen":   {"create a node or party key file, or the network pepper", runKeygen},
	"genesis":  {"write a network's genesis file from its founding members", runGenesis},
	"verify":   {"verify a record proof or a worker statement offline against a genesis file", runVerify},
	"validate": {"check a CSV or JSON-lines file of records against the rules before submitting it", runValidate},
	"bench":    {"measure the network end to end: records/s final, finality latency, CPU, memory, disk, ceilings", runBench},
}

// exitUsage marks errors caused by a wrong command line (exit status 2).
type exitUsage struct{ error }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "jaminan: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "jaminan %s: %v\n", args[0], err)
		if _, ok := err.(exitUsage); ok {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: jaminan <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\ntry: jaminan devnet")
}
