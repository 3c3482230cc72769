// Package keyfile reads and writes a node's or a party's ed25519 key and the network pepper.
//
// A key file is JSON: {"type":"ed25519","peer_id":"12D3KooW…","seed":"<base64 of the 32-byte
// seed>"}. The peer ID is derived from the seed and checked on read, so a file edited by hand
// cannot claim another identity. Files are created with mode 0600 and never overwritten.
package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/jaminan/jaminan/ledger"
)

type keyJSON struct {
	Type   string `json:"type"`
	PeerID string `json:"peer_id"`
	Seed   string `json:"seed"`
}

// PepperSize is the size of the network pepper in bytes.
const PepperSize = 32

// Generate creates a new key file at path and returns its signer.
func Generate(path string) (*ledger.Signer, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	s := ledger.SignerFromSeed(seed)
	if err := Write(path, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Write stores s at path, failing if the file exists.
func Write(path string, s *ledger.Signer) error {
	b, err := json.MarshalIndent(keyJSON{Type: "ed25519", PeerID: s.ID().String(), Seed: base64.StdEncoding.EncodeToString(s.PrivateKey().Seed())}, "", "  ")
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return writeNew(path, append(b, '\n'))
}

// Read loads a key file.
func Read(path string) (*ledger.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if len(b) > 4096 {
		return nil, fmt.Errorf("read key %s: %d bytes is not a key file", path, len(b))
	}
	var k keyJSON
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if k.Type != "ed25519" {
		return nil, fmt.Errorf("read key %s: type %q, want ed25519", path, k.Type)
	}
	seed, err := base64.StdEncoding.DecodeString(k.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("read key %s: seed is not %d bytes of base64", path, ed25519.SeedSize)
	}
	s := ledger.SignerFromSeed(seed)
	if k.PeerID != s.ID().String() {
		return nil, fmt.Errorf("read key %s: peer_id %q does not match the key (%s)", path, k.PeerID, s.ID())
	}
	return s, nil
}

// GeneratePepper creates a new random network pepper file (hex) at path.
func GeneratePepper(path string) error {
	p := make([]byte, PepperSize)
	if _, err := rand.Read(p); err != nil {
		return fmt.Errorf("generate pepper: %w", err)
	}
	return writeNew(path, fmt.Appendf(nil, "%x\n", p))
}

// ReadPepper loads a pepper file.
func ReadPepper(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pepper: %w", err)
	}
	var p []byte
	if _, err := fmt.Sscanf(string(b), "%x", &p); err != nil || len(p) != PepperSize {
		return nil, fmt.Errorf("read pepper %s: want %d bytes of hex", path, PepperSize)
	}
	return p, nil
}

func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("write %s: file exists; refusing to overwrite a key", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
