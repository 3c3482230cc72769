package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/jaminan/jaminan/ledger"
)

// A member that publishes forged blocks is scored below the graylist threshold by honest
// peers, and none of its forgeries reaches their stores.
func TestForgingPeerIsGraylisted(t *testing.T) {
	n := newTnet(t)
	a, b := n.start(n.bureaus[0]), n.start(n.bureaus[1])
	forger := n.startWith(n.bureaus[2], true) // its own validators accept anything
	n.mesh(a, b, forger)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var forged []*ledger.Block
	own := newChain(forger.signer, n.g.Network)
	victim := newChain(b.signer, n.g.Network)
	outsider := newChain(seedSigner(0x77), n.g.Network)
	for i := 0; i < 4; i++ {
		// 1. its own block with a broken signature
		blk := own.next(t, 100)
		blk.Sig[0] ^= 0xff
		forged = append(forged, blk)
		// 2. a block claiming b as producer, signed by the forger
		fake := own.next(t, 100)
		fake.Header.Producer = b.signer.ID()
		forged = append(forged, fake)
		// 3. a block with a valid signature whose records were swapped after signing
		swapped := victim.next(t, 100)
		swapped.Records[0] = []byte("swapped record")
		forged = append(forged, swapped)
		// 4. a correctly signed block of a non-member
		forged = append(forged, outsider.next(t, 100))
	}
	for _, blk := range forged {
		if err := forger.blocks.Publish(ctx, encodeBlockMessage(blk)); err != nil {
			t.Fatalf("forger publish: %v", err)
		}
	}
	for _, hn := range []*tnode{a, b} {
		waitFor(t, 20*time.Second, "forger graylisted", func() bool {
			s, ok := hn.PeerScore(forger.ID())
			return ok && s < GraylistThreshold
		})
	}
	// An honest block still flows between the honest peers (the network works), and after it
	// none of the forgeries is anywhere.
	hb := newChain(a.signer, n.g.Network).next(t, 100)
	if err := a.PublishBlock(ctx, hb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "honest block at b", func() bool { return b.src.HasBlock(hb.Hash()) })
	for _, hn := range []*tnode{a, b} {
		for i, blk := range forged {
			if hn.src.HasBlock(blk.Hash()) {
				t.Errorf("forgery %d reached a store", i)
			}
		}
		if got := hn.delivered(t, "block", viaGossip); got != 1 {
			t.Errorf("%v blocks delivered by gossip, want 1 (the honest one)", got)
		}
		if rejects := counterValue(t, hn.metrics.gossip.WithLabelValues("blocks", "reject")); rejects == 0 {
			t.Error("no rejection counted")
		}
	}
	s, _ := a.PeerScore(forger.ID())
	t.Logf("forger's score at a: %.0f (graylist %.0f)", s, GraylistThreshold)
}

// A vote signed by a bureau, or a witness by a ministry key, is rejected; proper ones arrive.
func TestVoteRoles(t *testing.T) {
	n := newTnet(t)
	m, b := n.start(n.ministry[0]), n.start(n.bureaus[0])
	n.mesh(m, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cp, root ledger.Hash
	cp[0], root[0] = 1, 2
	vote := ledger.SignVote(m.signer, n.g.Network, 1, cp, root)
	wit := ledger.SignWitness(b.signer, n.g.Network, 1, cp, root)
	badVote := ledger.SignVote(b.signer, n.g.Network, 1, cp, root)
	badWit := ledger.SignWitness(m.signer, n.g.Network, 1, cp, root)
	if err := b.PublishVote(ctx, KindVote, &badVote); err == nil {
		t.Error("a bureau's finality vote was published")
	}
	if err := m.PublishVote(ctx, KindWitness, &badWit); err == nil {
		t.Error("a ministry witness was published")
	}
	if err := m.PublishVote(ctx, KindVote, &vote); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishVote(ctx, KindWitness, &wit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "vote and witness delivered", func() bool {
		return len(b.src.Votes(KindVote, 1)) == 1 && len(m.src.Votes(KindWitness, 1)) == 1
	})
}
