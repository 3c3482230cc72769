package consensus

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/jaminan/jaminan/ledger"
)

// ErrEvidence is returned (wrapped) for evidence bytes that do not decode or do not prove what
// they claim.
var ErrEvidence = errors.New("invalid evidence")

// EvidenceKind says what an Evidence proves.
type EvidenceKind uint8

const (
	// EvidenceEquivocation: one ministry key signed finality votes for two different
	// (checkpoint, state root) pairs at one sequence. Votes holds both, ordered by encoding.
	EvidenceEquivocation EvidenceKind = 1
	// EvidenceRootMismatch: a ministry key signed a state root that differs from the one a
	// ministry majority certified for the same checkpoint. Votes holds the vote, Cert the
	// certificate. Checking it needs the ministry set in force at the checkpoint.
	EvidenceRootMismatch EvidenceKind = 2
	// EvidenceDoubleBlock: a producer signed two different blocks at one height. Blocks holds
	// both headers with their signatures, ordered by block hash.
	EvidenceDoubleBlock EvidenceKind = 3
)

func (k EvidenceKind) String() string {
	switch k {
	case EvidenceEquivocation:
		return "equivocation"
	case EvidenceRootMismatch:
		return "root_mismatch"
	case EvidenceDoubleBlock:
		return "double_block"
	}
	return fmt.Sprintf("EvidenceKind(%d)", uint8(k))
}

// SignedHeader is a block header with its producer's signature: enough to prove what the
// producer signed without the records.
type SignedHeader struct {
	Header ledger.BlockHeader `cbor:"1,keyasint" json:"header"`
	Sig    []byte             `cbor:"2,keyasint" json:"sig"`
}

// Evidence is a pair of signed items that together prove misbehaviour of one key.
//
// Encoding, version 1: one version byte 0x01, then the canonical CBOR (RFC 8949 §4.2.1, as the
// ledger uses) of this struct, a map with integer keys; absent fields are omitted. The decoder
// re-encodes and refuses bytes that are not exactly canonical, so evidence has one byte form and
// its hash (Evidence.ID) names it.
type Evidence struct {
	Kind   EvidenceKind        `cbor:"1,keyasint" json:"kind"`
	Votes  []ledger.Vote       `cbor:"2,keyasint,omitempty" json:"votes,omitempty"`
	Cert   *ledger.Certificate `cbor:"3,keyasint,omitempty" json:"cert,omitempty"`
	Blocks []SignedHeader      `cbor:"4,keyasint,omitempty" json:"blocks,omitempty"`
}

const (
	evidenceVersion byte = 1
	maxEvidenceSize      = 32 << 10
)

var (
	evEnc cbor.EncMode
	evDec cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	var err error
	if evEnc, err = eo.EncMode(); err != nil {
		panic(err)
	}
	do := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   16,
		MaxArrayElements:  128,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
	}
	if evDec, err = do.DecMode(); err != nil {
		panic(err)
	}
}

// Encode returns the canonical bytes.
func (e *Evidence) Encode() []byte {
	b, err := evEnc.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("consensus: encode evidence: %v", err)) // plain structs always encode
	}
	return append([]byte{evidenceVersion}, b...)
}

// ID is the SHA-256 of the encoding.
func (e *Evidence) ID() ledger.Hash { return sha256.Sum256(e.Encode()) }

// DecodeEvidence decodes untrusted bytes and checks the shape of the evidence (not its
// signatures: see Verify).
func DecodeEvidence(b []byte) (*Evidence, error) {
	if len(b) < 1 || len(b) > maxEvidenceSize {
		return nil, fmt.Errorf("decode evidence: %w: %d bytes", ErrEvidence, len(b))
	}
	if b[0] != evidenceVersion {
		return nil, fmt.Errorf("decode evidence: %w: version %d", ErrEvidence, b[0])
	}
	var e Evidence
	if err := evDec.Unmarshal(b[1:], &e); err != nil {
		return nil, fmt.Errorf("decode evidence: %w: %v", ErrEvidence, err)
	}
	if re := e.Encode(); !bytes.Equal(re, b) {
		return nil, fmt.Errorf("decode evidence: %w: not canonical", ErrEvidence)
	}
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("decode evidence: %w", err)
	}
	return &e, nil
}

func (e *Evidence) checkShape() error {
	switch e.Kind {
	case EvidenceEquivocation:
		if len(e.Votes) != 2 || e.Cert != nil || len(e.Blocks) != 0 {
			return fmt.Errorf("%w: equivocation needs exactly two votes", ErrEvidence)
		}
		a, b := &e.Votes[0], &e.Votes[1]
		if a.Sig.Signer != b.Sig.Signer || a.Seq != b.Seq {
			return fmt.Errorf("%w: equivocation votes by different signers or sequences", ErrEvidence)
		}
		if a.Checkpoint == b.Checkpoint && a.StateRoot == b.StateRoot {
			return fmt.Errorf("%w: equivocation votes agree", ErrEvidence)
		}
		if bytes.Compare(encodeVote(a), encodeVote(b)) >= 0 {
			return fmt.Errorf("%w: equivocation votes not in canonical order", ErrEvidence)
		}
	case EvidenceRootMismatch:
		if len(e.Votes) != 1 || e.Cert == nil || len(e.Blocks) != 0 {
			return fmt.Errorf("%w: root mismatch needs one vote and a certificate", ErrEvidence)
		}
		v := &e.Votes[0]
		if v.Seq != e.Cert.Seq || v.Checkpoint != e.Cert.Checkpoint || v.StateRoot == e.Cert.StateRoot {
			return fmt.Errorf("%w: the vote does not contradict the certificate", ErrEvidence)
		}
	case EvidenceDoubleBlock:
		if len(e.Blocks) != 2 || len(e.Votes) != 0 || e.Cert != nil {
			return fmt.Errorf("%w: double block needs exactly two headers", ErrEvidence)
		}
		a, b := &e.Blocks[0].Header, &e.Blocks[1].Header
		if a.Producer != b.Producer || a.Height != b.Height || a.Network != b.Network {
			return fmt.Errorf("%w: headers by different producers, heights or networks", ErrEvidence)
		}
		ha, hb := a.Hash(), b.Hash()
		if bytes.Compare(ha[:], hb[:]) >= 0 {
			return fmt.Errorf("%w: headers equal or not ordered by hash", ErrEvidence)
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrEvidence, e.Kind)
	}
	return nil
}

// Verify checks the signatures of the evidence. ministry is the ministry set in force at the
// checkpoint; it is needed only for EvidenceRootMismatch (the certificate's majority, and the
// vote's signer must be a member).
func (e *Evidence) Verify(network string, ministry []ledger.KeyID) error {
	if err := e.checkShape(); err != nil {
		return err
	}
	switch e.Kind {
	case EvidenceEquivocation:
		for i := range e.Votes {
			if err := ledger.VerifyVote(network, &e.Votes[i]); err != nil {
				return fmt.Errorf("%w: vote %d: %w", ErrEvidence, i, err)
			}
		}
	case EvidenceRootMismatch:
		v := &e.Votes[0]
		if !slices.Contains(ministry, v.Sig.Signer) {
			return fmt.Errorf("%w: vote signer is not in the ministry set", ErrEvidence)
		}
		if err := ledger.VerifyVote(network, v); err != nil {
			return fmt.Errorf("%w: vote: %w", ErrEvidence, err)
		}
		if err := e.Cert.Verify(network, ministry); err != nil {
			return fmt.Errorf("%w: certificate: %w", ErrEvidence, err)
		}
	case EvidenceDoubleBlock:
		for i := range e.Blocks {
			if err := verifyHeaderSig(network, &e.Blocks[i]); err != nil {
				return fmt.Errorf("%w: header %d: %w", ErrEvidence, i, err)
			}
		}
	}
	return nil
}

// Offender returns the key the evidence accuses.
func (e *Evidence) Offender() ledger.KeyID {
	switch {
	case len(e.Votes) > 0:
		return e.Votes[0].Sig.Signer
	case len(e.Blocks) > 0:
		return e.Blocks[0].Header.Producer
	}
	return ""
}

// blockSigTag is the block signature domain of the wire format (docs/wire.md): a producer signs
// "jaminan/v1/block-sig" || 0x00 || block hash.
const blockSigTag = "jaminan/v1/block-sig"

func verifyHeaderSig(network string, s *SignedHeader) error {
	if s.Header.Network != network {
		return fmt.Errorf("network %q, want %q", s.Header.Network, network)
	}
	pub, err := s.Header.Producer.PublicKey()
	if err != nil {
		return err
	}
	h := s.Header.Hash()
	msg := append(append([]byte(blockSigTag), 0), h[:]...)
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, s.Sig) {
		return fmt.Errorf("%w: block %s by %s", ledger.ErrSignature, h.String()[:12], s.Header.Producer.Short())
	}
	return nil
}

// encodeVote returns the canonical CBOR of a vote, to order the two votes of an equivocation.
func encodeVote(v *ledger.Vote) []byte {
	b, err := evEnc.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("consensus: encode vote: %v", err))
	}
	return b
}

// newEquivocation builds the evidence of two conflicting votes by one signer at one sequence.
func newEquivocation(a, b ledger.Vote) *Evidence {
	if bytes.Compare(encodeVote(&a), encodeVote(&b)) > 0 {
		a, b = b, a
	}
	return &Evidence{Kind: EvidenceEquivocation, Votes: []ledger.Vote{a, b}}
}

// newDoubleBlock builds the evidence of two signed headers at one height.
func newDoubleBlock(a, b SignedHeader) *Evidence {
	ha, hb := a.Header.Hash(), b.Header.Hash()
	if bytes.Compare(ha[:], hb[:]) > 0 {
		a, b = b, a
	}
	return &Evidence{Kind: EvidenceDoubleBlock, Blocks: []SignedHeader{a, b}}
}

// NewDoubleBlockEvidence builds the evidence of a producer that signed two different blocks at
// one height, as the network layer detects it; nil if the blocks do not show that.
func NewDoubleBlockEvidence(a, b *ledger.Block) *Evidence {
	if a == nil || b == nil || a.Header.Producer != b.Header.Producer || a.Header.Height != b.Header.Height || a.Hash() == b.Hash() {
		return nil
	}
	return newDoubleBlock(SignedHeader{Header: a.Header, Sig: a.Sig}, SignedHeader{Header: b.Header, Sig: b.Sig})
}

// maxEvidence bounds the evidence a node keeps in memory.
const maxEvidence = 1024

// EvidenceLog keeps evidence in memory, each item once, the oldest dropped past a bound. The
// node's API lists it.
type EvidenceLog struct {
	mon *Monitor

	mu    sync.Mutex
	items []*Evidence
	ids   map[ledger.Hash]bool
}

// NewEvidenceLog returns an empty log that reports additions to mon (may be nil).
func NewEvidenceLog(mon *Monitor) *EvidenceLog {
	return &EvidenceLog{mon: mon, ids: map[ledger.Hash]bool{}}
}

// Add records e and reports whether it was new.
func (l *EvidenceLog) Add(e *Evidence) bool {
	id := e.ID()
	l.mu.Lock()
	if l.ids[id] {
		l.mu.Unlock()
		return false
	}
	l.ids[id] = true
	l.items = append(l.items, e)
	if len(l.items) > maxEvidence {
		delete(l.ids, l.items[0].ID())
		l.items = slices.Delete(l.items, 0, 1)
	}
	l.mu.Unlock()
	if l.mon != nil {
		l.mon.evidence.WithLabelValues(e.Kind.String()).Inc()
	}
	return true
}

// List returns the evidence recorded, oldest first.
func (l *EvidenceLog) List() []*Evidence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}
