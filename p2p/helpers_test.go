package p2p

import (
	"bufio"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/jaminan/jaminan/ledger"
)

// unsafeAppend stores checkpoints without any check (tests that need a lying server).
func (m *MemorySource) unsafeAppend(cbs []*ledger.CheckpointBody, certs []*ledger.Certificate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range cbs {
		m.cps = append(m.cps, memCheckpoint{body: cbs[i], cert: certs[i], hash: cbs[i].Checkpoint.Hash()})
	}
}

// statusOnly is a sync handler that answers status requests and refuses every other.
func (n *Node) statusOnly(s network.Stream) {
	defer s.Close()
	br := bufio.NewReader(s)
	frame, err := readFrame(br, MaxMessageSize)
	if err != nil {
		s.Reset()
		return
	}
	req, err := decodeRequest(frame)
	if err != nil {
		s.Reset()
		return
	}
	w := bufio.NewWriter(s)
	defer w.Flush()
	if req.Type == reqStatus {
		_ = n.serve(w, req)
		return
	}
	_ = writeFrame(w, encodeResponse(&response{Type: respError, Code: codeUnavailable, Text: "status only"}))
}
