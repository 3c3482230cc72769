package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jaminan/jaminan/ledger"
)

// MaxMessageSize bounds every message this package sends or accepts: a gossip message (one
// envelope byte plus a block of at most ledger.MaxBlockSize) and a sync frame (one block or one
// checkpoint with its certificate, plus framing). It is the gossipsub RPC limit too, so it must be
// the same on every node of a network.
const MaxMessageSize = ledger.MaxBlockSize + 64<<10

// Sync protocol limits. A server never sends more than these in one response; a client asks again
// for the rest, starting after what it already has.
const (
	// MaxCheckpointsPerResponse bounds checkpoints (each with its certificate) per response.
	MaxCheckpointsPerResponse = 256
	// MaxBlocksPerResponse bounds blocks per response.
	MaxBlocksPerResponse = 256
	// MaxHashesPerRequest bounds the block hashes of one blocks-by-hash request.
	MaxHashesPerRequest = 256
	// MaxResponseBytes bounds the payload bytes of one response; a server stops adding items
	// (after at least one) once it is reached.
	MaxResponseBytes = 16 << 20
	// maxTips bounds the producer tips of one status response.
	maxTips = 4096
	// maxKeyIDLen bounds a producer key ID on the wire (an ed25519 ID is 38 bytes).
	maxKeyIDLen = 64
	// maxErrorText bounds the message of an error frame.
	maxErrorText = 256
	// maxAttestation bounds an encoded snapshot attestation (ledger.DecodeSnapshotAttestation
	// takes at most 16 KiB).
	maxAttestation = 16 << 10
	// maxChange bounds an encoded record proof of a ministry change (ledger.DecodeRecordProof's
	// bound).
	maxChange = ledger.MaxRecordSize + 8<<10
	// maxSnapshotFrame bounds the snapshot bytes of one frame.
	maxSnapshotFrame = 1 << 20
	// MaxSnapshotBytes bounds the size of a snapshot file a node serves or fetches.
	MaxSnapshotBytes = 1 << 40
)

// ErrProtocol is returned (wrapped) by the sync codec and client when a peer sends bytes that
// break the sync protocol: a malformed, oversized or unexpected frame. A peer that causes it is
// penalised.
var ErrProtocol = errors.New("sync protocol violation")

// msgType is the first byte of every sync message.
type msgType byte

// Requests (client to server; one per stream) and response frames (server to client).
const (
	reqStatus         msgType = 0x01 // status: final seq and producer tips
	reqLatest         msgType = 0x02 // the latest final checkpoint
	reqCheckpoints    msgType = 0x03 // checkpoints [From, To]
	reqBlocks         msgType = 0x04 // blocks by hash
	reqProducerBlocks msgType = 0x05 // blocks of Producer at heights [From, To]
	reqAttestation    msgType = 0x06 // the latest complete snapshot attestation
	reqSnapshot       msgType = 0x07 // the snapshot file at Seq, from byte Offset
	reqMinistry       msgType = 0x08 // proofs of the changes of the ministry set up to checkpoint Seq

	respStatus     msgType = 0x41
	respCheckpoint msgType = 0x42
	respBlock      msgType = 0x43
	respDone       msgType = 0x44 // the last frame of a complete response
	respError      msgType = 0x45 // the server refuses the request
	respAttest     msgType = 0x46 // a snapshot attestation
	respSnapData   msgType = 0x47 // bytes of a snapshot file, with the file's size
	respChange     msgType = 0x48 // a change of the ministry set: a canonical ledger.RecordProof
)

// Tip is the highest height of a producer's chain that a node holds contiguously from height 1,
// and the hash of the block there.
type Tip struct {
	Producer ledger.KeyID
	Height   uint64
	Hash     ledger.Hash
}

// Status is what a node says about itself in a status response.
type Status struct {
	FinalSeq uint64
	Tips     []Tip
}

// request is one sync request.
type request struct {
	Type     msgType
	From, To uint64        // reqCheckpoints, reqProducerBlocks
	Producer ledger.KeyID  // reqProducerBlocks
	Hashes   []ledger.Hash // reqBlocks
	Seq      uint64        // reqSnapshot: the attested checkpoint of the snapshot (≥ 1); reqMinistry: the checkpoint
	Offset   uint64        // reqSnapshot: the first byte wanted
}

// response is one response frame.
type response struct {
	Type        msgType
	Status      Status // respStatus
	Checkpoint  []byte // respCheckpoint: canonical ledger.CheckpointBody
	Certificate []byte // respCheckpoint: canonical ledger.Certificate
	Block       []byte // respBlock: canonical ledger.Block
	Count       uint64 // respDone: items sent before it
	Code        uint64 // respError
	Text        string // respError
	Attestation []byte // respAttest: canonical ledger.SnapshotAttestation
	Size        uint64 // respSnapData: size of the whole snapshot file
	Data        []byte // respSnapData: 1..maxSnapshotFrame bytes of it
	Change      []byte // respChange: canonical ledger.RecordProof
}

// Error codes of an error frame.
const (
	codeBadRequest  = 1
	codeUnavailable = 2
	codeInternal    = 3
)

// writeFrame writes one uvarint-length-prefixed frame.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > MaxMessageSize {
		return fmt.Errorf("write frame: %d bytes exceeds %d", len(payload), MaxMessageSize)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(payload)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// frameReader is what readFrame needs; *bufio.Reader is one.
type frameReader interface {
	io.Reader
	io.ByteReader
}

// readFrame reads one frame of at most max bytes. io.EOF means a clean end before any byte of a
// frame; a frame that is malformed, truncated or over the limit wraps ErrProtocol; a transport
// failure (reset, deadline) is returned wrapped as it is.
func readFrame(r frameReader, max int) ([]byte, error) {
	var n uint64
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return nil, io.EOF
				}
				return nil, fmt.Errorf("read frame header: %w: truncated", ErrProtocol)
			}
			return nil, fmt.Errorf("read frame header: %w", err)
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			return nil, fmt.Errorf("read frame header: %w: length overflows", ErrProtocol)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if n > uint64(max) {
			return nil, fmt.Errorf("read frame: %w: length exceeds %d", ErrProtocol, max)
		}
		if c < 0x80 {
			break
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("read frame: %w: empty frame", ErrProtocol)
	}
	buf := make([]byte, n)
	if got, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("read frame: %w: truncated at %d of %d bytes", ErrProtocol, got, n)
		}
		return nil, fmt.Errorf("read frame: %w", err)
	}
	return buf, nil
}

// encoder appends fields to a message.
type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) hash(h ledger.Hash) {
	e.b = append(e.b, h[:]...)
}

// decoder reads fields of an untrusted message; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("non-minimal uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], v)
}

// bytes reads a length-prefixed byte string of 1..max bytes (0..max when empty is allowed).
func (d *decoder) bytes(max int, allowEmpty bool) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) || (n == 0 && !allowEmpty) {
		d.fail("byte string of %d bytes (max %d, %d left)", n, max, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) hash() ledger.Hash {
	var h ledger.Hash
	if d.err != nil {
		return h
	}
	if len(d.b) < len(h) {
		d.fail("truncated hash")
		return h
	}
	copy(h[:], d.b)
	d.b = d.b[len(h):]
	return h
}

// count reads an element count and checks it against max and the bytes left (each element
// needs at least minSize bytes), so a decoder never allocates for elements that cannot be there.
func (d *decoder) count(max, minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max) || n*uint64(minSize) > uint64(len(d.b)) {
		d.fail("count %d (max %d, %d bytes left)", n, max, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// encodeRequest returns the canonical bytes of a request.
func encodeRequest(r *request) []byte {
	e := encoder{b: make([]byte, 0, 16+len(r.Producer)+32*len(r.Hashes))}
	e.byte(byte(r.Type))
	switch r.Type {
	case reqCheckpoints:
		e.uvarint(r.From)
		e.uvarint(r.To)
	case reqBlocks:
		e.uvarint(uint64(len(r.Hashes)))
		for _, h := range r.Hashes {
			e.hash(h)
		}
	case reqProducerBlocks:
		e.bytes([]byte(r.Producer))
		e.uvarint(r.From)
		e.uvarint(r.To)
	case reqSnapshot:
		e.uvarint(r.Seq)
		e.uvarint(r.Offset)
	case reqMinistry:
		e.uvarint(r.Seq)
	}
	return e.b
}

// decodeRequest decodes and checks an untrusted request.
func decodeRequest(b []byte) (*request, error) {
	d := decoder{b: b}
	r := &request{Type: msgType(d.byte())}
	switch r.Type {
	case reqStatus, reqLatest, reqAttestation:
	case reqMinistry:
		r.Seq = d.uvarint()
		if d.err == nil && r.Seq == 0 {
			d.fail("ministry changes up to checkpoint 0")
		}
	case reqSnapshot:
		r.Seq, r.Offset = d.uvarint(), d.uvarint()
		if d.err == nil && (r.Seq == 0 || r.Offset > MaxSnapshotBytes) {
			d.fail("snapshot %d from byte %d", r.Seq, r.Offset)
		}
	case reqCheckpoints:
		r.From, r.To = d.uvarint(), d.uvarint()
		if d.err == nil && (r.From == 0 || r.To < r.From) {
			d.fail("checkpoint range [%d, %d]", r.From, r.To)
		}
	case reqBlocks:
		n := d.count(MaxHashesPerRequest, 32)
		if d.err == nil && n == 0 {
			d.fail("no hashes")
		}
		r.Hashes = make([]ledger.Hash, 0, n)
		for i := 0; i < n; i++ {
			r.Hashes = append(r.Hashes, d.hash())
		}
	case reqProducerBlocks:
		r.Producer = ledger.KeyID(d.bytes(maxKeyIDLen, false))
		r.From, r.To = d.uvarint(), d.uvarint()
		if d.err == nil && (r.From == 0 || r.To < r.From) {
			d.fail("height range [%d, %d]", r.From, r.To)
		}
	default:
		d.fail("unknown request type 0x%02x", byte(r.Type))
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	return r, nil
}

// encodeResponse returns the canonical bytes of a response frame.
func encodeResponse(r *response) []byte {
	e := encoder{b: make([]byte, 0, 32+len(r.Checkpoint)+len(r.Certificate)+len(r.Block)+len(r.Attestation)+len(r.Data))}
	e.byte(byte(r.Type))
	switch r.Type {
	case respStatus:
		e.uvarint(r.Status.FinalSeq)
		e.uvarint(uint64(len(r.Status.Tips)))
		for _, t := range r.Status.Tips {
			e.bytes([]byte(t.Producer))
			e.uvarint(t.Height)
			e.hash(t.Hash)
		}
	case respCheckpoint:
		e.bytes(r.Checkpoint)
		e.bytes(r.Certificate)
	case respBlock:
		e.bytes(r.Block)
	case respDone:
		e.uvarint(r.Count)
	case respError:
		e.uvarint(r.Code)
		e.bytes([]byte(r.Text))
	case respAttest:
		e.bytes(r.Attestation)
	case respChange:
		e.bytes(r.Change)
	case respSnapData:
		e.uvarint(r.Size)
		e.bytes(r.Data)
	}
	return e.b
}

// decodeResponse decodes and checks an untrusted response frame. Ledger objects inside stay
// raw bytes here; the client decodes and verifies them with the ledger's decoders.
func decodeResponse(b []byte) (*response, error) {
	d := decoder{b: b}
	r := &response{Type: msgType(d.byte())}
	switch r.Type {
	case respStatus:
		r.Status.FinalSeq = d.uvarint()
		n := d.count(maxTips, 1+1+1+32)
		r.Status.Tips = make([]Tip, 0, n)
		for i := 0; i < n; i++ {
			t := Tip{Producer: ledger.KeyID(d.bytes(maxKeyIDLen, false))}
			t.Height = d.uvarint()
			t.Hash = d.hash()
			r.Status.Tips = append(r.Status.Tips, t)
		}
	case respCheckpoint:
		r.Checkpoint = d.bytes(MaxMessageSize, false)
		r.Certificate = d.bytes(MaxMessageSize, false)
	case respBlock:
		r.Block = d.bytes(MaxMessageSize, false)
	case respDone:
		r.Count = d.uvarint()
	case respError:
		r.Code = d.uvarint()
		r.Text = string(d.bytes(maxErrorText, true))
	case respAttest:
		r.Attestation = d.bytes(maxAttestation, false)
	case respChange:
		r.Change = d.bytes(maxChange, false)
	case respSnapData:
		r.Size = d.uvarint()
		r.Data = d.bytes(maxSnapshotFrame, false)
		if d.err == nil && (r.Size > MaxSnapshotBytes || uint64(len(r.Data)) > r.Size) {
			d.fail("snapshot data of %d bytes in a file of %d", len(r.Data), r.Size)
		}
	default:
		d.fail("unknown response type 0x%02x", byte(r.Type))
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return r, nil
}
