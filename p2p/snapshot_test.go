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
	att  *ledger.SnapshotAttestation
	file []byte

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
