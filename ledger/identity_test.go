package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A member's key ID must be exactly its libp2p peer ID, so that the connection gate can compare
// them byte for byte.
func TestKeyIDIsLibp2pPeerID(t *testing.T) {
	for _, seed := range []byte{0x00, 0x01, 0x02, 0x03, 0x7f, 0xff} {
		s := fixtureSigner(seed)
		pub := s.PrivateKey().Public().(ed25519.PublicKey)
		lpub, err := crypto.UnmarshalEd25519PublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := peer.IDFromPublicKey(lpub)
		if err != nil {
			t.Fatal(err)
		}
		id := KeyIDFromPublicKey(pub)
		if string(id) != string(pid) || id != s.ID() {
			t.Fatalf("seed %#x: key id %x, libp2p peer id %x", seed, []byte(id), []byte(pid))
		}
		if id.String() != pid.String() || !strings.HasPrefix(id.String(), "12D3KooW") {
			t.Fatalf("seed %#x: text %s, libp2p %s", seed, id, pid)
		}
		// The documented layout: 0x00 0x24 0x08 0x01 0x12 0x20 || key.
		if want := append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, pub...); !bytes.Equal([]byte(id), want) {
			t.Fatalf("seed %#x: raw key id %x", seed, []byte(id))
		}
		got, err := id.PublicKey()
		if err != nil || !got.Equal(pub) {
			t.Fatalf("seed %#x: PublicKey = %x, %v", seed, got, err)
		}
		// libp2p recovers the same key from the ID.
		ext, err := pid.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := ext.Raw()
		if !bytes.Equal(raw, pub) {
			t.Fatalf("seed %#x: libp2p extracts %x", seed, raw)
		}

		parsed, err := ParseKeyID(id.String())
		if err != nil || parsed != id {
			t.Fatalf("seed %#x: ParseKeyID(%s) = %x, %v", seed, id, []byte(parsed), err)
		}
		text, _ := id.MarshalText()
		var back KeyID
		if err := back.UnmarshalText(text); err != nil || back != id {
			t.Fatalf("seed %#x: text round trip: %v", seed, err)
		}
		enc := encode(id)
		if want := append([]byte{0x58, 0x26}, []byte(id)...); !bytes.Equal(enc, want) {
			t.Fatalf("seed %#x: CBOR %x, want a 38-byte byte string", seed, enc)
		}
		back = ""
		if err := decodeCanonical(enc, &back); err != nil || back != id {
			t.Fatalf("seed %#x: CBOR round trip: %v", seed, err)
		}
	}
	var empty KeyID
	if err := empty.UnmarshalText(nil); err != nil || empty != "" || empty.String() != "" {
		t.Fatalf("empty key id: %v", err)
	}
}

func TestParseKeyIDRejectsOtherKeys(t *testing.T) {
	// A secp256k1 key: a valid peer ID, but not an ed25519 identity multihash.
	sk, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	secp, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	// A SHA-256 multihash peer ID, the form libp2p uses for large (RSA) keys.
	hashed := peer.ID(append([]byte{0x12, 0x20}, make([]byte, 32)...))
	// An identity multihash of the right length but the wrong key type (0x08 0x02: secp256k1).
	wrongType := peer.ID(append([]byte{0x00, 0x24, 0x08, 0x02, 0x12, 0x20}, make([]byte, 32)...))

	for name, s := range map[string]string{
		"secp256k1":      secp.String(),
		"sha-256 hashed": hashed.String(),
		"wrong key type": wrongType.String(),
		"garbage":        "not a peer id",
		"empty":          "",
		"truncated":      fixtureSigner(1).ID().String()[:20],
	} {
		if id, err := ParseKeyID(s); err == nil {
			t.Errorf("%s: ParseKeyID(%q) = %x", name, s, []byte(id))
		}
	}
	for name, id := range map[string]KeyID{
		"empty":       "",
		"short":       KeyID(fixtureSigner(1).ID()[:37]),
		"long":        fixtureSigner(1).ID() + "\x00",
		"hashed":      KeyID(hashed),
		"wrong type":  KeyID(wrongType),
		"secp256k1":   KeyID(secp),
		"bare ed key": KeyID(make([]byte, 32)),
	} {
		if _, err := id.PublicKey(); err == nil {
			t.Errorf("%s: PublicKey accepted %x", name, []byte(id))
		}
		if err := verifySig(id, []byte("m"), make([]byte, 64)); err == nil {
			t.Errorf("%s: verifySig accepted", name)
		}
	}
}

func TestPseudonym(t *testing.T) {
	m := hmac.New(sha256.New, []byte("pepper"))
	m.Write([]byte("11010519491231002X"))
	want := m.Sum(nil)
	w := Pseudonym([]byte("pepper"), "11010519491231002X")
	if !bytes.Equal(w[:], want) {
		t.Fatalf("pseudonym %s, want HMAC-SHA256 %x", w, want)
	}
	if Pseudonym([]byte("other"), "11010519491231002X") == w {
		t.Fatal("pepper ignored")
	}
	parsed, err := ParseWorkerID(w.String())
	if err != nil || parsed != w {
		t.Fatalf("ParseWorkerID: %v", err)
	}
	if _, err := ParseWorkerID(w.String()[:63]); err == nil {
		t.Fatal("short worker id parsed")
	}
}
