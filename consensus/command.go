package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jaminan/jaminan/ledger"
)

// ErrCommand is returned (wrapped) by DecodeCommand for bytes that are not a valid command
// envelope of a version and kind this build knows.
var ErrCommand = errors.New("invalid command")

// ErrUnknownCommand is returned (wrapped, together with ErrCommand) for an envelope whose version
// or kind this build does not know. The FSM halts on it unless the kind is ignorable.
var ErrUnknownCommand = errors.New("unknown command version or kind")

// Envelope layout, version 1 (see DESIGN.md "Command envelope"):
//
//	version (1) = 0x01
//	kind    (1)   0x01 batch; kinds with the 0x80 bit set are ignorable by builds that do not know them
//	batch:  time (8, big-endian, unix ms, leader's clock)
//	        flags (1: bit 0 = cut after this batch; other bits must be zero)
//	        count (4, big-endian, at most MaxBatchRefs)
//	        count × ref: producer key ID (38) | height (8, big-endian) | block hash (32)
//
// Every field has a fixed width and every value exactly one encoding, so a decoded-then-encoded
// command equals the original bytes.
const (
	// CommandVersion is the envelope version this build writes.
	CommandVersion byte = 1

	// KindBatch is a batch of block references stamped with the leader's time.
	KindBatch byte = 0x01
	// KindIgnorable marks kinds that an FSM may skip when it does not know them (the kind space
	// 0x80–0xff): a later version can add advisory commands without halting older nodes.
	KindIgnorable byte = 0x80

	flagCut byte = 0x01

	// MaxBatchRefs is the largest number of references in one batch command.
	MaxBatchRefs = 4096

	keyIDLen  = 38
	refLen    = keyIDLen + 8 + 32
	batchHead = 2 + 8 + 1 + 4
)

// Ref names one block to be ordered: its producer, its height in the producer's chain, its hash.
type Ref struct {
	Producer ledger.KeyID
	Height   uint64
	Hash     ledger.Hash
}

// Batch is the only command of envelope version 1: references to order, in order, stamped with
// the leader's time; Cut asks the FSM to cut a checkpoint after adding them.
type Batch struct {
	Time uint64
	Cut  bool
	Refs []Ref
}

// Encode returns the canonical envelope bytes. It fails for a batch that DecodeCommand would
// refuse (too many references, a producer that is not an ed25519 key ID).
func (b *Batch) Encode() ([]byte, error) {
	if len(b.Refs) > MaxBatchRefs {
		return nil, fmt.Errorf("encode batch: %d refs exceed %d", len(b.Refs), MaxBatchRefs)
	}
	out := make([]byte, 0, batchHead+refLen*len(b.Refs))
	out = append(out, CommandVersion, KindBatch)
	out = binary.BigEndian.AppendUint64(out, b.Time)
	var flags byte
	if b.Cut {
		flags |= flagCut
	}
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Refs)))
	for i := range b.Refs {
		r := &b.Refs[i]
		if _, err := r.Producer.PublicKey(); err != nil {
			return nil, fmt.Errorf("encode batch: ref %d: %w", i, err)
		}
		out = append(out, r.Producer...)
		out = binary.BigEndian.AppendUint64(out, r.Height)
		out = append(out, r.Hash[:]...)
	}
	return out, nil
}

// DecodeCommand decodes an envelope from untrusted bytes. It returns the batch, or an error
// wrapping ErrCommand (and ErrUnknownCommand for a version or kind this build does not know,
// with ignorable reporting whether the kind may be skipped).
func DecodeCommand(b []byte) (batch *Batch, ignorable bool, err error) {
	if len(b) < 2 {
		return nil, false, fmt.Errorf("decode command: %w: %d bytes", ErrCommand, len(b))
	}
	if b[0] != CommandVersion {
		return nil, false, fmt.Errorf("decode command: %w: %w: version %d", ErrCommand, ErrUnknownCommand, b[0])
	}
	if b[1] != KindBatch {
		return nil, b[1]&KindIgnorable != 0, fmt.Errorf("decode command: %w: %w: kind %#x", ErrCommand, ErrUnknownCommand, b[1])
	}
	if len(b) < batchHead {
		return nil, false, fmt.Errorf("decode command: %w: batch of %d bytes", ErrCommand, len(b))
	}
	out := &Batch{Time: binary.BigEndian.Uint64(b[2:10])}
	flags := b[10]
	if flags&^flagCut != 0 {
		return nil, false, fmt.Errorf("decode command: %w: unknown flags %#x", ErrCommand, flags)
	}
	out.Cut = flags&flagCut != 0
	n := binary.BigEndian.Uint32(b[11:15])
	if n > MaxBatchRefs {
		return nil, false, fmt.Errorf("decode command: %w: %d refs exceed %d", ErrCommand, n, MaxBatchRefs)
	}
	if len(b) != batchHead+int(n)*refLen {
		return nil, false, fmt.Errorf("decode command: %w: %d bytes for %d refs", ErrCommand, len(b), n)
	}
	if n > 0 {
		out.Refs = make([]Ref, n)
	}
	p := b[batchHead:]
	for i := range out.Refs {
		r := &out.Refs[i]
		r.Producer = ledger.KeyID(p[:keyIDLen])
		if _, err := r.Producer.PublicKey(); err != nil {
			return nil, false, fmt.Errorf("decode command: %w: ref %d: %w", ErrCommand, i, err)
		}
		r.Height = binary.BigEndian.Uint64(p[keyIDLen : keyIDLen+8])
		if r.Height == 0 {
			return nil, false, fmt.Errorf("decode command: %w: ref %d at height 0", ErrCommand, i)
		}
		copy(r.Hash[:], p[keyIDLen+8:refLen])
		p = p[refLen:]
	}
	return out, false, nil
}
