package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.key")
	s, err := Generate(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID() != s.ID() {
		t.Fatalf("read %s, wrote %s", back.ID(), s.ID())
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := Generate(p); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrote a key: %v", err)
	}
}

func TestKeyRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.key")
	s, _ := Generate(p)
	good, _ := os.ReadFile(p)
	other := filepath.Join(dir, "b.key")
	o, _ := Generate(other)
	cases := map[string]string{
		"garbage":    "not json",
		"type":       strings.Replace(string(good), "ed25519", "rsa", 1),
		"short seed": `{"type":"ed25519","peer_id":"x","seed":"AAAA"}`,
		"wrong peer": strings.Replace(string(good), s.ID().String(), o.ID().String(), 1),
		"huge":       strings.Repeat(" ", 5000),
	}
	for name, content := range cases {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(f, []byte(content), 0o600)
		if _, err := Read(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPepper(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pepper")
	if err := GeneratePepper(p); err != nil {
		t.Fatal(err)
	}
	b, err := ReadPepper(p)
	if err != nil || len(b) != PepperSize {
		t.Fatalf("%x %v", b, err)
	}
	os.WriteFile(p+"2", []byte("abcd\n"), 0o600)
	if _, err := ReadPepper(p + "2"); err == nil {
		t.Fatal("short pepper accepted")
	}
}
