package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jaminan/jaminan/web"
)

// TestVerifyQRPayloads: `jaminan verify` takes the payloads of a statement's QR codes as
// scanned, in any order, with or without separators, and refuses an incomplete or altered set.
func TestVerifyQRPayloads(t *testing.T) {
	dir := t.TempDir()
	ministry, bureau, g, gp := founding(t, dir)
	st, _ := statement(t, ministry, bureau, g)
	parts, err := web.QRPayloads(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 {
		t.Logf("the statement fits one code (%d characters)", len(parts[0]))
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reversed := make([]string, len(parts))
	for i, p := range parts {
		reversed[len(parts)-1-i] = p
	}
	for name, text := range map[string]string{
		"lines":    strings.Join(parts, "\n") + "\n",
		"reversed": strings.Join(reversed, "\r\n"),
		"glued":    strings.Join(parts, ""),
	} {
		code, stdout, stderr := runCLI(t, "verify", "--genesis", gp, write(name, text))
		if code != 0 || !strings.Contains(stdout, "VALID statement") {
			t.Fatalf("%s: %d %q %q", name, code, stdout, stderr)
		}
	}
	if len(parts) > 1 {
		code, _, stderr := runCLI(t, "verify", "--genesis", gp, write("missing", strings.Join(parts[1:], "\n")))
		if code != 1 || !strings.Contains(stderr, "missing") {
			t.Fatalf("a missing part: %d %q", code, stderr)
		}
	}
	// One character of the base64 changed: the statement no longer decodes or verifies.
	last := parts[len(parts)-1]
	i := len(last) - 10
	c := byte('A')
	if last[i] == 'A' {
		c = 'B'
	}
	bad := append(append([]string(nil), parts[:len(parts)-1]...), last[:i]+string(c)+last[i+1:])
	if code, stdout, _ := runCLI(t, "verify", "--genesis", gp, write("bad", strings.Join(bad, "\n"))); code == 0 {
		t.Fatalf("an altered payload verified: %q", stdout)
	}
}
