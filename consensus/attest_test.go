package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jaminan/jaminan/ledger"
)

func attestSigners(n int) []*ledger.Signer {
	out := make([]*ledger.Signer, n)
	for i := range out {
		out[i] = ledger.SignerFromSeed(bytes.Repeat([]byte{byte(0x40 + i)}, 32))
	}
	return out
}

func share(s *ledger.Signer, network string, seq uint64, digest byte) *ledger.SnapshotAttestation {
	a := &ledger.SnapshotAttestation{Seq: seq, Checkpoint: ledger.Hash{1}, StateRoot: ledger.Hash{2}, Digest: ledger.Hash{digest}, Keys: 77}
	a.Sign(network, s)
	return a
}

// A snapshot attestation completes when a majority of the ministry set signed the same content;
// a stranger's share, a forged share and a minority that signed another digest do not count.
func TestAttestationsMajority(t *testing.T) {
	const network = "attest-net"
	ministry := attestSigners(5)
	stranger := ledger.SignerFromSeed(bytes.Repeat([]byte{0x99}, 32))
	var ids []ledger.KeyID
	for _, s := range ministry {
		ids = append(ids, s.ID())
	}
	at := NewAttestations(network, func(uint64) ([]ledger.KeyID, error) { return ids, nil })

	// Wrong signer, forged signature, wrong network, two signatures: refused.
	if _, err := at.Add(share(stranger, network, 10, 3)); !errors.Is(err, ErrShare) {
		t.Fatalf("a stranger's share: %v", err)
	}
	forged := share(ministry[0], network, 10, 3)
	forged.Digest = ledger.Hash{4}
	if _, err := at.Add(forged); !errors.Is(err, ErrShare) {
		t.Fatalf("a share whose content changed after signing: %v", err)
	}
	if _, err := at.Add(share(ministry[0], "other-net", 10, 3)); !errors.Is(err, ErrShare) {
		t.Fatalf("a share of another network: %v", err)
	}
	two := share(ministry[0], network, 10, 3)
	two.Sign(network, ministry[1])
	if _, err := at.Add(two); !errors.Is(err, ErrShare) {
		t.Fatalf("a share with two signatures: %v", err)
	}

	// Two members sign a wrong digest: a minority, kept apart.
	for _, s := range ministry[3:] {
		if a, err := at.Add(share(s, network, 10, 9)); err != nil || a != nil {
			t.Fatalf("minority share: %v %v", a, err)
		}
	}
	// The majority: 3 of 5. The same member twice counts once.
	for i, s := range ministry[:2] {
		if a, err := at.Add(share(s, network, 10, 3)); err != nil || a != nil {
			t.Fatalf("share %d: %v %v", i, a, err)
		}
		if a, err := at.Add(share(s, network, 10, 3)); err != nil || a != nil {
			t.Fatalf("share %d again: %v %v", i, a, err)
		}
	}
	a, err := at.Add(share(ministry[2], network, 10, 3))
	if err != nil || a == nil {
		t.Fatalf("third share: %v %v", a, err)
	}
	if a.Digest != (ledger.Hash{3}) || len(a.Sigs) != 3 || a.Verify(network, ids) != nil {
		t.Fatalf("complete attestation %+v: %v", a, a.Verify(network, ids))
	}
	// Decoding what was aggregated gives the same thing back.
	if d, err := ledger.DecodeSnapshotAttestation(a.Encode()); err != nil || d.Verify(network, ids) != nil {
		t.Fatalf("round trip: %v", err)
	}
	// Late shares for a completed checkpoint are dropped; a later one starts afresh.
	if a, err := at.Add(share(ministry[4], network, 10, 3)); err != nil || a != nil {
		t.Fatalf("late share: %v %v", a, err)
	}
	if a, err := at.Add(share(ministry[4], network, 20, 3)); err != nil || a != nil {
		t.Fatalf("next checkpoint: %v %v", a, err)
	}
}

// A member that signs many contents of one checkpoint keeps only its first: it cannot take the
// slots of the contents the others sign and keep the majority's from completing.
func TestAttestationsOneContentPerMember(t *testing.T) {
	const network = "attest-net"
	ministry := attestSigners(3)
	var ids []ledger.KeyID
	for _, s := range ministry {
		ids = append(ids, s.ID())
	}
	at := NewAttestations(network, func(uint64) ([]ledger.KeyID, error) { return ids, nil })
	for d := byte(10); d < 14; d++ {
		_, err := at.Add(share(ministry[0], network, 7, d))
		if d > 10 && !errors.Is(err, ErrShare) {
			t.Fatalf("content %d from a member that signed another: %v, want ErrShare", d, err)
		}
	}
	if a, err := at.Add(share(ministry[1], network, 7, 5)); err != nil || a != nil {
		t.Fatalf("first share of the majority's content: %v, %v", a, err)
	}
	a, err := at.Add(share(ministry[2], network, 7, 5))
	if err != nil || a == nil || a.Digest != (ledger.Hash{5}) || len(a.Sigs) != 2 {
		t.Fatalf("the majority's content did not complete: %+v, %v", a, err)
	}
}
