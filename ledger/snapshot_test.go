package ledger

import (
	"errors"
	"fmt"
	"testing"
)

func TestSnapshotAttestationVerify(t *testing.T) {
	signers, ministry := fixtureMinistry(3)
	base := SnapshotAttestation{Seq: 7, Checkpoint: fixtureHash("cp"), StateRoot: fixtureHash("root"), Digest: fixtureHash("digest"), Keys: 1000}
	for k := 0; k <= 3; k++ {
		a := base
		a.Sigs = nil
		for _, s := range signers[3-k:] {
			a.Sign(fixtureNetwork, s)
		}
		a.Sign(fixtureNetwork, signers[2]) // re-signing replaces, never counts twice
		if k == 0 {
			a.Sigs = nil
		}
		err := a.Verify(fixtureNetwork, ministry)
		if k >= 2 && err != nil {
			t.Fatalf("%d of 3: %v", k, err)
		}
		if k < 2 && !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("%d of 3 (too few) verified: %v", k, err)
		}
		back, err := DecodeSnapshotAttestation(a.Encode())
		if err != nil || fmt.Sprint(*back) != fmt.Sprint(a) {
			t.Fatalf("round trip: %v", err)
		}
	}

	// Every field is covered by the signatures, and the signers must be the ministry.
	good := base
	for _, s := range signers {
		good.Sign(fixtureNetwork, s)
	}
	for name, mutate := range map[string]func(a *SnapshotAttestation){
		"seq":        func(a *SnapshotAttestation) { a.Seq++ },
		"checkpoint": func(a *SnapshotAttestation) { a.Checkpoint[0] ^= 1 },
		"root":       func(a *SnapshotAttestation) { a.StateRoot[0] ^= 1 },
		"digest":     func(a *SnapshotAttestation) { a.Digest[0] ^= 1 },
		"keys":       func(a *SnapshotAttestation) { a.Keys++ },
		"stranger": func(a *SnapshotAttestation) {
			a.Sigs = nil
			a.Sign(fixtureNetwork, fixtureSigner(99))
			a.Sign(fixtureNetwork, signers[0])
		},
	} {
		a := good
		a.Sigs = append([]Sig(nil), good.Sigs...)
		mutate(&a)
		if err := a.Verify(fixtureNetwork, ministry); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s altered: verified (%v)", name, err)
		}
	}
	if err := good.Verify("another-network", ministry); err == nil {
		t.Error("attestation verified on another network")
	}
}
