package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// syncService names sync streams for the resource manager.
const syncService = "jaminan.sync"

// handleSync serves one sync request: read one framed request within RequestTimeout, write
// the response frames and a done frame within StreamTimeout, close. A peer that sends garbage,
// an oversized frame or nothing in time is penalised and its stream reset.
func (n *Node) handleSync(s network.Stream) {
	p := s.Conn().RemotePeer()
	if err := s.Scope().SetService(syncService); err != nil {
		n.log.Debug("sync stream refused by resource manager", "peer", p, "err", err)
		s.Reset()
		return
	}
	select {
	case n.serving <- struct{}{}:
		defer func() { <-n.serving }()
	default:
		n.log.Debug("sync stream refused: busy", "peer", p)
		s.Reset()
		return
	}
	start := time.Now()
	_ = s.SetDeadline(start.Add(n.cfg.StreamTimeout))
	_ = s.SetReadDeadline(start.Add(n.cfg.RequestTimeout))
	br := bufio.NewReaderSize(s, 4096)
	frame, err := readFrame(br, MaxMessageSize)
	if err != nil {
		s.Reset()
		n.penaliseRead(p, "read sync request", err)
		return
	}
	req, err := decodeRequest(frame)
	if err != nil {
		s.Reset()
		n.penalise(p, penaltyMalformed, "malformed_request", err)
		return
	}
	// The request is the whole of what a client sends: anything more is a violation, found
	// when the client's half-close does not follow.
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		s.Reset()
		n.penaliseRead(p, "after sync request", errOrTrailing(err))
		return
	}
	w := bufio.NewWriterSize(s, 64<<10)
	if err := n.serve(w, req); err != nil {
		s.Reset()
		n.log.Debug("serve sync request", "peer", p, "request", req.Type, "err", err)
		return
	}
	if err := w.Flush(); err != nil {
		s.Reset()
		return
	}
	_ = s.Close()
}

// errOrTrailing turns "read a byte" into the violation it means.
func errOrTrailing(err error) error {
	if err == nil {
		return fmt.Errorf("%w: bytes after the request", ErrProtocol)
	}
	return err
}

// penaliseRead penalises a peer for a failed read: a deadline is a stall, a protocol error is
// malformed input, a reset or closed connection is nobody's fault we can prove.
func (n *Node) penaliseRead(p peer.ID, what string, err error) {
	switch {
	case errors.Is(err, ErrProtocol):
		n.penalise(p, penaltyMalformed, "malformed_frame", fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, io.EOF):
		n.penalise(p, penaltyMalformed, "truncated", fmt.Errorf("%s: %w", what, err))
	case isTimeout(err):
		n.penalise(p, penaltyStall, "stall", fmt.Errorf("%s: %w", what, err))
	default:
		n.log.Debug(what, "peer", p, "err", err)
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &t) && t.Timeout())
}

// penalise adds sync-misbehaviour points to a peer; at the ban level it is disconnected and
// refused by the gate until the points decay.
func (n *Node) penalise(p peer.ID, points float64, reason string, err error) {
	v := n.pen.add(p, points, time.Now())
	n.metrics.penalised.WithLabelValues(reason).Inc()
	n.log.Warn("peer penalised", "peer", p, "reason", reason, "penalty", v, "err", err)
	if v >= banPenalty {
		n.log.Warn("peer banned", "peer", p, "penalty", v)
		_ = n.host.Network().ClosePeer(p)
	}
}

// serve writes the response to one request.
func (n *Node) serve(w io.Writer, req *request) error {
	count := uint64(0)
	bytes := 0
	send := func(r *response) error {
		b := encodeResponse(r)
		bytes += len(b)
		count++
		return writeFrame(w, b)
	}
	full := func() bool { return bytes >= MaxResponseBytes }
	fail := func(code uint64, err error) error {
		text := err.Error()
		if len(text) > maxErrorText {
			text = text[:maxErrorText]
		}
		return writeFrame(w, encodeResponse(&response{Type: respError, Code: code, Text: text}))
	}
	switch req.Type {
	case reqStatus:
		st, err := n.status()
		if err != nil {
			return fail(codeInternal, err)
		}
		if err := send(&response{Type: respStatus, Status: st}); err != nil {
			return err
		}
	case reqLatest:
		seq, err := n.src.FinalSeq()
		if err != nil {
			return fail(codeInternal, err)
		}
		if seq > 0 {
			if err := n.sendCheckpoint(send, seq); err != nil {
				return err
			}
		}
	case reqCheckpoints:
		final, err := n.src.FinalSeq()
		if err != nil {
			return fail(codeInternal, err)
		}
		to := min(req.To, final, req.From+MaxCheckpointsPerResponse-1)
		for seq := req.From; seq <= to && !full(); seq++ {
			if err := n.sendCheckpoint(send, seq); err != nil {
				if errors.Is(err, ErrNotFound) && count == 0 {
					// A node whose history starts at an imported snapshot lacks the
					// checkpoints before it: not the client's fault, nor the server's.
					return fail(codeUnavailable, err)
				}
				return err
			}
		}
	case reqBlocks:
		for _, h := range req.Hashes {
			if full() {
				break
			}
			b, err := n.src.Block(h)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return fail(codeInternal, err)
			}
			if err := send(&response{Type: respBlock, Block: b.Encode()}); err != nil {
				return err
			}
			n.metrics.served.WithLabelValues("block").Inc()
		}
	case reqAttestation:
		a, err := n.latestAttestation()
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return fail(codeInternal, err)
		default:
			if err := send(&response{Type: respAttest, Attestation: a.Encode()}); err != nil {
				return err
			}
			n.metrics.served.WithLabelValues("attestation").Inc()
		}
	case reqMinistry:
		ms, ok := n.src.(MinistrySource)
		if !ok {
			return fail(codeUnavailable, errors.New("this node does not serve the ministry set's changes"))
		}
		changes, err := ms.MinistryChanges(req.Seq)
		switch {
		case errors.Is(err, ErrNotFound):
			return fail(codeUnavailable, err)
		case err != nil:
			return fail(codeInternal, err)
		case len(changes) > ledger.MaxMinistryChanges:
			return fail(codeUnavailable, fmt.Errorf("%d changes of the ministry set, more than %d", len(changes), ledger.MaxMinistryChanges))
		}
		for _, c := range changes { // all of them: a verifier needs the whole list
			if err := send(&response{Type: respChange, Change: c}); err != nil {
				return err
			}
		}
		n.metrics.served.WithLabelValues("ministry").Inc()
	case reqSnapshot:
		code, err := n.serveSnapshot(send, full, req)
		if err != nil {
			if code != 0 {
				return fail(code, err)
			}
			return err
		}
	case reqProducerBlocks:
		limit := int(min(req.To-req.From+1, MaxBlocksPerResponse))
		bs, err := n.src.ProducerBlocks(req.Producer, req.From, req.To, limit)
		if err != nil {
			return fail(codeInternal, err)
		}
		for _, b := range bs {
			if full() {
				break
			}
			if err := send(&response{Type: respBlock, Block: b.Encode()}); err != nil {
				return err
			}
			n.metrics.served.WithLabelValues("block").Inc()
		}
	}
	return writeFrame(w, encodeResponse(&response{Type: respDone, Count: count}))
}

// sendCheckpoint sends one final checkpoint with its certificate.
func (n *Node) sendCheckpoint(send func(*response) error, seq uint64) error {
	cb, cert, err := n.src.Checkpoint(seq)
	if err != nil {
		return fmt.Errorf("read checkpoint %d: %w", seq, err)
	}
	n.metrics.served.WithLabelValues("checkpoint").Inc()
	return send(&response{Type: respCheckpoint, Checkpoint: cb.Encode(), Certificate: cert.Encode()})
}

// status returns what this node says about itself.
func (n *Node) status() (Status, error) {
	seq, err := n.src.FinalSeq()
	if err != nil {
		return Status{}, fmt.Errorf("final seq: %w", err)
	}
	tips, err := n.src.Tips()
	if err != nil {
		return Status{}, fmt.Errorf("tips: %w", err)
	}
	if len(tips) > maxTips {
		tips = tips[:maxTips]
	}
	return Status{FinalSeq: seq, Tips: tips}, nil
}

// errRefused is returned (wrapped) when a server answers with an error frame.
var errRefused = errors.New("sync request refused")

// request sends one request to p and passes each item frame to each; the exchange is bounded by
// StreamTimeout. A frame that breaks the protocol, or an item each rejects with ErrProtocol or a
// ledger verification error, resets the stream and penalises p.
func (n *Node) request(ctx context.Context, p peer.ID, req *request, each func(*response) error) (err error) {
	name := requestName(req.Type)
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
		}
		n.metrics.syncReqs.WithLabelValues(name, result).Inc()
	}()
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StreamTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithNoDial(ctx, "sync"), p, syncProtocol(n.cfg.Network))
	if err != nil {
		return fmt.Errorf("open sync stream to %s: %w", p, err)
	}
	if err := s.Scope().SetService(syncService); err != nil {
		s.Reset()
		return fmt.Errorf("sync stream to %s: %w", p, err)
	}
	deadline, _ := ctx.Deadline()
	_ = s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := writeFrame(s, encodeRequest(req)); err != nil {
		s.Reset()
		return fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return fmt.Errorf("send %s request to %s: %w", name, p, err)
	}
	br := bufio.NewReaderSize(s, 64<<10)
	var items, total uint64
	for {
		frame, err := readFrame(br, MaxMessageSize)
		if err == nil {
			// A server stops adding items once it has sent MaxResponseBytes.
			if total += uint64(len(frame)); total > MaxResponseBytes+MaxMessageSize {
				err = fmt.Errorf("%w: response exceeds %d bytes", ErrProtocol, MaxResponseBytes)
			}
		}
		if err != nil {
			s.Reset()
			switch {
			case errors.Is(err, io.EOF):
				err = fmt.Errorf("%w: response ends without a done frame", ErrProtocol)
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				// The deadline may surface as a reset (the AfterFunc) rather than a timeout.
				err = fmt.Errorf("read sync response: %w", context.DeadlineExceeded)
			}
			n.penaliseRead(p, "read sync response", err)
			return fmt.Errorf("%s from %s: %w", name, p, err)
		}
		r, err := decodeResponse(frame)
		if err == nil && !allowedResponse(req.Type, r.Type) {
			err = fmt.Errorf("%w: response 0x%02x to request 0x%02x", ErrProtocol, byte(r.Type), byte(req.Type))
		}
		if err != nil {
			s.Reset()
			n.penalise(p, penaltyMalformed, "malformed_response", err)
			return fmt.Errorf("%s from %s: %w", name, p, err)
		}
		switch r.Type {
		case respDone:
			if r.Count != items {
				s.Reset()
				err := fmt.Errorf("%w: done after %d items says %d", ErrProtocol, items, r.Count)
				n.penalise(p, penaltyMalformed, "malformed_response", err)
				return fmt.Errorf("%s from %s: %w", name, p, err)
			}
			_ = s.Close()
			return nil
		case respError:
			_ = s.Close()
			return fmt.Errorf("%s from %s: %w: code %d: %s", name, p, errRefused, r.Code, r.Text)
		}
		items++
		if err := each(r); err != nil {
			s.Reset()
			if errors.Is(err, ErrProtocol) || isVerification(err) {
				n.penalise(p, penaltyInvalid, "invalid_item", err)
			}
			return fmt.Errorf("%s from %s: %w", name, p, err)
		}
	}
}

// isVerification reports whether err says a ledger object failed verification or decoding.
func isVerification(err error) bool {
	return errors.Is(err, ledger.ErrBlock) || errors.Is(err, ledger.ErrCheckpoint) ||
		errors.Is(err, ledger.ErrEncoding) || errors.Is(err, ledger.ErrSignature) || errors.Is(err, errWrongItem)
}

// errWrongItem is returned (wrapped) for a verified item that is not what was asked for.
var errWrongItem = errors.New("item not requested")

// allowedResponse reports whether a response frame type may answer a request type.
func allowedResponse(req, resp msgType) bool {
	switch resp {
	case respDone, respError:
		return true
	case respStatus:
		return req == reqStatus
	case respCheckpoint:
		return req == reqLatest || req == reqCheckpoints
	case respBlock:
		return req == reqBlocks || req == reqProducerBlocks
	case respAttest:
		return req == reqAttestation
	case respChange:
		return req == reqMinistry
	case respSnapData:
		return req == reqSnapshot
	}
	return false
}

func requestName(t msgType) string {
	switch t {
	case reqStatus:
		return "status"
	case reqLatest:
		return "latest"
	case reqCheckpoints:
		return "checkpoints"
	case reqBlocks:
		return "blocks"
	case reqProducerBlocks:
		return "producer_blocks"
	case reqAttestation:
		return "attestation"
	case reqSnapshot:
		return "snapshot"
	case reqMinistry:
		return "ministry"
	}
	return "unknown"
}

// Status asks p for its final seq and producer tips.
func (n *Node) fetchStatus(ctx context.Context, p peer.ID) (Status, error) {
	var st Status
	got := false
	err := n.request(ctx, p, &request{Type: reqStatus}, func(r *response) error {
		if got {
			return fmt.Errorf("%w: two status frames", ErrProtocol)
		}
		got, st = true, r.Status
		return nil
	})
	if err == nil && !got {
		err = fmt.Errorf("status from %s: %w: no status frame", p, ErrProtocol)
	}
	return st, err
}

// decodeCheckpointItem decodes and verifies a checkpoint frame against the checkpoint it must
// follow: body, chain (previous hash, time), certificate for exactly this checkpoint, signed by
// a majority of the ministry set in force.
func (n *Node) decodeCheckpointItem(r *response, seq uint64, prev ledger.Hash, prevTime uint64) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	cb, err := ledger.DecodeCheckpointBody(r.Checkpoint, n.cfg.Network)
	if err != nil {
		return nil, nil, err
	}
	c := &cb.Checkpoint
	if c.Seq != seq {
		return nil, nil, fmt.Errorf("%w: checkpoint %d, asked for %d", errWrongItem, c.Seq, seq)
	}
	if c.Prev != prev {
		return nil, nil, fmt.Errorf("%w: checkpoint %d does not chain to %s", ledger.ErrCheckpoint, seq, prev)
	}
	if c.Time < prevTime {
		return nil, nil, fmt.Errorf("%w: checkpoint %d goes back in time", ledger.ErrCheckpoint, seq)
	}
	cert, err := ledger.DecodeCertificate(r.Certificate)
	if err != nil {
		return nil, nil, err
	}
	if cert.Seq != seq || cert.Checkpoint != c.Hash() {
		return nil, nil, fmt.Errorf("%w: certificate for %d %s, checkpoint %d %s", ledger.ErrCheckpoint, cert.Seq, cert.Checkpoint, seq, c.Hash())
	}
	ministry, err := n.cfg.Ministry(seq)
	if err != nil {
		return nil, nil, fmt.Errorf("ministry set at %d: %w", seq, err)
	}
	if err := cert.Verify(n.cfg.Network, ministry); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, err)
	}
	return cb, cert, nil
}

// decodeBlockItem decodes and verifies a block frame.
func (n *Node) decodeBlockItem(r *response) (*ledger.Block, error) {
	b, err := ledger.DecodeBlock(r.Block)
	if err != nil {
		return nil, err
	}
	if err := b.Verify(n.cfg.Network); err != nil {
		return nil, err
	}
	return b, nil
}
