package p2p

import (
	"slices"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// recorder collects what a validator reports.
type recorder struct {
	gaps     []uint64
	finals   []uint64
	evidence []Evidence
}

func newTestValidator(t *testing.T, n *tnet, src *MemorySource, members []ledger.Member) (*validator, *recorder) {
	r := &recorder{}
	v := &validator{
		network: n.g.Network, self: peer.ID("self"), members: NewMembers(members, tnetStart), src: src, maxAhead: 8,
		gapBlocks: func(_ ledger.KeyID, h uint64, _ peer.ID, _ bool) { r.gaps = append(r.gaps, h) },
		gapFinal:  func(s uint64, _ peer.ID) { r.finals = append(r.finals, s) },
		evidence:  func(e Evidence) { r.evidence = append(r.evidence, e) },
	}
	return v, r
}

func resultName(r pubsub.ValidationResult) string {
	switch r {
	case pubsub.ValidationAccept:
		return "accept"
	case pubsub.ValidationReject:
		return "reject"
	case pubsub.ValidationIgnore:
		return "ignore"
	}
	return "?"
}

// The block validator's rules, one row each (see validateBlock).
func TestBlockValidatorRules(t *testing.T) {
	n := newTnet(t)
	p := n.bureaus[0]
	revokedSigner, employer := seedSigner(0x41), seedSigner(0x42)
	members := append(slices.Clone(n.g.Members),
		ledger.Member{ID: revokedSigner.ID(), Role: ledger.RoleBureau, Region: "44", Name: "revoked", Revoked: true},
		ledger.Member{ID: employer.ID(), Role: ledger.RoleEmployer, Region: "44", Name: "employer"})

	c := newChain(p, n.g.Network)
	var held []*ledger.Block
	for i := 0; i < 3; i++ {
		held = append(held, c.next(t, 50))
	}
	// The producer signs a second block at height 3: an equivocation.
	alt := newChain(p, n.g.Network)
	alt.prev, alt.time = &held[1].Header, held[1].Header.Time+1000
	equivocal := alt.next(t, 60)
	// and a block at height 4 that does not follow the held height 3: a fork.
	fork := alt.next(t, 60)
	next := c.next(t, 50) // height 4, follows
	c.next(t, 50)
	near := c.next(t, 50) // height 6: within maxAhead
	for i := 0; i < 10; i++ {
		c.next(t, 50)
	}
	far := c.next(t, 50) // height 17: beyond tip 3 + 8

	badSig := newChain(n.bureaus[1], n.g.Network).next(t, 50)
	badSig.Sig[5] ^= 1
	otherNet := newChain(n.bureaus[1], "other-network").next(t, 50)

	type row struct {
		name     string
		data     []byte
		want     pubsub.ValidationResult
		gap      bool
		evidence string
	}
	rows := []row{
		{"accept the next block", encodeBlockMessage(next), pubsub.ValidationAccept, false, ""},
		{"accept a ministry member's block", encodeBlockMessage(newChain(n.ministry[0], n.g.Network).next(t, 10)), pubsub.ValidationAccept, false, ""},
		{"accept a first block of another producer", encodeBlockMessage(newChain(n.bureaus[1], n.g.Network).next(t, 10)), pubsub.ValidationAccept, false, ""},
		{"reject an empty message", nil, pubsub.ValidationReject, false, ""},
		{"reject an oversized message", make([]byte, MaxMessageSize+1), pubsub.ValidationReject, false, ""},
		{"reject an unknown envelope", append([]byte{0x09}, next.Encode()...), pubsub.ValidationReject, false, ""},
		{"reject undecodable bytes", []byte{kindBlock, 0xff, 0x00}, pubsub.ValidationReject, false, ""},
		{"reject a non-member producer", encodeBlockMessage(newChain(seedSigner(0x55), n.g.Network).next(t, 10)), pubsub.ValidationReject, false, ""},
		{"reject a producer in a non-producing role", encodeBlockMessage(newChain(employer, n.g.Network).next(t, 10)), pubsub.ValidationReject, false, ""},
		{"ignore a revoked producer", encodeBlockMessage(newChain(revokedSigner, n.g.Network).next(t, 10)), pubsub.ValidationIgnore, false, ""},
		{"reject a bad signature", encodeBlockMessage(badSig), pubsub.ValidationReject, false, ""},
		{"reject another network's block", encodeBlockMessage(otherNet), pubsub.ValidationReject, false, ""},
		{"ignore a relayed equivocation and report it", encodeBlockMessage(equivocal), pubsub.ValidationIgnore, false, EvidenceEquivocation},
		{"ignore a relayed fork and report it", encodeBlockMessage(fork), pubsub.ValidationIgnore, false, EvidenceFork},
		{"reject an equivocation its producer sends and report it", encodeBlockMessage(equivocal), pubsub.ValidationReject, false, EvidenceEquivocation},
		{"reject a fork its producer sends and report it", encodeBlockMessage(fork), pubsub.ValidationReject, false, EvidenceFork},
		{"ignore a block already held", encodeBlockMessage(held[1]), pubsub.ValidationIgnore, false, ""},
		{"accept a block a little ahead and sync the gap", encodeBlockMessage(near), pubsub.ValidationAccept, true, ""},
		{"ignore a block far ahead and sync the gap", encodeBlockMessage(far), pubsub.ValidationIgnore, true, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			src := n.newSource()
			for _, b := range held {
				if err := src.PutBlock(b); err != nil {
					t.Fatal(err)
				}
			}
			v, rec := newTestValidator(t, n, src, members)
			from := peer.ID("peer")
			if strings.Contains(r.name, "its producer sends") {
				from = peer.ID(p.ID())
			}
			got, b := v.validateBlock(from, r.data)
			if got.res != r.want {
				t.Fatalf("%s (%v), want %s", resultName(got.res), got.reason, resultName(r.want))
			}
			if (got.res == pubsub.ValidationAccept) != (b != nil) {
				t.Fatal("accepted without a block, or a block without accepting")
			}
			if r.gap != (len(rec.gaps) == 1) {
				t.Fatalf("gap reports %v", rec.gaps)
			}
			if r.evidence != "" && (len(rec.evidence) != 1 || rec.evidence[0].Kind != r.evidence) {
				t.Fatalf("evidence %+v, want %s", rec.evidence, r.evidence)
			}
			if r.evidence == "" && len(rec.evidence) != 0 {
				t.Fatalf("unexpected evidence %+v", rec.evidence)
			}
		})
	}
}

// The vote validator's rules, one row each (see validateVote).
func TestVoteValidatorRules(t *testing.T) {
	n := newTnet(t)
	src := n.newSource()
	cbs, certs, bs := n.checkpoints(100, n.bureaus[0])
	for _, b := range bs {
		if err := src.PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cbs {
		if err := src.PutCheckpoint(cbs[i], certs[i]); err != nil {
			t.Fatal(err)
		}
	}
	cp, root := ledger.Hash{1}, ledger.Hash{2}
	m, b := n.ministry[0], n.bureaus[0]
	vote := func(seq uint64) ledger.Vote { return ledger.SignVote(m, n.g.Network, seq, cp, root) }
	forged := vote(101)
	forged.StateRoot[0] ^= 1
	zero := vote(0)
	rows := []struct {
		name string
		kind VoteKind
		v    ledger.Vote
		raw  []byte
		want pubsub.ValidationResult
		gap  bool
	}{
		{"accept the next vote and sync to it", KindVote, vote(101), nil, pubsub.ValidationAccept, true},
		{"accept a recent vote", KindVote, vote(90), nil, pubsub.ValidationAccept, false},
		{"accept a bureau witness", KindWitness, ledger.SignWitness(b, n.g.Network, 100, cp, root), nil, pubsub.ValidationAccept, false},
		{"ignore a stale vote", KindVote, vote(10), nil, pubsub.ValidationIgnore, false},
		{"reject a forged vote", KindVote, forged, nil, pubsub.ValidationReject, false},
		{"reject a vote for seq 0", KindVote, zero, nil, pubsub.ValidationReject, false},
		{"reject a bureau's vote", KindVote, ledger.SignVote(b, n.g.Network, 101, cp, root), nil, pubsub.ValidationReject, false},
		{"reject a ministry witness", KindWitness, ledger.SignWitness(m, n.g.Network, 101, cp, root), nil, pubsub.ValidationReject, false},
		{"reject a witness sent as a vote", KindVote, ledger.SignWitness(b, n.g.Network, 101, cp, root), nil, pubsub.ValidationReject, false},
		{"reject another network's vote", KindVote, ledger.SignVote(m, "other", 101, cp, root), nil, pubsub.ValidationReject, false},
		{"reject a non-member's vote", KindVote, ledger.SignVote(seedSigner(0x55), n.g.Network, 101, cp, root), nil, pubsub.ValidationReject, false},
		{"reject an unknown envelope", 0, ledger.Vote{}, append([]byte{0x07}, encodeVote(&zero)...), pubsub.ValidationReject, false},
		{"reject garbage", 0, ledger.Vote{}, []byte{byte(KindVote), 0x01}, pubsub.ValidationReject, false},
		{"reject an oversized message", 0, ledger.Vote{}, make([]byte, maxVoteMessage+1), pubsub.ValidationReject, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			v, rec := newTestValidator(t, n, src, n.g.Members)
			data := r.raw
			if data == nil {
				data = encodeVoteMessage(r.kind, &r.v)
			}
			got, kind, vt := v.validateVote(peer.ID("peer"), data)
			if got.res != r.want {
				t.Fatalf("%s (%v), want %s", resultName(got.res), got.reason, resultName(r.want))
			}
			if got.res == pubsub.ValidationAccept && (vt == nil || kind != r.kind) {
				t.Fatal("accepted without the vote")
			}
			if r.gap != (len(rec.finals) == 1) {
				t.Fatalf("final gaps %v", rec.finals)
			}
		})
	}
}

// Validation runs ahead of the store: blocks it accepted and the store does not hold yet count
// as known, so a fast stream of blocks is not mistaken for a gap, and conflicts with them are
// still caught.
func TestBlockValidatorTracksAcceptedAhead(t *testing.T) {
	n := newTnet(t)
	v, rec := newTestValidator(t, n, n.newSource(), n.g.Members)
	c := newChain(n.bureaus[0], n.g.Network)
	var bs []*ledger.Block
	for i := 0; i < 80; i++ {
		bs = append(bs, c.next(t, 10))
	}
	check := func(name string, b *ledger.Block, want pubsub.ValidationResult) {
		t.Helper()
		if got, _ := v.validateBlock(peer.ID(c.s.ID()), encodeBlockMessage(b)); got.res != want {
			t.Fatalf("%s: %s (%v), want %s", name, resultName(got.res), got.reason, resultName(want))
		}
	}
	// 70 blocks in order with nothing stored: none is far ahead (maxAhead is 8).
	for i := 0; i < 70; i++ {
		check("in order", bs[i], pubsub.ValidationAccept)
	}
	if len(rec.gaps) != 0 {
		t.Fatalf("gaps %v for blocks in order", rec.gaps)
	}
	// Out of order: 72 before 71; 71 then carries the known tip over 72.
	check("one ahead", bs[71], pubsub.ValidationAccept)
	check("the missing one", bs[70], pubsub.ValidationAccept)
	if tip, _ := v.knownTip(Tip{Producer: c.s.ID()}); tip.Height != 72 {
		t.Fatalf("known tip %d, want 72", tip.Height)
	}
	alt := newChain(c.s, n.g.Network)
	alt.prev, alt.time = &bs[70].Header, 1
	check("a second block at the known tip", alt.next(t, 10), pubsub.ValidationReject)
	fork := newChain(c.s, n.g.Network)
	fork.prev, fork.time = &bs[70].Header, 2
	fork.next(t, 10)
	check("a fork one above the known tip", fork.next(t, 10), pubsub.ValidationReject)
	if len(rec.evidence) != 2 || rec.evidence[0].Kind != EvidenceEquivocation || rec.evidence[1].Kind != EvidenceFork {
		t.Fatalf("evidence %+v", rec.evidence)
	}
	// Once the store holds the blocks, validation forgets them and reads the store.
	for _, b := range bs[:72] {
		if err := v.src.(*MemorySource).PutBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	check("a block now stored", bs[50], pubsub.ValidationIgnore)
	check("the next", bs[72], pubsub.ValidationAccept)
}
