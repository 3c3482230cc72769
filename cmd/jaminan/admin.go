package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

const adminUsage = `usage: jaminan admin [--node URL] [--token T | --token-file F] ACTION [PEER]
  add-voter PEER            add a ministry member (admitted by a gov.member record) to the Raft group
  remove-voter PEER         remove a node from the Raft group
  transfer-leadership [PEER]  hand leadership to PEER, or to the most up-to-date follower
Run it against the current leader; a follower answers 409 and names it.`

func runAdmin(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	action, peer := fs.Arg(0), fs.Arg(1)
	switch {
	case fs.NArg() == 2 && (action == "add-voter" || action == "remove-voter"):
	case (fs.NArg() == 1 || fs.NArg() == 2) && action == "transfer-leadership":
	default:
		return exitUsage{fmt.Errorf("%s", adminUsage)}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out map[string]string
	if err := c.Post(ctx, "/v1/admin", map[string]string{"action": action, "peer": peer}, &out); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", action, out["result"])
	return nil
}
