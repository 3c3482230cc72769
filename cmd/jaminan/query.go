package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/jaminan/jaminan/node/client"
)

func clientStatus(err error) int { return client.StatusOf(err) }

const queryUsage = `usage: jaminan query [--node URL] [--token T | --token-file F | --key K] [--out FILE] WHAT [ARG]
  status                    the node's status and last final checkpoint
  record ID                 a record's status and receipt
  proof ID                  a record's inclusion proof (--out FILE writes it for jaminan verify)
  account WORKER            a worker's accounts (resident ID number for the operator, or pseudonym)
  statement WORKER          a worker's verifiable statement (--out FILE for jaminan verify)
  access WORKER             who read a worker's data
  transfer CASE             a transfer's stages (public)
  compliance USCC           an employer's declared and paid months
  checkpoint SEQ|latest     a final checkpoint
  block HASH                a block
try: jaminan query --node http://127.0.0.1:8080 status`

func runQuery(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	out := fs.String("out", "", "proof, statement: write the encoded proof or statement (base64) to this file")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if fs.NArg() < 1 {
		return exitUsage{fmt.Errorf("%s", queryUsage)}
	}
	what, rest := fs.Arg(0), fs.Args()[1:]
	routes := map[string]string{
		"record": "/v1/records/%s", "proof": "/v1/records/%s/proof", "account": "/v1/workers/%s/account",
		"statement": "/v1/workers/%s/statement", "access": "/v1/workers/%s/access", "transfer": "/v1/transfers/%s",
		"compliance": "/v1/employers/%s/compliance", "checkpoint": "/v1/checkpoints/%s", "block": "/v1/blocks/%s",
	}
	var path string
	switch {
	case what == "status" && len(rest) == 0:
		path = "/v1/status"
	case routes[what] != "" && len(rest) == 1:
		path = fmt.Sprintf(routes[what], url.PathEscape(rest[0]))
	default:
		return exitUsage{fmt.Errorf("%s", queryUsage)}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	raw, err := c.DoRaw(context.Background(), "GET", path, "", nil)
	if err != nil {
		return err
	}
	if *out != "" {
		var enc struct {
			Encoded string `json:"encoded"`
		}
		if err := json.Unmarshal(raw, &enc); err != nil || enc.Encoded == "" {
			return fmt.Errorf("--out: the answer to %s holds nothing encoded", what)
		}
		if err := os.WriteFile(*out, []byte(enc.Encoded+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		fmt.Fprintf(stderr, "wrote %s; check it with: jaminan verify --genesis genesis.json %s\n", *out, *out)
	}
	if *cf.asJSON {
		_, err = stdout.Write(append(bytes.TrimSpace(raw), '\n'))
		return err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	_, err = fmt.Fprintln(stdout, strings.TrimSpace(string(pretty)))
	return err
}
