package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// rawExchange opens a sync stream from c to s, writes raw bytes (and half-closes unless
// stall), and reads until the server ends the stream. It returns what the server sent and
// whether the stream ended by a reset or error rather than a clean close.
func rawExchange(t *testing.T, c, s *tnode, data []byte, halfClose bool) ([]byte, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Host().NewStream(ctx, s.ID(), SyncProtocol(c.cfg.Network))
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer st.Reset()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if len(data) > 0 {
		if _, err := st.Write(data); err != nil {
			return nil, true
		}
	}
	if halfClose {
		_ = st.CloseWrite()
	}
	got, err := io.ReadAll(st)
	return got, err != nil
}

// A sync server closes a stream that sends garbage, an oversized frame, an unknown request,
// trailing bytes or nothing at all, penalises the peer each time, and bans it at the limit;
// it keeps serving others and does not panic.
func TestSyncServerClosesBadStreams(t *testing.T) {
	n := newTnet(t)
	srv, bad, good := n.start(n.ministry[0]), n.start(n.bureaus[0]), n.start(n.bureaus[1])
	n.mesh(srv, bad, good)

	var oversized [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(oversized[:], MaxMessageSize+1)
	status := appendFrame(nil, encodeRequest(&request{Type: reqStatus}))
	cases := []struct {
		name      string
		data      []byte
		halfClose bool
		points    float64
	}{
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true, penaltyMalformed},
		{"oversized frame", append(oversized[:k], make([]byte, 1024)...), false, penaltyMalformed},
		{"unknown request", appendFrame(nil, []byte{0x7e}), true, penaltyMalformed},
		{"trailing bytes", append(status, 0x00), true, penaltyMalformed},
		{"stall", nil, false, penaltyStall},
	}
	want := 0.0
	for _, c := range cases {
		got, reset := rawExchange(t, bad, srv, c.data, c.halfClose)
		if !reset || len(got) != 0 {
			t.Errorf("%s: server answered %d bytes (reset %v), want a reset stream", c.name, len(got), reset)
		}
		want += c.points
		// The client may see the reset before the server has booked the penalty, so wait for it
		// (bounded). Penalties decay (half-life minutes), so the sum is only ever a little below
		// want.
		poll(5*time.Second, func() bool { return srv.Penalty(bad.ID()) >= want*0.99 })
		if p := srv.Penalty(bad.ID()); p < want*0.99 || p > want {
			t.Errorf("%s: penalty %.2f, want %.2f", c.name, p, want)
		}
	}
	// The honest peer is served meanwhile.
	got, reset := rawExchange(t, good, srv, status, true)
	if reset || len(got) == 0 {
		t.Fatalf("honest status request: %d bytes, reset %v", len(got), reset)
	}
	if srv.Penalty(good.ID()) != 0 {
		t.Fatal("the honest peer was penalised")
	}
	// One more violation crosses the ban level: the server drops the peer and refuses it.
	for srv.Penalty(bad.ID()) < banPenalty {
		rawExchange(t, bad, srv, []byte{0x01, 0x7e}, true)
	}
	waitFor(t, 5*time.Second, "banned peer disconnected", func() bool {
		return len(srv.Host().Network().ConnsToPeer(bad.ID())) == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := bad.Host().NewStream(ctx, srv.ID(), SyncProtocol(n.g.Network)); err == nil {
		_, _ = st.Write(status)
		_ = st.CloseWrite()
		if b, err := io.ReadAll(st); err == nil && len(b) > 0 {
			t.Fatal("a banned peer was served")
		}
		st.Reset()
	}
}

func appendFrame(b, payload []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// A sync client penalises a server that answers with garbage, a wrong frame type or nothing
// in time, and stays up.
func TestSyncClientPenalisesBadServers(t *testing.T) {
	n := newTnet(t)
	cases := []struct {
		name   string
		handle func(s network.Stream)
		points float64
	}{
		{"garbage", func(s network.Stream) { s.Write([]byte{0x05, 0xde, 0xad, 0xbe, 0xef, 0x00}); s.Close() }, penaltyMalformed},
		{"wrong frame", func(s network.Stream) {
			s.Write(appendFrame(nil, encodeResponse(&response{Type: respBlock, Block: []byte{1}})))
			s.Close()
		}, penaltyMalformed},
		{"no done frame", func(s network.Stream) {
			s.Write(appendFrame(nil, encodeResponse(&response{Type: respStatus, Status: Status{FinalSeq: 1}})))
			s.Close()
		}, penaltyMalformed},
		{"stall", func(s network.Stream) {
			// Read the request, then say nothing until the client gives up.
			_, _ = io.ReadAll(bufio.NewReader(s))
			buf := make([]byte, 1)
			_, _ = s.Read(buf)
		}, penaltyStall},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := n.start(n.bureaus[i%4], func(cfg *Config) { cfg.StreamTimeout = time.Second; cfg.AntiEntropy = time.Hour })
			evil := n.start(n.ministry[i%3])
			evil.Host().SetStreamHandler(SyncProtocol(n.g.Network), c.handle)
			n.mesh(client, evil)
			waitFor(t, 10*time.Second, "client penalises server", func() bool { return client.Penalty(evil.ID()) >= c.points*0.99 })
			// Still working: a status from itself is well-formed.
			if _, err := client.status(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
