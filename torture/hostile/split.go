package hostile

import (
	"context"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// sendDirect writes one gossipsub RPC publishing data on topic straight to peer p, on a stream
// of its own: unlike Topic.Publish, it reaches that peer only. The frame is gossipsub's (a
// uvarint length and the protobuf RPC).
func (r *rogue) sendDirect(ctx context.Context, p peer.ID, topic string, data []byte) error {
	rpc := &pb.RPC{Publish: []*pb.Message{{Data: data, Topic: &topic}}}
	raw, err := proto.Marshal(rpc)
	if err != nil {
		return fmt.Errorf("encode rpc: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := r.h.NewStream(sctx, p, gossipProtocol(r.network))
	if err != nil {
		return fmt.Errorf("open gossip stream to %s: %w", p, err)
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(raw))), raw...)); err != nil {
		s.Reset()
		return fmt.Errorf("write rpc to %s: %w", p, err)
	}
	// Give the peer a moment to read it before the stream goes away.
	sleep(ctx, 200*time.Millisecond)
	return s.Close()
}

// splitEquivocate signs two blocks at the next height of its own chain and hands one to half of
// its peers and the other to the rest, at the same moment, each straight to the peer: the
// network starts with a split view (some nodes hold one block, some the other), which is what
// an equivocating producer would aim for. Relays carry each block to the other half, where it
// meets its twin and becomes evidence; whichever block gets ordered, every node must end up
// applying the same one.
func (r *rogue) splitEquivocate(ctx context.Context) error {
	peers := r.k.connected()
	if len(peers) < 2 {
		r.c.kind("unsent")
		return nil
	}
	t := nowMS()
	a, err := ledger.BuildBlock(r.s, r.network, r.tip, t, garbageRecords("split a"))
	if err != nil {
		return err
	}
	b, err := ledger.BuildBlock(r.s, r.network, r.tip, t, garbageRecords("split b"))
	if err != nil {
		return err
	}
	mrand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if r.cfg.OnBlock != nil {
		r.cfg.OnBlock(KindSplitEquivocation, a.Hash())
		r.cfg.OnBlock(KindSplitEquivocation, b.Hash())
	}
	ma, mb := encodeBlockMessage(a), encodeBlockMessage(b)
	r.c.sent(KindSplitEquivocation)
	var wg sync.WaitGroup
	errs := make([]error, len(peers))
	for i, p := range peers {
		msg := ma
		if i%2 == 1 {
			msg = mb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.sendDirect(ctx, p, p2p.BlocksTopic(r.network), msg)
		}()
	}
	wg.Wait()
	r.k.redialAll()
	r.tip = &a.Header
	r.mu.Lock()
	r.own = append(r.own, ma)
	r.mu.Unlock()
	for _, err := range errs {
		if err != nil {
			r.c.kind("direct_failed")
			return err
		}
	}
	return nil
}
