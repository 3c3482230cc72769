package hostile

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/jaminan/jaminan/p2p"
)

// Sync protocol bytes (p2p/DESIGN.md §4): a frame is a uvarint length and that many bytes; a
// request starts with its type byte.
const (
	syncStatus     = 0x01
	syncBlocksHash = 0x04
	syncErrorFrame = 0x45
)

func frame(payload []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(payload))), payload...)
}

// syncGarbage returns payloads that break the sync protocol, each of which a server must
// answer by resetting the stream: random bytes, an overlong uvarint, an unknown request type,
// a status request with bytes after it, a frame cut short, a blocks request promising more
// hashes than it carries, and a response frame sent as a request.
func syncGarbage() [][]byte {
	return [][]byte{
		randBytes(1 + int(randBytes(1)[0])),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		frame([]byte{0x7e}),
		append(frame([]byte{syncStatus}), 0x00),
		frame([]byte{syncStatus, 0x00, 0x00})[:2],
		frame(append([]byte{syncBlocksHash, 0x40}, randBytes(32)...)),
		frame([]byte{syncErrorFrame, 0x01, 0x00}),
	}
}

// oversizedFrame announces a frame one byte beyond the limit and sends a little of it.
func oversizedFrame() []byte {
	return append(binary.AppendUvarint(nil, p2p.MaxMessageSize+1), randBytes(4096)...)
}

// rawSyncExchange opens a stream of proto to p, writes data, half-closes and reads what comes
// back. It reports whether the server answered with anything but an error frame (a reset, a
// close without bytes or an error frame is a refusal), or an error if no stream could be
// opened at all.
func rawSyncExchange(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, data []byte) (answered bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.NewStream(sctx, p, proto)
	if err != nil {
		return false, fmt.Errorf("open %s stream to %s: %w", proto, p, err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(data); err != nil {
		return false, nil
	}
	_ = s.CloseWrite()
	got, _ := io.ReadAll(io.LimitReader(s, 1<<20))
	if len(got) == 0 {
		return false, nil
	}
	// A length-prefixed frame whose payload starts with the error type is a refusal.
	if n, k := binary.Uvarint(got); k > 0 && n > 0 && len(got) > k && got[k] == syncErrorFrame {
		return false, nil
	}
	return true, nil
}
