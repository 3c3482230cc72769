package ledger

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrSignature is returned (wrapped) when a signature is missing, malformed or does not verify.
var ErrSignature = errors.New("invalid signature")

// KeyID names an ed25519 key the way libp2p names a peer: the identity multihash of the
// protobuf-encoded public key. A member's ID is its libp2p peer ID; a worker's registered personal
// key is named the same way. The raw form is 38 bytes:
//
//	0x00 0x24 (identity multihash, 36 bytes) 0x08 0x01 (key type Ed25519) 0x12 0x20 (32 bytes) key
//
// so any verifier can recover the public key without a libp2p library.
type KeyID string

// MemberID is the KeyID of a network member (its libp2p peer ID).
type MemberID = KeyID

var keyIDPrefix = []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// KeyIDFromPublicKey names an ed25519 public key.
func KeyIDFromPublicKey(pub ed25519.PublicKey) KeyID {
	b := make([]byte, 0, len(keyIDPrefix)+ed25519.PublicKeySize)
	b = append(b, keyIDPrefix...)
	b = append(b, pub...)
	return KeyID(b)
}

// PublicKey extracts the ed25519 public key, or fails if id is not an ed25519 key ID.
func (id KeyID) PublicKey() (ed25519.PublicKey, error) {
	if !id.isEd25519() {
		return nil, fmt.Errorf("key id %s: not an ed25519 identity multihash", id.Short())
	}
	return ed25519.PublicKey(id[len(keyIDPrefix):]), nil
}

// isEd25519 reports whether id has the form of an ed25519 identity multihash.
func (id KeyID) isEd25519() bool {
	return len(id) == len(keyIDPrefix)+ed25519.PublicKeySize && string(id[:len(keyIDPrefix)]) == string(keyIDPrefix)
}

// String returns the libp2p text form (base58btc, "12D3KooW…").
func (id KeyID) String() string {
	if id == "" {
		return ""
	}
	return peer.ID(id).String()
}

// Short returns a short form for logs.
func (id KeyID) Short() string {
	s := id.String()
	if len(s) > 12 {
		return s[len(s)-8:]
	}
	return s
}

// ParseKeyID parses the libp2p text form and checks that it names an ed25519 key.
func ParseKeyID(s string) (KeyID, error) {
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("parse key id %q: %w", s, err)
	}
	id := KeyID(p)
	if _, err := id.PublicKey(); err != nil {
		return "", fmt.Errorf("parse key id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText gives the libp2p text form for JSON.
func (id KeyID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the libp2p text form.
func (id *KeyID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ""
		return nil
	}
	p, err := ParseKeyID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// MarshalCBOR encodes the raw 38 bytes as a CBOR byte string.
func (id KeyID) MarshalCBOR() ([]byte, error) { return cbor.Marshal([]byte(id)) }

// UnmarshalCBOR decodes a CBOR byte string. Its length and form are checked where it is used.
func (id *KeyID) UnmarshalCBOR(b []byte) error {
	var raw []byte
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return err
	}
	*id = KeyID(raw)
	return nil
}

// Signer holds an ed25519 private key. It is the only way this package signs.
type Signer struct {
	priv ed25519.PrivateKey
	id   KeyID
}

// NewSigner wraps an ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, id: KeyIDFromPublicKey(priv.Public().(ed25519.PublicKey))}
}

// SignerFromSeed derives a signer from a 32-byte seed (tests and devnets use fixed seeds).
func SignerFromSeed(seed []byte) *Signer { return NewSigner(ed25519.NewKeyFromSeed(seed)) }

// ID returns the signer's key ID.
func (s *Signer) ID() KeyID { return s.id }

// PrivateKey returns the private key, for writing key files.
func (s *Signer) PrivateKey() ed25519.PrivateKey { return s.priv }

func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// verifySig checks an ed25519 signature by id over msg.
func verifySig(id KeyID, msg, sig []byte) error {
	pub, err := id.PublicKey()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %d bytes", ErrSignature, len(sig))
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: by %s", ErrSignature, id.Short())
	}
	return nil
}

// WorkerID is a worker's account key on the ledger: HMAC-SHA256(network pepper, normalised
// resident ID number). Raw ID numbers never leave the bureau that received them.
type WorkerID [32]byte

// Pseudonym computes the worker ID of a normalised 18-character resident ID number.
func Pseudonym(pepper []byte, normalisedID string) WorkerID {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(normalisedID))
	var w WorkerID
	m.Sum(w[:0])
	return w
}

// String returns the lower-case hex form.
func (w WorkerID) String() string { return hex.EncodeToString(w[:]) }

// IsZero reports whether w is all zero (absent).
func (w WorkerID) IsZero() bool { return w == WorkerID{} }

// MarshalText encodes w as hex.
func (w WorkerID) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText decodes 64 hex characters.
func (w *WorkerID) UnmarshalText(b []byte) error {
	h, err := ParseHash(string(b))
	if err != nil {
		return fmt.Errorf("parse worker id: %w", err)
	}
	*w = WorkerID(h)
	return nil
}

// ParseWorkerID decodes the hex form of a pseudonym.
func ParseWorkerID(s string) (WorkerID, error) {
	var w WorkerID
	err := w.UnmarshalText([]byte(s))
	return w, err
}
