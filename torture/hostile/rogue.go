package hostile

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/keyfile"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
)

// RogueConfig configures RunRogue.
type RogueConfig struct {
	// KeyFile is the rogue member's key (keyfile format); its key must be a bureau or ministry
	// member in the genesis, or every node refuses it at the gate.
	KeyFile     string
	GenesisFile string
	// Peers are the honest nodes: full multiaddrs with /p2p/ IDs.
	Peers []string

	// Pause is the pause between two misbehaviours (0: 100 ms).
	Pause time.Duration
	// Kinds restricts the rotation to these kinds, in this order (nil: RogueKinds).
	Kinds []string
	// Rounds stops the rogue after this many rounds (0: only ctx ends it).
	Rounds int
	// OnBlock, if set, is called with every block the rogue sends, by kind (see RogueKinds):
	// a checker looks each up on the honest nodes. Replays and equivocations are valid blocks;
	// every other kind must never be stored anywhere.
	OnBlock func(kind string, hash ledger.Hash)
}

// Kinds of misbehaviour of the rogue, in the order of one round. Stats.Kinds counts each, plus
// what happened to the rogue ("dial", "disconnected", "sync_reset", …).
const (
	KindSplitEquivocation = "split_equivocation" // two blocks at one height, each sent straight to half of the peers
	KindEquivocation      = "equivocation"       // two validly signed blocks at one height of its own chain
	KindReplay            = "replay"             // a captured honest block (or its own old one) again
	KindFalseWitness      = "false_witness"      // a validly signed witness cosignature of a made-up root
	KindRandomBlock       = "random_block"       // random bytes on the block topic
	KindRandomVote        = "random_vote"        // random bytes on the finality topic
	KindForgedSig         = "forged_sig"         // its own block signed by a key that is not its own
	KindForgedProducer    = "forged_producer"    // a block naming another member as producer, signed by the rogue
	KindTampered          = "tampered"           // its own block with records changed after signing
	KindForgedVote        = "forged_vote"        // a finality vote by a bureau key (wrong role), or a broken signature
	KindOversizedVote     = "oversized_vote"     // a finality message beyond the topic's 513 bytes
	KindOversizedBlock    = "oversized_block"    // a block message beyond the network's message limit
	KindSyncOversized     = "sync_oversized"     // a sync frame announcing more than the limit
	KindSyncGarbage       = "sync_garbage"       // garbage, unknown requests, trailing bytes on sync streams
)

// RogueKinds lists the rogue's misbehaviours in the order of one round.
var RogueKinds = []string{KindSplitEquivocation, KindEquivocation, KindReplay, KindFalseWitness, KindRandomBlock, KindRandomVote,
	KindForgedSig, KindForgedProducer, KindTampered, KindForgedVote, KindOversizedVote, KindOversizedBlock,
	KindSyncOversized, KindSyncGarbage}

// RunRogue runs a registered member that misbehaves, until ctx is done: a libp2p host with the
// member's key that dials every peer (again, with bounded backoff, when they drop or refuse it)
// and, in rotation, does each of RogueKinds. Equivocations come first in a round, gossip garbage
// next, sync abuse last: honest nodes graylist the rogue after a few invalid messages and ban it
// after a few sync violations, and each defence should be exercised before the next one shuts
// the rogue out. Stats.Sent counts misbehaviours sent; Stats.Errors counts sync abuse that an honest node
// answered instead of refusing.
func RunRogue(ctx context.Context, cfg RogueConfig, log *slog.Logger) (Stats, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("party", "rogue")
	c := newCounter()
	s, err := keyfile.Read(cfg.KeyFile)
	if err != nil {
		return c.snapshot(), fmt.Errorf("rogue: %w", err)
	}
	raw, err := os.ReadFile(cfg.GenesisFile)
	if err != nil {
		return c.snapshot(), fmt.Errorf("rogue: read genesis: %w", err)
	}
	g, err := ledger.ParseGenesisJSON(raw)
	if err != nil {
		return c.snapshot(), fmt.Errorf("rogue: genesis: %w", err)
	}
	peers, err := parsePeers(cfg.Peers)
	if err != nil {
		return c.snapshot(), fmt.Errorf("rogue: %w", err)
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 100 * time.Millisecond
	}
	for _, k := range cfg.Kinds {
		if !slices.Contains(RogueKinds, k) {
			return c.snapshot(), fmt.Errorf("rogue: unknown kind %q", k)
		}
	}
	r := &rogue{cfg: cfg, log: log, c: c, s: s, network: g.Network}
	for _, m := range g.Members {
		if m.ID != s.ID() {
			r.others = append(r.others, m.ID)
		}
	}
	if len(r.others) == 0 {
		return c.snapshot(), errors.New("rogue: the genesis names no other member")
	}
	if err := r.run(ctx, peers); err != nil {
		return c.snapshot(), err
	}
	return c.snapshot(), nil
}

type rogue struct {
	cfg     RogueConfig
	log     *slog.Logger
	c       *counter
	s       *ledger.Signer
	network string
	others  []ledger.KeyID

	h        host.Host
	k        *keeper
	blocks   *pubsub.Topic
	finality *pubsub.Topic

	tip *ledger.BlockHeader // the rogue's own chain as it last extended it

	mu       sync.Mutex
	captured []captured // honest block messages seen on the topic, the newest last
	own      [][]byte   // its own valid block messages, for replays
	maxSeq   uint64     // the highest checkpoint seq seen in a vote
}

type captured struct {
	data []byte
	at   time.Time
}

const maxCaptured = 64

func (r *rogue) run(ctx context.Context, peers []peer.AddrInfo) error {
	h, err := newHost(r.s)
	if err != nil {
		return fmt.Errorf("rogue: %w", err)
	}
	r.h = h
	defer h.Close()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ps, err := newGossip(gctx, h, r.network, r.log)
	if err != nil {
		return fmt.Errorf("rogue: %w", err)
	}
	if r.blocks, err = ps.Join(p2p.BlocksTopic(r.network)); err != nil {
		return fmt.Errorf("rogue: join block topic: %w", err)
	}
	if r.finality, err = ps.Join(p2p.FinalityTopic(r.network)); err != nil {
		return fmt.Errorf("rogue: join finality topic: %w", err)
	}
	bs, err := r.blocks.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		return fmt.Errorf("rogue: subscribe to blocks: %w", err)
	}
	fs, err := r.finality.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		bs.Cancel()
		return fmt.Errorf("rogue: subscribe to finality: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	r.k = newKeeper(h, peers, r.c, r.log)
	r.k.offTopic = func(p peer.ID) bool {
		for _, q := range r.blocks.ListPeers() {
			if q == p {
				return false
			}
		}
		return true
	}
	wg.Add(3)
	go func() { defer wg.Done(); r.k.run(gctx) }()
	go func() { defer wg.Done(); defer bs.Cancel(); r.capture(gctx, bs) }()
	go func() { defer wg.Done(); defer fs.Cancel(); r.watchVotes(gctx, fs) }()

	r.log.Info("rogue started", "peer", h.ID(), "peers", len(peers))
	kinds := r.cfg.Kinds
	if len(kinds) == 0 {
		kinds = RogueKinds
	}
	for round := 0; ctx.Err() == nil && (r.cfg.Rounds == 0 || round < r.cfg.Rounds); round++ {
		for _, kind := range kinds {
			// Gossip needs a topic peer; wait for one (bounded) so that a round is not wasted
			// while the first connections come up.
			if kind != KindSyncGarbage && kind != KindSyncOversized {
				r.waitTopicPeer(ctx, 5*time.Second)
			}
			if ctx.Err() != nil {
				break
			}
			if err := r.do(ctx, kind); err != nil && ctx.Err() == nil {
				r.log.Debug("misbehaviour", "kind", kind, "err", err)
			}
			sleep(ctx, r.cfg.Pause)
		}
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// waitTopicPeer waits (at most d) until every connected peer is on the block topic.
func (r *rogue) waitTopicPeer(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if n := len(r.blocks.ListPeers()); n > 0 && n >= len(r.k.connected()) {
			return
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// capture keeps honest block messages for replays.
func (r *rogue) capture(ctx context.Context, sub *pubsub.Subscription) {
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == r.h.ID() || len(m.Data) < 2 || m.Data[0] != 0x01 {
			continue
		}
		r.mu.Lock()
		r.captured = append(r.captured, captured{data: m.Data, at: time.Now()})
		if len(r.captured) > maxCaptured {
			r.captured = r.captured[len(r.captured)-maxCaptured:]
		}
		r.mu.Unlock()
	}
}

// watchVotes learns the latest checkpoint seq from the honest nodes' votes.
func (r *rogue) watchVotes(ctx context.Context, sub *pubsub.Subscription) {
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == r.h.ID() || len(m.Data) < 2 {
			continue
		}
		if v, err := ledger.DecodeVote(m.Data[1:]); err == nil {
			r.mu.Lock()
			r.maxSeq = max(r.maxSeq, v.Seq)
			r.mu.Unlock()
		}
	}
}

// do performs one misbehaviour.
func (r *rogue) do(ctx context.Context, kind string) error {
	switch kind {
	case KindSplitEquivocation:
		return r.splitEquivocate(ctx)
	case KindEquivocation:
		return r.equivocate(ctx)
	case KindReplay:
		return r.replay(ctx)
	case KindFalseWitness:
		return r.falseWitness(ctx)
	case KindRandomBlock:
		for _, prefix := range [][]byte{nil, {0x01}, {0x01, 0xa3}} {
			if err := r.publish(ctx, r.blocks, kind, append(prefix, randBytes(1+mrand.IntN(4096))...)); err != nil {
				return err
			}
		}
		return nil
	case KindRandomVote:
		for _, prefix := range [][]byte{nil, {0x02}, {0x03, 0xa4}} {
			if err := r.publish(ctx, r.finality, kind, append(prefix, randBytes(1+mrand.IntN(400))...)); err != nil {
				return err
			}
		}
		return nil
	case KindForgedSig:
		// Built and signed by a stranger's key, then claimed as the rogue's own block.
		stranger := ledger.SignerFromSeed(randBytes(32))
		b, err := ledger.BuildBlock(stranger, r.network, r.tip, nowMS(), garbageRecords("forged-sig"))
		if err != nil {
			return err
		}
		b.Header.Producer = r.s.ID()
		return r.publishBlock(ctx, kind, b)
	case KindForgedProducer:
		// Another member named as producer, signed (correctly, over the changed header) by the
		// rogue's key.
		b, err := ledger.BuildBlock(r.s, r.network, nil, nowMS(), garbageRecords("forged-producer"))
		if err != nil {
			return err
		}
		b.Header.Producer = r.others[mrand.IntN(len(r.others))]
		b.Header.Height = 1 + uint64(mrand.IntN(3))
		if b.Header.Height > 1 {
			copy(b.Header.Prev[:], randBytes(32))
		}
		hash := b.Header.Hash()
		b.Sig = ed25519.Sign(r.s.PrivateKey(), append([]byte("jaminan/v1/block-sig\x00"), hash[:]...))
		return r.publishBlock(ctx, kind, b)
	case KindTampered:
		b, err := ledger.BuildBlock(r.s, r.network, r.tip, nowMS(), garbageRecords("before"))
		if err != nil {
			return err
		}
		b.Records[0] = []byte("rogue: swapped after signing")
		return r.publishBlock(ctx, kind, b)
	case KindForgedVote:
		seq := r.seq() + 1
		var cp, root ledger.Hash
		copy(cp[:], randBytes(32))
		copy(root[:], randBytes(32))
		// A finality vote by a bureau key: right signature, wrong role.
		v := ledger.SignVote(r.s, r.network, seq, cp, root)
		if err := r.publish(ctx, r.finality, kind, append([]byte{byte(p2p.KindVote)}, encodeVote(&v)...)); err != nil {
			return err
		}
		// A witness with its signature broken.
		w := ledger.SignWitness(r.s, r.network, seq, cp, root)
		w.Sig.Sig = bytes.Clone(w.Sig.Sig)
		w.Sig.Sig[0] ^= 0xff
		return r.publish(ctx, r.finality, kind, append([]byte{byte(p2p.KindWitness)}, encodeVote(&w)...))
	case KindOversizedVote:
		return r.publish(ctx, r.finality, kind, append([]byte{byte(p2p.KindWitness)}, randBytes(4096)...))
	case KindOversizedBlock:
		return r.publish(ctx, r.blocks, kind, append([]byte{0x01}, randBytes(p2p.MaxMessageSize+1024)...))
	case KindSyncGarbage:
		// Two of the garbage payloads a round: each costs 50 points, so the rogue is banned
		// (200) in its second round and the other kinds keep their turn before that.
		g := syncGarbage()
		mrand.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		return r.syncAbuse(ctx, kind, g[:2])
	case KindSyncOversized:
		return r.syncAbuse(ctx, kind, [][]byte{oversizedFrame()})
	}
	return fmt.Errorf("unknown kind %q", kind)
}

func (r *rogue) seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxSeq
}

// equivocate signs two different blocks at the next height of its own chain and publishes
// one, then the other. The first is a valid block that honest nodes accept; the second must be
// refused and recorded as evidence. The rogue's chain continues from the first.
func (r *rogue) equivocate(ctx context.Context) error {
	t := nowMS()
	a, err := ledger.BuildBlock(r.s, r.network, r.tip, t, garbageRecords("equivocation a"))
	if err != nil {
		return err
	}
	b, err := ledger.BuildBlock(r.s, r.network, r.tip, t, garbageRecords("equivocation b"))
	if err != nil {
		return err
	}
	if err := r.publishBlock(ctx, KindEquivocation, a); err != nil {
		return err
	}
	r.tip = &a.Header
	r.mu.Lock()
	r.own = append(r.own, encodeBlockMessage(a))
	r.mu.Unlock()
	// Let the first block settle (validated and stored) so that the second meets it.
	sleep(ctx, 300*time.Millisecond)
	return r.publishBlock(ctx, KindEquivocation, b)
}

// replay publishes captured honest blocks, and the rogue's own oldest block, again. They are
// valid; honest nodes hold them already and must ignore them.
func (r *rogue) replay(ctx context.Context) error {
	r.mu.Lock()
	var msgs [][]byte
	for _, c := range r.captured {
		// The rogue's seen cache drops a message it saw within a second.
		if time.Since(c.at) > 2*time.Second && len(msgs) < 4 {
			msgs = append(msgs, c.data)
		}
	}
	if len(r.own) > 0 {
		msgs = append(msgs, r.own[0])
	}
	r.mu.Unlock()
	for _, m := range msgs {
		if r.cfg.OnBlock != nil {
			if b, err := ledger.DecodeBlock(m[1:]); err == nil {
				r.cfg.OnBlock(KindReplay, b.Hash())
			}
		}
		if err := r.publish(ctx, r.blocks, KindReplay, m); err != nil {
			return err
		}
	}
	return nil
}

// falseWitness publishes witness cosignatures, validly signed by the rogue (a bureau), of
// made-up checkpoint hashes and roots: one at the latest seq it has seen, one far beyond it.
// The network layer accepts them (they are well-formed and signed by a bureau); no node may take
// them for more than one bureau's claim.
func (r *rogue) falseWitness(ctx context.Context) error {
	seq := r.seq()
	for _, s := range []uint64{max(seq, 1), seq + 1000} {
		var cp, root ledger.Hash
		copy(cp[:], randBytes(32))
		copy(root[:], randBytes(32))
		w := ledger.SignWitness(r.s, r.network, s, cp, root)
		if err := r.publish(ctx, r.finality, KindFalseWitness, append([]byte{byte(p2p.KindWitness)}, encodeVote(&w)...)); err != nil {
			return err
		}
	}
	return nil
}

func (r *rogue) publishBlock(ctx context.Context, kind string, b *ledger.Block) error {
	if r.cfg.OnBlock != nil {
		r.cfg.OnBlock(kind, b.Hash())
	}
	return r.publish(ctx, r.blocks, kind, encodeBlockMessage(b))
}

// publish sends one message; with no peer on the topic it is counted as unsent.
func (r *rogue) publish(ctx context.Context, t *pubsub.Topic, kind string, data []byte) error {
	if len(t.ListPeers()) == 0 {
		r.c.kind("unsent")
		return nil
	}
	r.c.sent(kind)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := t.Publish(pctx, data); err != nil {
		r.c.kind("publish_failed")
		return fmt.Errorf("publish %s: %w", kind, err)
	}
	return nil
}

// syncAbuse opens a sync stream to every connected peer for each payload and writes it.
func (r *rogue) syncAbuse(ctx context.Context, kind string, payloads [][]byte) error {
	var errs []error
	for _, p := range r.k.connected() {
		for _, data := range payloads {
			r.c.sent(kind)
			answered, err := rawSyncExchange(ctx, r.h, p, p2p.SyncProtocol(r.network), data)
			switch {
			case err != nil:
				r.c.kind("sync_refused")
				errs = append(errs, err)
			case answered:
				// A server must reset a stream that breaks the protocol, never answer it.
				r.c.err("sync_answered")
				r.log.Warn("a sync server answered garbage", "peer", p, "bytes", len(data))
			default:
				r.c.kind("sync_reset")
			}
		}
	}
	return errors.Join(errs...)
}

// encodeBlockMessage is a block topic message: 0x01 ‖ canonical block.
func encodeBlockMessage(b *ledger.Block) []byte { return append([]byte{0x01}, b.Encode()...) }

func encodeVote(v *ledger.Vote) []byte { return v.Encode() }

func garbageRecords(label string) [][]byte {
	return [][]byte{fmt.Appendf(nil, "rogue %s %x", label, randBytes(8)), randBytes(1 + mrand.IntN(512))}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func nowMS() uint64 { return uint64(time.Now().UnixMilli()) }
