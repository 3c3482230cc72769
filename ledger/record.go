package ledger

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// RecordType names a kind of record. The names are part of the wire format.
type RecordType string

// The record types of DESIGN.md §4.
const (
	TypeContribution   RecordType = "contribution"
	TypeEmployment     RecordType = "employment"
	TypeCorrection     RecordType = "correction"
	TypeTransferApply  RecordType = "transfer.apply"
	TypeTransferLetter RecordType = "transfer.letter"
	TypeTransferOut    RecordType = "transfer.out"
	TypeTransferIn     RecordType = "transfer.in"
	TypeTransferReject RecordType = "transfer.reject"
	TypeConsentGrant   RecordType = "consent.grant"
	TypeConsentRevoke  RecordType = "consent.revoke"
	TypeWorkerKey      RecordType = "worker.key"
	TypeAccess         RecordType = "access"
	TypePensionStart   RecordType = "pension.start"
	TypeGovMember      RecordType = "gov.member"
	TypeGovRevoke      RecordType = "gov.revoke"
	TypeGovParam       RecordType = "gov.param"
	TypeGovCalendar    RecordType = "gov.calendar"
)

// Size limits. A record larger than MaxRecordSize is never accepted; blocks are bounded by both
// count and bytes so that one block always fits a gossip message.
const (
	MaxRecordSize     = 4 << 10
	MaxBlockRecords   = 4096
	MaxBlockSize      = 1 << 20
	MaxRecordSigs     = 16
	MaxCheckpointSize = 8192 // blocks per checkpoint
	maxTextField      = 256
)

// Record is the signed envelope every ledger entry travels in. Its ID is the tagged hash of its
// canonical encoding without Sigs, so adding signatures never changes what is being signed.
type Record struct {
	Type   RecordType      `cbor:"1,keyasint"`
	Author KeyID           `cbor:"2,keyasint"`
	At     uint64          `cbor:"3,keyasint,omitempty"` // author's time, unix milliseconds
	Body   cbor.RawMessage `cbor:"4,keyasint"`
	Sigs   []Sig           `cbor:"5,keyasint,omitempty"`
}

// Sig is one signature over a record ID, a checkpoint vote or a witness statement.
type Sig struct {
	Signer KeyID  `cbor:"1,keyasint" json:"signer"`
	Sig    []byte `cbor:"2,keyasint" json:"sig"`
}

// unsignedRecord is Record without Sigs: the bytes the record ID covers.
type unsignedRecord struct {
	Type   RecordType      `cbor:"1,keyasint"`
	Author KeyID           `cbor:"2,keyasint"`
	At     uint64          `cbor:"3,keyasint,omitempty"`
	Body   cbor.RawMessage `cbor:"4,keyasint"`
}

// NewRecord builds an unsigned record from a typed body.
func NewRecord(author KeyID, at uint64, body Body) Record {
	return Record{Type: body.RecordType(), Author: author, At: at, Body: encode(body)}
}

// ID returns the record ID: SHA-256("jaminan/v1/record" || 0x00 || canonical bytes without Sigs).
func (r *Record) ID() Hash {
	var buf [512]byte
	return taggedHash(tagRecord, appendRecord(buf[:0], r, false))
}

// Encode returns the canonical bytes of the whole record, signatures included.
func (r *Record) Encode() []byte { return appendRecord(make([]byte, 0, 64+len(r.Body)), r, true) }

// recordSigMessage is what a record signature covers: the network name binds it to one network.
func recordSigMessage(network string, id Hash) []byte {
	return taggedMessage(tagRecordSig, []byte(network), []byte{0}, id[:])
}

// Sign adds s's signature over the record ID for network.
func (r *Record) Sign(network string, s *Signer) {
	id := r.ID()
	r.Sigs = append(r.Sigs, Sig{Signer: s.ID(), Sig: s.sign(recordSigMessage(network, id))})
	sortSigs(r.Sigs)
}

// VerifySigs checks every signature on the record and returns the set of valid, distinct signers.
// Any invalid or duplicated signature fails the whole record.
func (r *Record) VerifySigs(network string) (map[KeyID]bool, error) {
	if len(r.Sigs) > MaxRecordSigs {
		return nil, fmt.Errorf("%w: %d signatures", ErrSignature, len(r.Sigs))
	}
	if len(r.Sigs) == 0 {
		return nil, nil
	}
	id := r.ID()
	msg := recordSigMessage(network, id)
	signers := make(map[KeyID]bool, len(r.Sigs))
	for _, s := range r.Sigs {
		if signers[s.Signer] {
			return nil, fmt.Errorf("%w: duplicate signer %s", ErrSignature, s.Signer.Short())
		}
		if err := verifySig(s.Signer, msg, s.Sig); err != nil {
			return nil, err
		}
		signers[s.Signer] = true
	}
	return signers, nil
}

// DecodeRecord decodes a record envelope and its typed body from untrusted bytes. Both must be in
// canonical form and within size limits.
func DecodeRecord(b []byte) (Record, Body, error) {
	if r, k, ok := decodeRecordFast(b); ok {
		return r, k, nil
	}
	if r, k, ok := decodeEmploymentFast(b, nil); ok {
		return r, k, nil
	}
	return decodeRecordGeneral(b)
}

// decodeRecordGeneral is DecodeRecord for every record type, through the reflection decoder.
func decodeRecordGeneral(b []byte) (Record, Body, error) {
	var r Record
	if len(b) > MaxRecordSize {
		return r, nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrEncoding, len(b), MaxRecordSize)
	}
	if err := decodeCanonical(b, &r); err != nil {
		return r, nil, fmt.Errorf("decode record: %w", err)
	}
	if len(r.Sigs) > MaxRecordSigs {
		return r, nil, fmt.Errorf("decode record: %w: %d signatures", ErrEncoding, len(r.Sigs))
	}
	if !sigsSorted(r.Sigs) {
		return r, nil, fmt.Errorf("decode record: %w: signatures not sorted by signer", ErrEncoding)
	}
	body, err := DecodeBody(r.Type, r.Body)
	if err != nil {
		return r, nil, fmt.Errorf("decode record: %w", err)
	}
	return r, body, nil
}

// DecodeBody decodes the typed body of a record type.
func DecodeBody(t RecordType, b []byte) (Body, error) {
	mk, ok := bodyTypes[t]
	if !ok {
		return nil, fmt.Errorf("%w: unknown record type %q", ErrEncoding, truncate(string(t)))
	}
	body := mk()
	if err := decodeCanonical(b, body); err != nil {
		return nil, err
	}
	return body, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
