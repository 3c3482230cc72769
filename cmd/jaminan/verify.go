package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/web"
)

// maxProofFile bounds what verify reads: a statement of a long career is well under this.
const maxProofFile = 64 << 20

func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	genesisPath := fs.String("genesis", "genesis.json", "the network's genesis file")
	asJSON := fs.Bool("json", false, "print the verified content as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage{err}
	}
	if fs.NArg() != 1 {
		return exitUsage{fmt.Errorf("usage: jaminan verify [--genesis FILE] [--json] PROOF_OR_STATEMENT_FILE")}
	}
	g, err := loadGenesisFile(*genesisPath)
	if err != nil {
		return err
	}
	raw, err := readBounded(fs.Arg(0))
	if err != nil {
		return err
	}
	if text := string(raw); web.IsQRText(text) {
		// The payloads of a statement's QR codes (web/qr.go), as scanned, in any order.
		if raw, err = web.JoinQR(text); err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
	}
	var firstErr error
	for _, b := range candidates(raw) {
		if st, err := ledger.DecodeStatement(b); err == nil {
			sum, err := st.Verify(g)
			if err != nil {
				return fmt.Errorf("statement does NOT verify: %w", err)
			}
			return printStatement(stdout, g, sum, *asJSON)
		} else if firstErr == nil {
			firstErr = err
		}
		if p, err := ledger.DecodeRecordProof(b); err == nil {
			rec, _, err := p.Verify(g)
			if err != nil {
				return fmt.Errorf("record proof does NOT verify: %w (its certificate is checked against the ministry set its own changes prove, the genesis set if it carries none: a proof saved before the set changed has none)", err)
			}
			return printProof(stdout, g, p, rec, *asJSON)
		}
	}
	return fmt.Errorf("%s is neither a statement nor a record proof (CBOR, hex or base64): %w", fs.Arg(0), firstErr)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read proof: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProofFile+1))
	if err != nil {
		return nil, fmt.Errorf("read proof %s: %w", path, err)
	}
	if len(b) > maxProofFile {
		return nil, fmt.Errorf("read proof %s: larger than %d bytes", path, maxProofFile)
	}
	return b, nil
}

// candidates returns the byte forms a proof file may hold: raw CBOR, or hex or base64 text (as
// pasted from a web page; the QR codes' payloads are joined before).
func candidates(raw []byte) [][]byte {
	out := [][]byte{raw}
	text := strings.TrimSpace(string(raw))
	if h, err := hex.DecodeString(text); err == nil {
		out = append(out, h)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func printStatement(w io.Writer, g *ledger.Genesis, sum *ledger.StatementSummary, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"valid": true, "kind": "statement", "network": g.Network, "summary": sum})
	}
	fmt.Fprintf(w, "VALID statement of worker %x on network %s: %d records, each in a final checkpoint\n", sum.Worker[:8], g.Network, sum.Records)
	provs := make([]string, 0, len(sum.Regions))
	for p := range sum.Regions {
		provs = append(provs, p)
	}
	sort.Strings(provs)
	for _, p := range provs {
		r := sum.Regions[p]
		b, _ := json.Marshal(r)
		fmt.Fprintf(w, "  province %s: %s\n", p, b)
	}
	return nil
}

func printProof(w io.Writer, g *ledger.Genesis, p *ledger.RecordProof, rec *ledger.Record, asJSON bool) error {
	id := rec.ID()
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"valid": true, "kind": "record", "network": g.Network, "id": id.String(),
			"type": rec.Type, "code": p.Code, "checkpoint": p.Checkpoint.Seq})
	}
	fmt.Fprintf(w, "VALID record %s (%s) on network %s: receipt %q, final in checkpoint %d\n", id, rec.Type, g.Network, p.Code, p.Checkpoint.Seq)
	return nil
}
