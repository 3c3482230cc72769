package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// Fast join (DESIGN.md §4 "Snapshots"): ministry nodes export the state every few hundred
// checkpoints and sign a snapshot attestation of it; a node that starts empty fetches the latest
// attestation, verifies it against the ministry set, streams the snapshot from a peer into its
// store and syncs only the checkpoints after it.

// SnapshotFile is an open snapshot file a node serves.
type SnapshotFile interface {
	io.ReaderAt
	io.Closer
}

// SnapshotSource is implemented by a Source that serves state snapshots (ministry nodes).
type SnapshotSource interface {
	// LatestAttestation returns the latest complete snapshot attestation whose snapshot file
	// the node holds, or ErrNotFound.
	LatestAttestation() (*ledger.SnapshotAttestation, error)
	// OpenSnapshot opens the snapshot file at checkpoint seq and returns its size, or
	// ErrNotFound.
	OpenSnapshot(seq uint64) (SnapshotFile, int64, error)
}

// SnapshotSink is implemented by a Sink that takes snapshot attestation shares (ministry nodes
// aggregate them) and can import a snapshot (a node that joins from one).
type SnapshotSink interface {
	// PutSnapshotShare hands over one ministry member's signature of a snapshot attestation,
	// verified (the signature, the signer's ministry role in the registry).
	PutSnapshotShare(a *ledger.SnapshotAttestation) error
	// ImportSnapshot replaces the node's state with the snapshot read from r, which a
	// (verified against the ministry set) attests. It must read r to its end, check the stream
	// against a, and leave the node as it was on any error; an error that says the stream's
	// content is wrong must wrap ErrBadSnapshot, so the peer that served it is penalised.
	ImportSnapshot(r io.Reader, a *ledger.SnapshotAttestation) error
}

// BaseSource is implemented by a Source whose history may start at an imported snapshot. Base
// returns the checkpoint the history starts after (sequence, hash, time; 0 for a history from
// the genesis): the node holds no body of it, and sync chains the next checkpoint to it.
type BaseSource interface {
	Base() (seq uint64, checkpoint ledger.Hash, time uint64, err error)
}

// ErrBadSnapshot is returned (wrapped) by SnapshotSink.ImportSnapshot when the stream does not
// hold what the attestation says: the peer that served it is penalised.
var ErrBadSnapshot = errors.New("bad snapshot")

// ErrNoSnapshot is returned (wrapped) by a join from a snapshot when no peer offers a verified
// snapshot attestation.
var ErrNoSnapshot = errors.New("no snapshot offered")

// errImportEnded is what a fetcher writing into the pipe gets once the importer has stopped.
var errImportEnded = errors.New("the importer stopped reading")

// maxSnapshotServing bounds the snapshot streams a node serves at once (each reads a large file
// from disk); a client that finds a server busy tries another one.
const maxSnapshotServing = 2

// kindShare is the envelope byte of a snapshot attestation share on the snapshots topic.
const kindShare byte = 0x04

// maxShareMessage bounds a share message: one envelope byte and an attestation with one
// signature (about 250 bytes), with room to spare.
const maxShareMessage = 1 + 2048

// latestAttestation returns what the source serves as its latest attestation.
func (n *Node) latestAttestation() (*ledger.SnapshotAttestation, error) {
	ss, ok := n.src.(SnapshotSource)
	if !ok {
		return nil, fmt.Errorf("snapshot attestation: %w", ErrNotFound)
	}
	return ss.LatestAttestation()
}

// serveSnapshot sends the bytes of the snapshot file at req.Seq from req.Offset, up to the
// response budget. A non-zero code asks for an error frame instead.
func (n *Node) serveSnapshot(send func(*response) error, full func() bool, req *request) (uint64, error) {
	ss, ok := n.src.(SnapshotSource)
	if !ok {
		return codeUnavailable, fmt.Errorf("snapshot %d: this node serves no snapshots", req.Seq)
	}
	select {
	case n.snapServing <- struct{}{}:
		defer func() { <-n.snapServing }()
	default:
		return codeUnavailable, fmt.Errorf("snapshot %d: busy serving other snapshots", req.Seq)
	}
	f, size, err := ss.OpenSnapshot(req.Seq)
	if errors.Is(err, ErrNotFound) {
		return codeUnavailable, fmt.Errorf("snapshot %d: %w", req.Seq, err)
	}
	if err != nil {
		return codeInternal, fmt.Errorf("open snapshot %d: %w", req.Seq, err)
	}
	defer f.Close()
	switch {
	case size <= 0 || uint64(size) > MaxSnapshotBytes:
		return codeInternal, fmt.Errorf("snapshot %d: file of %d bytes", req.Seq, size)
	case req.Offset > uint64(size):
		return codeBadRequest, fmt.Errorf("snapshot %d: offset %d beyond its %d bytes", req.Seq, req.Offset, size)
	}
	buf := make([]byte, maxSnapshotFrame)
	for off := int64(req.Offset); off < size && !full(); {
		k := min(size-off, maxSnapshotFrame)
		if _, err := f.ReadAt(buf[:k], off); err != nil {
			return 0, fmt.Errorf("read snapshot %d at %d: %w", req.Seq, off, err)
		}
		if err := send(&response{Type: respSnapData, Size: uint64(size), Data: buf[:k]}); err != nil {
			return 0, err
		}
		n.metrics.served.WithLabelValues("snapshot_bytes").Add(float64(k))
		off += k
	}
	return 0, nil
}

// fetchAttestation asks p for its latest snapshot attestation and verifies it against the
// ministry set in force at its checkpoint (Config.Ministry), or, when that set does not verify
// it and Config.Genesis is set, against the set that p's proofs of the changes since genesis
// give (fetchMinistry). It returns ErrNotFound if p has none.
func (n *Node) fetchAttestation(ctx context.Context, p peer.ID) (*ledger.SnapshotAttestation, error) {
	var a, unknownSet *ledger.SnapshotAttestation
	var firstErr error
	err := n.request(ctx, p, &request{Type: reqAttestation}, func(r *response) error {
		if a != nil || unknownSet != nil {
			return fmt.Errorf("%w: two attestations", ErrProtocol)
		}
		got, err := ledger.DecodeSnapshotAttestation(r.Attestation)
		if err != nil {
			return err
		}
		if got.Seq == 0 {
			return fmt.Errorf("%w: snapshot attestation at seq 0", errWrongItem)
		}
		ministry, err := n.cfg.Ministry(got.Seq)
		if err != nil {
			return fmt.Errorf("ministry set at %d: %w", got.Seq, err)
		}
		if err := got.Verify(n.cfg.Network, ministry); err != nil {
			err = fmt.Errorf("snapshot attestation at %d: %w", got.Seq, err)
			if n.cfg.Genesis == nil {
				return err
			}
			unknownSet, firstErr = got, err // perhaps signed by a later set: ask for the changes
			return nil
		}
		a = got
		return nil
	})
	if err != nil {
		return nil, err
	}
	if unknownSet != nil {
		ministry, err := n.fetchMinistry(ctx, p, unknownSet.Seq)
		if err == nil {
			if err = unknownSet.Verify(n.cfg.Network, ministry); err != nil {
				err = fmt.Errorf("against the ministry set its changes prove: %w", err)
			}
		}
		if err != nil {
			// An attestation that verifies against no set p can prove is penalised as one that
			// failed verification was before changes could be proved (a broken answer to 0x08
			// has cost p its own penalty already).
			err = fmt.Errorf("%w (%w)", firstErr, err)
			if ctx.Err() == nil {
				n.penalise(p, penaltyInvalid, "invalid_item", err)
			}
			return nil, err
		}
		a = unknownSet
	}
	if a == nil {
		return nil, fmt.Errorf("snapshot attestation from %s: %w", p, ErrNotFound)
	}
	return a, nil
}

// fetchMinistry asks p for the proofs of the changes of the ministry set up to checkpoint seq,
// verifies them from the genesis (ledger.NewMinistryHistory) and returns the set that certifies
// seq. The attestation names no time: the set is taken at the time of the last change before
// seq, which is when it last changed (a member's validity window ending since is not seen).
func (n *Node) fetchMinistry(ctx context.Context, p peer.ID, seq uint64) ([]ledger.KeyID, error) {
	var proofs []ledger.RecordProof
	err := n.request(ctx, p, &request{Type: reqMinistry, Seq: seq}, func(r *response) error {
		if len(proofs) == ledger.MaxMinistryChanges {
			return fmt.Errorf("%w: more than %d ministry changes", ErrProtocol, ledger.MaxMinistryChanges)
		}
		pr, err := ledger.DecodeRecordProof(r.Change)
		if err != nil {
			return err
		}
		proofs = append(proofs, *pr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h, err := ledger.NewMinistryHistory(n.cfg.Genesis, proofs)
	if err != nil {
		return nil, fmt.Errorf("ministry changes from %s: %w", p, err)
	}
	var t uint64
	for i := range proofs {
		if proofs[i].Checkpoint.Seq < seq {
			t = proofs[i].Checkpoint.Time
		}
	}
	if t == 0 {
		return nil, fmt.Errorf("ministry changes from %s: none before checkpoint %d", p, seq)
	}
	return h.Set(seq, t), nil
}

// MinistrySource is implemented by a Source that proves the changes of the ministry set since
// genesis, for nodes that join from a snapshot attested by a later set.
type MinistrySource interface {
	// MinistryChanges returns the canonical ledger.RecordProofs of the accepted governance
	// records that changed the ministry set in checkpoints up to seq, in ledger order; ErrNotFound
	// if the source cannot prove them all (its history starts later).
	MinistryChanges(seq uint64) ([][]byte, error)
}

// fetchSnapshot streams the snapshot file at seq from p to w, request after request (each
// bounded by MaxResponseBytes and StreamTimeout), resuming at the byte it has. The server's
// frames must agree on the file's size and bring bytes; how the bytes are checked is w's
// business (the store reads them as a snapshot stream).
func (n *Node) fetchSnapshot(ctx context.Context, p peer.ID, seq uint64, w io.Writer) (int64, error) {
	var off, size uint64
	known := false
	for !known || off < size {
		before := off
		err := n.request(ctx, p, &request{Type: reqSnapshot, Seq: seq, Offset: off}, func(r *response) error {
			switch {
			case !known:
				known, size = true, r.Size
			case r.Size != size:
				return fmt.Errorf("%w: snapshot size %d, earlier %d", ErrProtocol, r.Size, size)
			}
			if off+uint64(len(r.Data)) > size {
				return fmt.Errorf("%w: snapshot data beyond its size %d", ErrProtocol, size)
			}
			if _, err := w.Write(r.Data); err != nil {
				return fmt.Errorf("snapshot %d: hand over bytes: %w", seq, err)
			}
			off += uint64(len(r.Data))
			return nil
		})
		if err != nil {
			return int64(off), err
		}
		if off == before {
			n.penalise(p, penaltyMalformed, "malformed_response", fmt.Errorf("%w: snapshot response without data", ErrProtocol))
			return int64(off), fmt.Errorf("snapshot %d from %s: %w: a response without data at byte %d", seq, p, ErrProtocol, off)
		}
	}
	return int64(off), nil
}

// joinFromSnapshot asks the peers for their latest snapshot attestation, takes the highest one
// that verifies against the ministry set, and streams its snapshot from a peer that offers it
// into the sink (SnapshotSink.ImportSnapshot), trying the next such peer on any failure. A peer
// whose stream the sink finds wrong (ErrBadSnapshot) is penalised. It returns the attestation
// imported, ErrNoSnapshot if no peer offers one, or the last error. Only the syncer's goroutine
// calls it: nothing else syncs while the node is joining.
func (n *Node) joinFromSnapshot(ctx context.Context, peers []peer.ID) (*ledger.SnapshotAttestation, error) {
	sink, ok := n.sink.(SnapshotSink)
	if !ok {
		return nil, errors.New("join from snapshot: the node cannot import snapshots")
	}
	type offer struct {
		p peer.ID
		a *ledger.SnapshotAttestation
	}
	var (
		wg  sync.WaitGroup
		got = make([]*ledger.SnapshotAttestation, len(peers)) // in the caller's order of preference
		sem = make(chan struct{}, statusConcurrency)
	)
	for i, p := range peers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := n.fetchAttestation(ctx, p)
			if err != nil {
				n.log.Debug("snapshot attestation", "peer", p, "err", err)
				return
			}
			got[i] = a
		}()
	}
	wg.Wait()
	var offers []offer
	for i, a := range got {
		if a != nil {
			offers = append(offers, offer{peers[i], a})
		}
	}
	if len(offers) == 0 {
		return nil, fmt.Errorf("join from snapshot: %w by %d peers", ErrNoSnapshot, len(peers))
	}
	// The highest attested checkpoint; the peers that offer exactly that attestation's content.
	slices.SortStableFunc(offers, func(x, y offer) int {
		switch {
		case x.a.Seq > y.a.Seq:
			return -1
		case x.a.Seq < y.a.Seq:
			return 1
		}
		return 0
	})
	best := offers[0].a
	var errs []error
	for _, o := range offers {
		if o.a.Seq != best.Seq || o.a.Checkpoint != best.Checkpoint || o.a.Digest != best.Digest ||
			o.a.StateRoot != best.StateRoot || o.a.Keys != best.Keys {
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("join from snapshot: %w", ctx.Err())
		}
		err := n.importFrom(ctx, sink, o.p, best)
		if err == nil {
			n.metrics.delivered.WithLabelValues("snapshot", viaSync).Inc()
			return best, nil
		}
		n.log.Warn("join from snapshot: peer failed", "peer", o.p, "seq", best.Seq, "err", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("join from snapshot at %d: %w", best.Seq, errors.Join(errs...))
}

// importFrom streams the snapshot best attests from p straight into the sink through a pipe:
// nothing holds the whole snapshot in memory.
func (n *Node) importFrom(ctx context.Context, sink SnapshotSink, p peer.ID, a *ledger.SnapshotAttestation) error {
	pr, pw := io.Pipe()
	fetched := make(chan error, 1)
	go func() {
		_, err := n.fetchSnapshot(ctx, p, a.Seq, pw)
		pw.CloseWithError(err) // nil: the importer reads io.EOF after the last byte
		fetched <- err
	}()
	ierr := sink.ImportSnapshot(pr, a)
	// An importer that stopped early (it found the stream wrong) unblocks the fetcher.
	pr.CloseWithError(errImportEnded)
	ferr := <-fetched
	switch {
	case ierr == nil:
		return nil
	case ferr != nil:
		return fmt.Errorf("snapshot %d from %s: %w", a.Seq, p, ferr) // penalised by the fetch if it was the peer's doing
	case errors.Is(ierr, ErrBadSnapshot):
		n.penalise(p, penaltyInvalid, "invalid_snapshot", ierr)
	}
	return fmt.Errorf("snapshot %d from %s: %w", a.Seq, p, ierr)
}

// PublishSnapshotShare gossips this node's signature of a snapshot attestation (a has exactly
// one signature) on the snapshots topic.
func (n *Node) PublishSnapshotShare(ctx context.Context, a *ledger.SnapshotAttestation) error {
	if len(a.Sigs) != 1 {
		return fmt.Errorf("publish snapshot share %d: %d signatures, want 1", a.Seq, len(a.Sigs))
	}
	if err := n.snapshots.Publish(ctx, encodeShareMessage(a)); err != nil {
		return fmt.Errorf("publish snapshot share %d: %w", a.Seq, err)
	}
	return nil
}

// shareValidator is the snapshots topic's pubsub validator.
func (n *Node) shareValidator(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if n.validateOff {
		return pubsub.ValidationAccept
	}
	v, a := n.val.validateShare(m.Data)
	n.countVerdict("snapshots", from, v)
	if v.res == pubsub.ValidationAccept {
		m.ValidatorData = a
	}
	return v.res
}

// readShares hands accepted snapshot shares to the sink (ministry nodes aggregate them).
func (n *Node) readShares(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	ss, _ := n.sink.(SnapshotSink)
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		a, ok := m.ValidatorData.(*ledger.SnapshotAttestation)
		if !ok || ss == nil {
			continue
		}
		if err := ss.PutSnapshotShare(a); err != nil {
			n.log.Warn("store snapshot share", "seq", a.Seq, "err", err)
			continue
		}
		n.metrics.delivered.WithLabelValues("snapshot_share", viaGossip).Inc()
	}
}

func encodeShareMessage(a *ledger.SnapshotAttestation) []byte {
	enc := a.Encode()
	return append(append(make([]byte, 0, 1+len(enc)), kindShare), enc...)
}

// validateShare decides on a message of the snapshots topic:
//   - size 2..maxShareMessage, envelope kindShare, a canonical attestation, seq ≥ 1 and exactly
//     one signature, else Reject;
//   - signer a ministry member, else Reject; not active, Ignore;
//   - the signature, else Reject.
func (v *validator) validateShare(data []byte) (verdict, *ledger.SnapshotAttestation) {
	if len(data) < 2 || len(data) > maxShareMessage {
		return reject(errSize), nil
	}
	if data[0] != kindShare {
		return reject(errEnvelope), nil
	}
	a, err := ledger.DecodeSnapshotAttestation(data[1:])
	if err != nil {
		return reject(err), nil
	}
	if a.Seq == 0 || len(a.Sigs) != 1 {
		return reject(fmt.Errorf("%w: snapshot share at %d with %d signatures", ledger.ErrCheckpoint, a.Seq, len(a.Sigs))), nil
	}
	signer := a.Sigs[0].Signer
	if bad := v.checkRole(signer, ledger.RoleMinistry); bad.reason != nil {
		return bad, nil
	}
	// A set of one: its quorum is the one signature.
	if err := a.Verify(v.network, []ledger.KeyID{signer}); err != nil {
		return reject(err), nil
	}
	return accept, a
}

// Joining reports whether the node still waits to decide on a fast join (it syncs nothing else
// meanwhile).
func (n *Node) Joining() bool { return n.syncer.joining.Load() }
