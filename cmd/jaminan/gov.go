package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jaminan/jaminan/internal/durable"
	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
)

const govUsage = `usage: jaminan gov ACTION [flags] FILE
  draft  --genesis G --author KEYID --type T --body JSON [--out FILE]
         write a governance record (T: gov.member, gov.revoke, gov.param, gov.calendar) with its
         body as JSON, for instance --type gov.param --body '{"param":{"name":"pension.employer",
         "scope":"44","effective":20270101,"value":1500}}'; the author is a ministry member
  show   --genesis G FILE       print a record's content, its signers and whether they are a quorum
  sign   --genesis G --key KEYFILE FILE
         show the record, then add the key's signature to FILE (each ministry key holder signs
         in turn; the author must sign too)
  submit [--node URL] [--token-file T] FILE
         hand the signed record to a node, which carries it in its next block
A governance record needs the signatures of more than half of the ministry set in force.`

// govTypes are the records `jaminan gov draft` writes.
var govTypes = map[string]func() ledger.Body{
	string(ledger.TypeGovMember):   func() ledger.Body { return new(ledger.GovMember) },
	string(ledger.TypeGovRevoke):   func() ledger.Body { return new(ledger.GovRevoke) },
	string(ledger.TypeGovParam):    func() ledger.Body { return new(ledger.GovParam) },
	string(ledger.TypeGovCalendar): func() ledger.Body { return new(ledger.GovCalendar) },
}

func runGov(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return exitUsage{errors.New(govUsage)}
	}
	action, args := args[0], args[1:]
	fs := flag.NewFlagSet("gov "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	genesisPath := fs.String("genesis", "genesis.json", "the network's genesis file")
	switch action {
	case "draft":
		author := fs.String("author", "", "the proposing ministry member's key ID")
		typ := fs.String("type", "", "gov.member, gov.revoke, gov.param or gov.calendar")
		body := fs.String("body", "", "the record's body as JSON")
		out := fs.String("out", "", "write the record here (default: standard output)")
		if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
			return exitUsage{errors.New(govUsage)}
		}
		return govDraft(stdout, *genesisPath, *author, *typ, *body, *out)
	case "show", "sign":
		key := fs.String("key", "", "sign with this key file (sign)")
		if err := fs.Parse(args); err != nil || fs.NArg() != 1 || (action == "sign") != (*key != "") {
			return exitUsage{errors.New(govUsage)}
		}
		return govShowSign(stdout, *genesisPath, fs.Arg(0), *key)
	case "submit":
		cf := addClientFlags(fs)
		if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
			return exitUsage{errors.New(govUsage)}
		}
		return govSubmit(stdout, cf, fs.Arg(0))
	}
	return exitUsage{errors.New(govUsage)}
}

func govDraft(stdout io.Writer, genesisPath, author, typ, bodyJSON, out string) error {
	g, err := loadGenesisFile(genesisPath)
	if err != nil {
		return err
	}
	id, err := ledger.ParseKeyID(author)
	if err != nil {
		return exitUsage{fmt.Errorf("--author: %w", err)}
	}
	mk, ok := govTypes[typ]
	if !ok {
		return exitUsage{fmt.Errorf("--type %q: want gov.member, gov.revoke, gov.param or gov.calendar", typ)}
	}
	body := mk()
	dec := json.NewDecoder(strings.NewReader(bodyJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil {
		return exitUsage{fmt.Errorf("--body: %w", err)}
	}
	if err := ledger.ValidateGov(g, body); err != nil {
		return exitUsage{fmt.Errorf("--body: %w", err)}
	}
	rec := ledger.NewRecord(id, uint64(time.Now().UnixMilli()), body)
	if err := writeGovRecord(stdout, out, &rec); err != nil {
		return err
	}
	return describeGov(os.Stderr, g, &rec, body, nil)
}

func govShowSign(stdout io.Writer, genesisPath, path, keyPath string) error {
	g, err := loadGenesisFile(genesisPath)
	if err != nil {
		return err
	}
	rec, body, err := readGovRecord(path)
	if err != nil {
		return err
	}
	signers, err := rec.VerifySigs(g.Network)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if keyPath == "" {
		return describeGov(stdout, g, &rec, body, signers)
	}
	s, err := keyfile.Read(keyPath)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	if signers[s.ID()] {
		return fmt.Errorf("%s is already signed by %s", path, s.ID())
	}
	rec.Sign(g.Network, s)
	if signers == nil {
		signers = map[ledger.KeyID]bool{}
	}
	signers[s.ID()] = true
	if err := writeGovRecord(nil, path, &rec); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed by %s\n", s.ID())
	return describeGov(stdout, g, &rec, body, signers)
}

func govSubmit(stdout io.Writer, cf clientFlags, path string) error {
	rec, _, err := readGovRecord(path)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out struct {
		Accepted []struct {
			ID ledger.Hash `json:"id"`
		} `json:"accepted"`
		Rejected []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"rejected"`
	}
	if err := c.Do(ctx, "POST", "/v1/records", "application/cbor", rec.Encode(), &out); err != nil {
		return fmt.Errorf("submit %s: %w", path, err)
	}
	if len(out.Accepted) != 1 {
		for _, r := range out.Rejected {
			return fmt.Errorf("submit %s: rejected: %s: %s", path, r.Code, r.Message)
		}
		return fmt.Errorf("submit %s: the node neither accepted nor rejected it", path)
	}
	fmt.Fprintf(stdout, "accepted %s\nfollow it until it is final: jaminan query record %s\n", out.Accepted[0].ID, out.Accepted[0].ID)
	return nil
}

// readGovRecord reads a record file (base64, hex or raw CBOR) and decodes it strictly.
func readGovRecord(path string) (ledger.Record, ledger.Body, error) {
	raw, err := readBounded(path)
	if err != nil {
		return ledger.Record{}, nil, err
	}
	var firstErr error
	for _, b := range candidates(raw) {
		rec, body, err := ledger.DecodeRecord(b)
		if err == nil {
			if _, ok := govTypes[string(rec.Type)]; !ok {
				return ledger.Record{}, nil, fmt.Errorf("%s is a %s record, not a governance record", path, rec.Type)
			}
			return rec, body, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return ledger.Record{}, nil, fmt.Errorf("%s is not a record (CBOR, hex or base64): %w", path, firstErr)
}

// writeGovRecord writes the record as one line of base64 to path, or to w when path is "".
func writeGovRecord(w io.Writer, path string, rec *ledger.Record) error {
	line := base64.StdEncoding.EncodeToString(rec.Encode()) + "\n"
	if path == "" {
		_, err := io.WriteString(w, line)
		return err
	}
	return durable.WriteFile(path, []byte(line), 0o600)
}

// describeGov prints what a governance record says and who has signed it.
func describeGov(w io.Writer, g *ledger.Genesis, rec *ledger.Record, body ledger.Body, signers map[ledger.KeyID]bool) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		return err
	}
	id := rec.ID()
	fmt.Fprintf(w, "record %s\n  type   %s\n  author %s\n  time   %s\n  body   %s", id, rec.Type, rec.Author,
		time.UnixMilli(int64(rec.At)).UTC().Format(time.RFC3339), strings.ReplaceAll(b.String(), "\n", "\n         "))
	set := ledger.GenesisMinistry(g, rec.At)
	fmt.Fprintf(w, "\n  signed by %d of the %d genesis ministry members (a quorum is %d)", ledger.CountSigners(set, signers), len(set), ledger.Quorum(len(set)))
	if !signers[rec.Author] {
		fmt.Fprint(w, "; the author has not signed yet")
	}
	fmt.Fprintln(w)
	return nil
}
