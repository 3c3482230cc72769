package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/jaminan/jaminan/ledger"
)

// snapMem is a MemorySource that also serves a snapshot file and takes shares and imports. Its
// importer's check stands in for the store's: the attested digest must be the SHA-256 of the
// bytes read (the store's own checks are tested in store/ and, end to end, in node/devnet).
type snapMem struct {
	*MemorySource
	att     *ledger.SnapshotAttestation
	file    []byte
	changes [][]byte // proofs of the ministry set's changes; nil: cannot prove any

	mu       sync.Mutex
	imported []byte
	shares   []*ledger.SnapshotAttestation
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (s *snapMem) LatestAttestation() (*ledger.SnapshotAttestation, error) {
	if s.att == nil {
		return nil, ErrNotFound
	}
	return s.att, nil
}

func (s *snapMem) MinistryChanges(uint64) ([][]byte, error) {
	if s.changes == nil {
		return nil, ErrNotFound
	}
	return s.changes, nil
}

func (s *snapMem) OpenSnapshot(seq uint64) (SnapshotFile, int64, error) {
	if s.att == nil || seq != s.att.Seq {
		return nil, 0, ErrNotFound
	}
	return nopCloser{bytes.NewReader(s.file)}, int64(len(s.file)), nil
}

func (s *snapMem) PutSnapshotShare(a *ledger.SnapshotAttestation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shares = append(s.shares, a)
	return nil
}

func (s *snapMem) ImportSnapshot(r io.Reader, a *ledger.SnapshotAttestation) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if sha256.Sum256(b) != a.Digest {
		return fmt.Errorf("%w: %d bytes with another digest", ErrBadSnapshot, len(b))
	}
	s.mu.Lock()
	s.imported = b
	s.mu.Unlock()
	return nil
}

// startSnap starts a node over a snapMem.
func (n *tnet) startSnap(s *ledger.Signer, src *snapMem) *tnode {
	n.t.Helper()
	node, err := newNode(n.config(s), NewMembers(n.g.Members, tnetStart), src, src, false)
	if err != nil {
		n.t.Fatalf("start node: %v", err)
	}
	n.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Close(ctx); err != nil {
			n.t.Errorf("close node: %v", err)
		}
	})
	tn := &tnode{Node: node, signer: s, src: src.MemorySource}
	n.nodes = append(n.nodes, tn)
	return tn
}

// A joining node takes the highest attestation that verifies, streams a snapshot larger than
// one response (several requests, resumed at the byte it has) and refuses a corrupted and a
// truncated copy, penalising their servers; an attestation signed by a minority is not trusted.
func TestJoinFromSnapshotStreamsAndRefusesBadCopies(t *testing.T) {
	n := newTnet(t)
	file := make([]byte, MaxResponseBytes+3*maxSnapshotFrame+12345) // two requests at least
	for i := range file {
		file[i] = byte(i*7 + i>>11)
	}
	att := &ledger.SnapshotAttestation{Seq: 40, Checkpoint: ledger.Hash{4}, StateRoot: ledger.Hash{5}, Digest: sha256.Sum256(file), Keys: 99}
	att.Sign(n.g.Network, n.ministry[0])
	att.Sign(n.g.Network, n.ministry[1])
	// A minority's attestation of a later checkpoint: higher, but it must not be taken.
	minority := &ledger.SnapshotAttestation{Seq: 80, Checkpoint: ledger.Hash{8}, StateRoot: ledger.Hash{8}, Digest: ledger.Hash{8}, Keys: 1}
	minority.Sign(n.g.Network, n.ministry[2])

	corrupted := bytes.Clone(file)
	corrupted[len(corrupted)/2] ^= 1
	good := n.startSnap(n.ministry[0], &snapMem{MemorySource: n.newSource(), att: att, file: file})
	bad := n.startSnap(n.ministry[1], &snapMem{MemorySource: n.newSource(), att: att, file: corrupted})
	short := n.startSnap(n.ministry[2], &snapMem{MemorySource: n.newSource(), att: att, file: file[:len(file)-100]})
	liar := n.startSnap(n.bureaus[1], &snapMem{MemorySource: n.newSource(), att: minority, file: file})
	jsrc := &snapMem{MemorySource: n.newSource()}
	joiner := n.startSnap(n.bureaus[0], jsrc)
	n.mesh(good, bad, short, liar, joiner)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The bad copies first: the join must get past them.
	got, err := joiner.joinFromSnapshot(ctx, []peer.ID{liar.ID(), bad.ID(), short.ID(), good.ID()})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if got.Seq != att.Seq || got.Digest != att.Digest {
		t.Fatalf("joined from %d %s, want %d", got.Seq, got.Digest, att.Seq)
	}
	jsrc.mu.Lock()
	ok := bytes.Equal(jsrc.imported, file)
	jsrc.mu.Unlock()
	if !ok {
		t.Fatal("imported bytes differ from the snapshot")
	}
	for name, p := range map[string]peer.ID{"corrupted": bad.ID(), "truncated": short.ID(), "minority attestation": liar.ID()} {
		// Penalties halve every 5 minutes; the join is bounded by a minute, so ≥ 80 % remains.
		if pen := joiner.Penalty(p); pen < penaltyInvalid*0.8 {
			t.Errorf("server of the %s copy: penalty %.1f, want ≥ %v", name, pen, penaltyInvalid)
		}
	}
	if pen := joiner.Penalty(good.ID()); pen != 0 {
		t.Errorf("honest server penalised %.1f", pen)
	}

	// Nobody offers a snapshot: ErrNoSnapshot, and nothing imported.
	empty := &snapMem{MemorySource: n.newSource()}
	lone := n.startSnap(n.bureaus[2], empty)
	other := n.startSnap(n.bureaus[3], &snapMem{MemorySource: n.newSource()})
	n.mesh(lone, other)
	if _, err := lone.joinFromSnapshot(ctx, []peer.ID{other.ID()}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("join without offers: %v, want ErrNoSnapshot", err)
	}
	if empty.imported != nil {
		t.Fatal("imported without an offer")
	}
}

// A ministry member's share gossiped on the finality topic reaches the other nodes' sinks.
func TestSnapshotShareGossip(t *testing.T) {
	n := newTnet(t)
	srcs := []*snapMem{{MemorySource: n.newSource()}, {MemorySource: n.newSource()}, {MemorySource: n.newSource()}}
	a := n.startSnap(n.ministry[0], srcs[0])
	b := n.startSnap(n.ministry[1], srcs[1])
	c := n.startSnap(n.bureaus[0], srcs[2])
	n.mesh(a, b, c)
	share := &ledger.SnapshotAttestation{Seq: 10, Checkpoint: ledger.Hash{1}, StateRoot: ledger.Hash{2}, Digest: ledger.Hash{3}, Keys: 7}
	share.Sign(n.g.Network, n.ministry[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.PublishSnapshotShare(ctx, share); err != nil {
		t.Fatal(err)
	}
	got := poll(10*time.Second, func() bool {
		for _, s := range srcs[1:] {
			s.mu.Lock()
			k := len(s.shares)
			s.mu.Unlock()
			if k == 0 {
				return false
			}
		}
		return true
	})
	if !got {
		t.Fatal("the share did not reach both peers")
	}
	srcs[1].mu.Lock()
	defer srcs[1].mu.Unlock()
	if s := srcs[1].shares[0]; s.Seq != 10 || s.Digest != share.Digest || len(s.Sigs) != 1 {
		t.Fatalf("delivered %+v", s)
	}
}

// ministryChanges applies, from the genesis, two governance records on the ledger's own machine
// and returns their encoded proofs: m3 admitted to the ministry (the genesis set certifies), then
// ministry[0] revoked (certified by the set {ministry[1], ministry[2], m3} it leaves).
func (n *tnet) ministryChanges(m3 *ledger.Signer) [][]byte {
	n.t.Helper()
	m0, m1, m2 := n.ministry[0], n.ministry[1], n.ministry[2]
	machine := ledger.NewMachine(n.g)
	st := ledger.NewMemState()
	st.Commit(ledger.GenesisWrites(n.g))
	var tip *ledger.BlockHeader
	at := uint64(tnetStart) + 1000
	var out [][]byte
	step := func(body ledger.Body, cosigners, certifiers []*ledger.Signer) {
		r := ledger.NewRecord(m1.ID(), at, body)
		for _, s := range cosigners {
			r.Sign(n.g.Network, s)
		}
		b, err := ledger.BuildBlock(m1, n.g.Network, tip, at, [][]byte{r.Encode()})
		if err != nil {
			n.t.Fatal(err)
		}
		tip = &b.Header
		meta, err := ledger.ReadMeta(st)
		if err != nil {
			n.t.Fatal(err)
		}
		cb := ledger.NewCheckpoint(n.g.Network, meta.Seq+1, meta.Checkpoint, at, []ledger.Hash{b.Hash()})
		res, err := machine.Apply(st, &cb, []*ledger.Block{b})
		if err != nil {
			n.t.Fatal(err)
		}
		st.Commit(res.Writes)
		if res.Receipts[0].Code != ledger.CodeOK {
			n.t.Fatalf("governance record: %+v", res.Receipts[0])
		}
		var votes []ledger.Vote
		for _, s := range certifiers {
			votes = append(votes, ledger.SignVote(s, n.g.Network, res.Seq, res.Checkpoint, res.StateRoot))
		}
		p, err := ledger.BuildRecordProof(b, 0, &cb, res, ledger.Certify(res.Seq, res.Checkpoint, res.StateRoot, votes))
		if err != nil {
			n.t.Fatal(err)
		}
		out = append(out, p.Encode())
		at += 1000
	}
	step(&ledger.GovMember{Member: ledger.Member{ID: m3.ID(), Role: ledger.RoleMinistry, Name: "ministry 3"}}, []*ledger.Signer{m1, m0}, n.ministry)
	step(&ledger.GovRevoke{Member: m0.ID(), Reason: "key compromised"}, []*ledger.Signer{m1, m2, m3}, []*ledger.Signer{m1, m2, m3})
	return out
}

// A joining node that knows only the genesis ministry set takes a snapshot attested by a later
// set when the serving peer proves the changes that made it (request 0x08); a peer that cannot
// prove them, or proves only some, is refused and penalised.
func TestJoinFromSnapshotAttestedByLaterMinistry(t *testing.T) {
	n := newTnet(t)
	m3 := seedSigner(0x30)
	changes := n.ministryChanges(m3)
	file := []byte("a snapshot attested by the ministry of today")
	// {ministry[1], ministry[2], m3} now: two of three. Of the genesis set only ministry[2] signed.
	att := &ledger.SnapshotAttestation{Seq: 40, Checkpoint: ledger.Hash{4}, StateRoot: ledger.Hash{5}, Digest: sha256.Sum256(file), Keys: 3}
	att.Sign(n.g.Network, n.ministry[2])
	att.Sign(n.g.Network, m3)

	noProof := n.startSnap(n.ministry[2], &snapMem{MemorySource: n.newSource(), att: att, file: file})
	partial := n.startSnap(n.bureaus[1], &snapMem{MemorySource: n.newSource(), att: att, file: file, changes: changes[:1]})
	good := n.startSnap(n.ministry[1], &snapMem{MemorySource: n.newSource(), att: att, file: file, changes: changes})
	jsrc := &snapMem{MemorySource: n.newSource()}
	joiner := n.startSnap(n.bureaus[0], jsrc)
	n.mesh(noProof, partial, good, joiner)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for name, p := range map[string]peer.ID{"without proofs": noProof.ID(), "with the admission only": partial.ID()} {
		if _, err := joiner.fetchAttestation(ctx, p); err == nil {
			t.Errorf("attestation from a peer %s accepted", name)
		}
		if pen := joiner.Penalty(p); pen < penaltyInvalid*0.8 {
			t.Errorf("peer %s: penalty %.1f, want ≥ %v", name, pen, penaltyInvalid)
		}
	}
	got, err := joiner.joinFromSnapshot(ctx, []peer.ID{noProof.ID(), partial.ID(), good.ID()})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	jsrc.mu.Lock()
	imported := jsrc.imported
	jsrc.mu.Unlock()
	if got.Seq != att.Seq || !bytes.Equal(imported, file) {
		t.Fatalf("joined from %d with %q", got.Seq, imported)
	}
	if pen := joiner.Penalty(good.ID()); pen != 0 {
		t.Errorf("the peer that proved the changes penalised %.1f", pen)
	}
}
