package ledger

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// SnapshotAttestation binds a full-state digest to a checkpoint. The per-checkpoint state root is
// a hash chain over receipts and writes, so it does not by itself commit to the whole state; a
// node that joins from a snapshot instead of replaying every checkpoint trusts the snapshot
// because a majority of the ministry set in force at that checkpoint signed its digest, the same
// trust a certificate asks for.
type SnapshotAttestation struct {
	Seq        uint64 `cbor:"1,keyasint" json:"seq"`
	Checkpoint Hash   `cbor:"2,keyasint" json:"checkpoint"`
	StateRoot  Hash   `cbor:"3,keyasint" json:"state_root"`
	Digest     Hash   `cbor:"4,keyasint" json:"digest"` // StateDigest of the state after Seq
	Keys       uint64 `cbor:"5,keyasint" json:"keys"`   // number of (key, value) pairs
	Sigs       []Sig  `cbor:"6,keyasint" json:"sigs"`   // sorted by signer
}

// message returns the bytes each signature covers:
// tag || 0x00 || network || 0x00 || seq(8) || checkpoint || state root || digest || keys(8).
func (a *SnapshotAttestation) message(network string) []byte {
	var seq, keys [8]byte
	binary.BigEndian.PutUint64(seq[:], a.Seq)
	binary.BigEndian.PutUint64(keys[:], a.Keys)
	return taggedMessage(tagSnapshot, []byte(network), []byte{0}, seq[:], a.Checkpoint[:], a.StateRoot[:], a.Digest[:], keys[:])
}

// Sign adds s's signature, replacing an earlier one by the same signer.
func (a *SnapshotAttestation) Sign(network string, s *Signer) {
	a.Sigs = slices.DeleteFunc(a.Sigs, func(x Sig) bool { return x.Signer == s.ID() })
	a.Sigs = append(a.Sigs, Sig{Signer: s.ID(), Sig: s.sign(a.message(network))})
	sortSigs(a.Sigs)
}

// Verify checks that a majority of ministry, the ministry set in force at checkpoint Seq, signed.
func (a *SnapshotAttestation) Verify(network string, ministry []KeyID) error {
	if len(a.Sigs) > len(ministry) || len(a.Sigs) > 64 {
		return fmt.Errorf("%w: snapshot attestation has %d signatures for %d ministry members", ErrCheckpoint, len(a.Sigs), len(ministry))
	}
	if !sigsSorted(a.Sigs) {
		return fmt.Errorf("%w: snapshot attestation signatures not sorted by signer", ErrCheckpoint)
	}
	msg := a.message(network)
	for _, s := range a.Sigs {
		if !slices.Contains(ministry, s.Signer) {
			return fmt.Errorf("%w: snapshot signer %s is not in the ministry set", ErrCheckpoint, s.Signer.Short())
		}
		if err := verifySig(s.Signer, msg, s.Sig); err != nil {
			return fmt.Errorf("%w: snapshot attestation: %w", ErrCheckpoint, err)
		}
	}
	if q := Quorum(len(ministry)); len(a.Sigs) < q {
		return fmt.Errorf("%w: snapshot attestation has %d valid signatures, need %d of %d", ErrCheckpoint, len(a.Sigs), q, len(ministry))
	}
	return nil
}

// Encode returns the canonical bytes.
func (a *SnapshotAttestation) Encode() []byte { return encode(a) }

// DecodeSnapshotAttestation decodes an untrusted snapshot attestation.
func DecodeSnapshotAttestation(b []byte) (*SnapshotAttestation, error) {
	if len(b) > 16<<10 {
		return nil, fmt.Errorf("decode snapshot attestation: %w: %d bytes", ErrEncoding, len(b))
	}
	var a SnapshotAttestation
	if err := decodeCanonical(b, &a); err != nil {
		return nil, fmt.Errorf("decode snapshot attestation: %w", err)
	}
	return &a, nil
}
