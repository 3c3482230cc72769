package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// FuzzReadFrame: the frame reader never panics, never returns more than its limit, and
// reports a malformed stream as ErrProtocol (or a clean io.EOF between frames).
func FuzzReadFrame(f *testing.F) {
	var ok bytes.Buffer
	_ = writeFrame(&ok, encodeRequest(&request{Type: reqStatus}))
	_ = writeFrame(&ok, encodeResponse(&response{Type: respDone, Count: 3}))
	f.Add(ok.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x80, 0x80, 0x80, 0x04})
	f.Add([]byte{0x00})
	f.Add([]byte{0x05, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 12
		br := bufio.NewReader(bytes.NewReader(data))
		for {
			frame, err := readFrame(br, max)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v is neither EOF nor a protocol violation", err)
				}
				return
			}
			if len(frame) == 0 || len(frame) > max {
				t.Fatalf("frame of %d bytes", len(frame))
			}
		}
	})
}

// FuzzDecodeRequest: the request decoder never panics, and what it accepts is canonical (it
// re-encodes to the same bytes) and within the limits.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []*request{
		{Type: reqStatus}, {Type: reqLatest}, {Type: reqCheckpoints, From: 1, To: 300},
		{Type: reqBlocks, Hashes: []ledger.Hash{{1}, {2}}},
		{Type: reqProducerBlocks, Producer: seedSigner(1).ID(), From: 5, To: 9},
		{Type: reqAttestation}, {Type: reqSnapshot, Seq: 1000, Offset: 16 << 20}, {Type: reqMinistry, Seq: 40},
	} {
		f.Add(encodeRequest(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRequest(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol violation", err)
			}
			return
		}
		if !bytes.Equal(encodeRequest(r), data) {
			t.Fatalf("accepted a non-canonical request %x", data)
		}
		if len(r.Hashes) > MaxHashesPerRequest || len(r.Producer) > maxKeyIDLen {
			t.Fatal("limits not enforced")
		}
	})
}

// FuzzDecodeResponse: as FuzzDecodeRequest, for response frames.
func FuzzDecodeResponse(f *testing.F) {
	b := newChain(seedSigner(1), "fuzz").next(f, 50)
	for _, r := range []*response{
		{Type: respStatus, Status: Status{FinalSeq: 7, Tips: []Tip{{Producer: seedSigner(1).ID(), Height: 3, Hash: ledger.Hash{9}}}}},
		{Type: respCheckpoint, Checkpoint: []byte{1, 2}, Certificate: []byte{3}},
		{Type: respBlock, Block: b.Encode()},
		{Type: respDone, Count: 12},
		{Type: respError, Code: codeBadRequest, Text: "no"},
		{Type: respAttest, Attestation: seedShare(1).Encode()},
		{Type: respSnapData, Size: 10, Data: []byte("JMNSNAP\x01")},
		{Type: respChange, Change: []byte{0xa1, 0x01, 0x40}},
	} {
		f.Add(encodeResponse(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not a protocol violation", err)
			}
			return
		}
		if !bytes.Equal(encodeResponse(r), data) {
			t.Fatalf("accepted a non-canonical response %x", data)
		}
		if len(r.Status.Tips) > maxTips || len(r.Text) > maxErrorText || len(r.Attestation) > maxAttestation ||
			len(r.Data) > maxSnapshotFrame || uint64(len(r.Data)) > r.Size || r.Size > MaxSnapshotBytes || len(r.Change) > maxChange {
			t.Fatal("limits not enforced")
		}
	})
}

// fuzzValidator is a validator over a store that holds one producer's first block, with the
// test network's members.
func fuzzValidator(tb testing.TB) (*validator, *tnet, *chain) {
	n := newTnet(tb)
	src := n.newSource()
	c := newChain(n.bureaus[0], n.g.Network)
	if err := src.PutBlock(c.next(tb, 64)); err != nil {
		tb.Fatal(err)
	}
	v := &validator{
		network: n.g.Network, self: peer.ID("self"), members: NewMembers(n.g.Members, tnetStart), src: src, maxAhead: 8,
		gapBlocks: func(ledger.KeyID, uint64, peer.ID, bool) {}, gapFinal: func(uint64, peer.ID) {}, evidence: func(Evidence) {},
	}
	return v, n, c
}

// FuzzValidateBlock: the block validator never panics, and whatever it accepts decodes,
// verifies and comes from an active bureau or ministry member.
func FuzzValidateBlock(f *testing.F) {
	v, n, c := fuzzValidator(f)
	next := c.next(f, 64)
	f.Add(encodeBlockMessage(next))
	f.Add(encodeBlockMessage(c.next(f, 64))) // a gap
	f.Add(encodeBlockMessage(newChain(n.ministry[0], n.g.Network).next(f, 10)))
	f.Add(encodeBlockMessage(newChain(seedSigner(0x99), n.g.Network).next(f, 10)))
	f.Add([]byte{kindBlock, 0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, b := v.validateBlock(peer.ID("peer"), data)
		if res.res != pubsub.ValidationAccept {
			if res.reason == nil {
				t.Fatal("a refusal without a reason")
			}
			return
		}
		d, err := ledger.DecodeBlock(data[1:])
		if err != nil || d.Verify(n.g.Network) != nil || b == nil || b.Hash() != d.Hash() {
			t.Fatalf("accepted an invalid block: %v", err)
		}
		if role, ok := v.members.Role(peer.ID(d.Header.Producer)); !ok || !isNodeRole(role) {
			t.Fatal("accepted a block of a non-member")
		}
	})
}

// FuzzValidateVote: the vote validator never panics, and whatever it accepts is a correctly
// signed vote of an active ministry member or witness of an active bureau.
func FuzzValidateVote(f *testing.F) {
	v, n, _ := fuzzValidator(f)
	vote := ledger.SignVote(n.ministry[0], n.g.Network, 3, ledger.Hash{1}, ledger.Hash{2})
	wit := ledger.SignWitness(n.bureaus[0], n.g.Network, 3, ledger.Hash{1}, ledger.Hash{2})
	f.Add(encodeVoteMessage(KindVote, &vote))
	f.Add(encodeVoteMessage(KindWitness, &wit))
	f.Add(encodeVoteMessage(KindVote, &wit))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, kind, got := v.validateVote(peer.ID("peer"), data)
		if res.res != pubsub.ValidationAccept {
			return
		}
		verify, role := ledger.VerifyVote, ledger.RoleMinistry
		if kind == KindWitness {
			verify, role = ledger.VerifyWitness, ledger.RoleBureau
		}
		if err := verify(n.g.Network, got); err != nil {
			t.Fatalf("accepted a forged %s: %v", kind, err)
		}
		if r, ok := v.members.Role(peer.ID(got.Sig.Signer)); !ok || r != role {
			t.Fatalf("accepted a %s of a %s", kind, r)
		}
	})
}

// Votes encode exactly as the ledger decodes them.
func TestVoteEncodingRoundTrip(t *testing.T) {
	vote := ledger.SignVote(seedSigner(1), "net", 42, ledger.Hash{1}, ledger.Hash{2})
	b := encodeVote(&vote)
	got, err := ledger.DecodeVote(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 42 || got.Sig.Signer != vote.Sig.Signer || ledger.VerifyVote("net", got) != nil {
		t.Fatalf("decoded %+v", got)
	}
}

// seedShare is a snapshot attestation share signed by seedSigner(i).
func seedShare(i byte) *ledger.SnapshotAttestation {
	a := &ledger.SnapshotAttestation{Seq: 10, Checkpoint: ledger.Hash{1}, StateRoot: ledger.Hash{2}, Digest: ledger.Hash{3}, Keys: 42}
	a.Sign("fuzz", seedSigner(i))
	return a
}

// FuzzValidateShare: the snapshot share validator never panics, and whatever it accepts is an
// attestation with one valid signature of an active ministry member.
func FuzzValidateShare(f *testing.F) {
	v, n, _ := fuzzValidator(f)
	good := &ledger.SnapshotAttestation{Seq: 10, Checkpoint: ledger.Hash{1}, StateRoot: ledger.Hash{2}, Digest: ledger.Hash{3}, Keys: 42}
	good.Sign(n.g.Network, n.ministry[0])
	f.Add(encodeShareMessage(good))
	bureau := *good
	bureau.Sigs = nil
	bureau.Sign(n.g.Network, n.bureaus[0])
	f.Add(encodeShareMessage(&bureau))
	two := *good
	two.Sign(n.g.Network, n.ministry[1])
	f.Add(encodeShareMessage(&two))
	f.Add([]byte{kindShare, 0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, a := v.validateShare(data)
		if res.res != pubsub.ValidationAccept {
			if res.reason == nil {
				t.Fatal("a refusal without a reason")
			}
			return
		}
		if a == nil || len(a.Sigs) != 1 || a.Seq == 0 {
			t.Fatalf("accepted %+v", a)
		}
		if err := a.Verify(n.g.Network, []ledger.KeyID{a.Sigs[0].Signer}); err != nil {
			t.Fatalf("accepted a forged share: %v", err)
		}
		if r, ok := v.members.Role(peer.ID(a.Sigs[0].Signer)); !ok || r != ledger.RoleMinistry {
			t.Fatalf("accepted a share of a %s", r)
		}
	})
}

// The share validator refuses what the fast join must not trust: a bureau's signature, two
// signatures, a forged one, garbage.
func TestValidateShare(t *testing.T) {
	v, n, _ := fuzzValidator(t)
	good := &ledger.SnapshotAttestation{Seq: 10, Checkpoint: ledger.Hash{1}, StateRoot: ledger.Hash{2}, Digest: ledger.Hash{3}, Keys: 42}
	good.Sign(n.g.Network, n.ministry[0])
	if res, a := v.validateShare(encodeShareMessage(good)); res.res != pubsub.ValidationAccept || a == nil {
		t.Fatalf("a ministry share: %v", res.reason)
	}
	bureau := &ledger.SnapshotAttestation{Seq: 10, Digest: ledger.Hash{3}}
	bureau.Sign(n.g.Network, n.bureaus[0])
	two := *good
	two.Sigs = append([]ledger.Sig(nil), good.Sigs...)
	two.Sign(n.g.Network, n.ministry[1])
	forged := *good
	forged.Digest = ledger.Hash{4}
	stranger := &ledger.SnapshotAttestation{Seq: 10, Digest: ledger.Hash{3}}
	stranger.Sign(n.g.Network, seedSigner(0x77))
	for name, data := range map[string][]byte{
		"bureau":   encodeShareMessage(bureau),
		"two sigs": encodeShareMessage(&two),
		"forged":   encodeShareMessage(&forged),
		"stranger": encodeShareMessage(stranger),
		"garbage":  {kindShare, 0xff, 0x00},
		"too big":  append([]byte{kindShare}, make([]byte, maxShareMessage)...),
	} {
		if res, _ := v.validateShare(data); res.res != pubsub.ValidationReject {
			t.Errorf("%s: %v, want reject", name, res.res)
		}
	}
}
