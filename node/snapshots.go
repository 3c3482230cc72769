package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/consensus"
	"github.com/jaminan/jaminan/internal/durable"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/p2p"
	"github.com/jaminan/jaminan/store"
)

// snapshots wires the fast join (docs/OPERATING.md, "Snapshots and fast join"; p2p/DESIGN.md
// §4): a ministry node exports the state every SnapshotInterval applied checkpoints into
// DataDir/snapshots, signs an attestation share of it, gossips the share and aggregates the
// ministry's shares into attestations; it serves the files it holds whose attestation is
// complete. A bureau started empty imports the latest attested snapshot (p2p decides when).
//
// Files: <seq>-<digest>.snap is the store's snapshot stream at checkpoint seq (the digest, in
// hex, is the one this node computed while exporting); <seq>.att is the complete attestation of
// checkpoint seq. Both are written to a temporary name, synced and renamed; the last keepSnapshots
// of each are kept.
type snapshots struct {
	n        *Node
	dir      string
	interval uint64
	att      *consensus.Attestations

	mu       sync.Mutex
	attested map[uint64]*ledger.SnapshotAttestation // complete attestations held (last keepSnapshots)

	exporting atomic.Bool
	exported  atomic.Uint64 // last checkpoint exported here
	imported  atomic.Uint64 // checkpoint of the snapshot this node joined from (this run)
}

// keepSnapshots is how many snapshot files (and attestations) a node keeps: the newest, and the
// one before while a joining node may still be streaming it.
const keepSnapshots = 2

func openSnapshots(n *Node) (*snapshots, error) {
	s := &snapshots{n: n, dir: filepath.Join(n.cfg.DataDir, "snapshots"), attested: map[uint64]*ledger.SnapshotAttestation{}}
	if n.self.Role == ledger.RoleMinistry {
		s.interval = n.cfg.SnapshotInterval
	}
	s.att = consensus.NewAttestations(n.genesis.Network, n.ministrySet)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create snapshot dir: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.register(n.reg); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the attestations kept in the directory (a damaged one is skipped) and removes
// what an interrupted write left.
func (s *snapshots) load() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("read snapshot dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp"):
			_ = os.Remove(filepath.Join(s.dir, name))
		case strings.HasSuffix(name, ".att"):
			raw, err := os.ReadFile(filepath.Join(s.dir, name))
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			a, err := ledger.DecodeSnapshotAttestation(raw)
			if err != nil {
				s.n.log.Warn("snapshot: skip a damaged attestation file", "file", name, "err", err)
				continue
			}
			s.attested[a.Seq] = a
		}
	}
	return nil
}

func (s *snapshots) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_history_start_seq",
			Help: "The checkpoint this node's stored history starts after: 0, or the snapshot it joined from."},
			func() float64 { return float64(s.base()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_snapshot_exported_seq",
			Help: "Checkpoint of the last state snapshot this ministry node exported (0: none this run)."},
			func() float64 { return float64(s.exported.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_snapshot_attested_seq",
			Help: "Checkpoint of the latest complete snapshot attestation this node serves (0: none)."},
			func() float64 {
				if a, err := s.latest(); err == nil {
					return float64(a.Seq)
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jaminan_node_fast_joining",
			Help: "1 while an empty node decides on, or performs, a join from a snapshot."},
			func() float64 {
				if s.n.p2p != nil && s.n.p2p.Joining() {
					return 1
				}
				return 0
			}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register snapshot metrics: %w", err)
		}
	}
	return nil
}

// base returns the checkpoint the stored history starts after.
func (s *snapshots) base() uint64 {
	v := s.n.st.View()
	defer v.Release()
	return v.Base()
}

// committed runs after every applied checkpoint: every interval-th one is exported in the
// background from a view of the store at that checkpoint, so that applying goes on meanwhile.
// An export still running when the next is due makes the next one wait for the interval after.
func (s *snapshots) committed(seq uint64) {
	if s.interval == 0 || seq%s.interval != 0 || s.n.closing.Load() {
		return
	}
	v := s.n.st.View()
	meta, err := v.Meta()
	if err != nil || meta.Seq != seq {
		v.Release()
		return
	}
	if err := s.n.disk.check(); err != nil {
		v.Release()
		s.n.log.Warn("snapshot: skipped, the disk is at its free-space floor", "seq", seq, "err", err)
		return
	}
	if !s.exporting.CompareAndSwap(false, true) {
		v.Release()
		s.n.log.Warn("snapshot: the previous export is still running; skipping this one", "seq", seq)
		return
	}
	s.n.bg.Add(1)
	go func() {
		defer s.n.bg.Done()
		defer s.exporting.Store(false)
		defer v.Release()
		if err := s.export(v, meta); err != nil {
			s.n.log.Error("snapshot: export", "seq", seq, "err", err)
		}
	}()
}

// errClosing stops an export when the node closes.
var errClosing = errors.New("the node is closing")

// exportWriter fails writes once the node is closing, so that an export never holds up Close,
// and once the disk's free space falls to the node's floor (min_free_disk_mib, checked every
// diskCheckEvery bytes), so that a snapshot never takes the room the store needs.
type exportWriter struct {
	w       io.Writer
	closing *atomic.Bool
	disk    diskGuard
	pending int // bytes written since the last check
}

const diskCheckEvery = 16 << 20

func (c *exportWriter) Write(b []byte) (int, error) {
	if c.closing.Load() {
		return 0, errClosing
	}
	if c.pending += len(b); c.pending >= diskCheckEvery {
		c.pending = 0
		if err := c.disk.check(); err != nil {
			return 0, err
		}
	}
	return c.w.Write(b)
}

// export writes the snapshot file of v, signs this node's share and hands it to the ministry.
func (s *snapshots) export(v *store.View, meta ledger.Meta) error {
	start := time.Now()
	tmp := filepath.Join(s.dir, fmt.Sprintf("%d.snap.tmp", meta.Seq))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	info, err := v.ExportSnapshot(&exportWriter{w: f, closing: &s.n.closing, disk: s.n.disk})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write snapshot %d: %w", meta.Seq, err)
	}
	if err := os.Rename(tmp, s.snapPath(meta.Seq, info.Digest)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename snapshot %d: %w", meta.Seq, err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snapshot %d: %w", meta.Seq, err)
	}
	s.exported.Store(meta.Seq)
	s.prune()
	st, _ := os.Stat(s.snapPath(meta.Seq, info.Digest))
	var size int64
	if st != nil {
		size = st.Size()
	}
	s.n.log.Info("snapshot exported", "seq", meta.Seq, "pairs", info.Pairs, "bytes", size,
		"digest", info.Digest.String()[:12], "seconds", time.Since(start).Seconds())

	share := &ledger.SnapshotAttestation{Seq: meta.Seq, Checkpoint: meta.Checkpoint, StateRoot: meta.StateRoot,
		Digest: info.Digest, Keys: info.Pairs}
	share.Sign(s.n.genesis.Network, s.n.signer)
	if err := s.putShare(share); err != nil {
		return fmt.Errorf("own snapshot share %d: %w", meta.Seq, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.n.p2p.PublishSnapshotShare(ctx, share); err != nil {
		return err
	}
	return nil
}

func (s *snapshots) snapPath(seq uint64, digest ledger.Hash) string {
	return filepath.Join(s.dir, fmt.Sprintf("%d-%s.snap", seq, digest))
}

// putShare aggregates a share (this node's or another ministry member's); a complete
// attestation is written to disk and served from then on.
func (s *snapshots) putShare(share *ledger.SnapshotAttestation) error {
	if s.n.self.Role != ledger.RoleMinistry {
		return nil // bureaus forward shares; only ministry nodes hold snapshots
	}
	a, err := s.att.Add(share)
	if err != nil || a == nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%d.att", a.Seq)), a.Encode(), 0o600); err != nil {
		return fmt.Errorf("keep snapshot attestation %d: %w", a.Seq, err)
	}
	s.mu.Lock()
	s.attested[a.Seq] = a
	s.mu.Unlock()
	s.prune()
	s.n.log.Info("snapshot attested by the ministry", "seq", a.Seq, "signatures", len(a.Sigs), "digest", a.Digest.String()[:12])
	return nil
}

// prune keeps the newest keepSnapshots snapshot files and attestations.
func (s *snapshots) prune() {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	var seqs []uint64
	for _, e := range ents {
		if seq, ok := fileSeq(e.Name()); ok && !slices.Contains(seqs, seq) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	if len(seqs) <= keepSnapshots {
		return
	}
	old := seqs[:len(seqs)-keepSnapshots]
	for _, e := range ents {
		if seq, ok := fileSeq(e.Name()); ok && slices.Contains(old, seq) {
			_ = os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
	s.mu.Lock()
	for _, seq := range old {
		delete(s.attested, seq)
	}
	s.mu.Unlock()
}

// fileSeq returns the checkpoint a snapshot or attestation file is of.
func fileSeq(name string) (uint64, bool) {
	var head string
	switch {
	case strings.HasSuffix(name, ".snap"):
		head, _, _ = strings.Cut(strings.TrimSuffix(name, ".snap"), "-")
	case strings.HasSuffix(name, ".att"):
		head = strings.TrimSuffix(name, ".att")
	default:
		return 0, false
	}
	seq, err := strconv.ParseUint(head, 10, 64)
	return seq, err == nil
}

// latest returns the newest complete attestation whose snapshot, with the attested digest,
// this node holds.
func (s *snapshots) latest() (*ledger.SnapshotAttestation, error) {
	s.mu.Lock()
	as := slices.Collect(maps.Values(s.attested))
	s.mu.Unlock()
	slices.SortFunc(as, func(x, y *ledger.SnapshotAttestation) int { return cmp.Compare(y.Seq, x.Seq) }) // newest first
	for _, a := range as {
		if _, err := os.Stat(s.snapPath(a.Seq, a.Digest)); err == nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("snapshot attestation: %w", p2p.ErrNotFound)
}

// open opens the snapshot file at seq whose digest the complete attestation names.
func (s *snapshots) open(seq uint64) (p2p.SnapshotFile, int64, error) {
	s.mu.Lock()
	a := s.attested[seq]
	s.mu.Unlock()
	if a == nil {
		return nil, 0, fmt.Errorf("snapshot %d: no attestation: %w", seq, p2p.ErrNotFound)
	}
	f, err := os.Open(s.snapPath(seq, a.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("snapshot %d: %w", seq, p2p.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open snapshot %d: %w", seq, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("snapshot %d: %w", seq, err)
	}
	return f, st.Size(), nil
}

// importSnapshot replaces the empty store's state with the snapshot a attests (the store checks
// the stream against a; a failed import leaves it as it was), then moves the node to it.
func (s *snapshots) importSnapshot(r io.Reader, a *ledger.SnapshotAttestation) error {
	n := s.n
	start := time.Now()
	info, err := n.st.ImportSnapshot(r, store.SnapshotExpect{Seq: a.Seq, Checkpoint: a.Checkpoint, StateRoot: a.StateRoot, Digest: a.Digest, Pairs: a.Keys})
	if err != nil {
		if errors.Is(err, store.ErrSnapshot) {
			return fmt.Errorf("%w: %w", p2p.ErrBadSnapshot, err)
		}
		return err
	}
	n.chain.rebase(a.Seq)
	n.views.refresh()
	if reg, raw, meta, err := n.registry(); err == nil {
		n.regRaw.Store(&raw)
		n.p2p.SetMembers(reg, meta.Time)
	}
	s.imported.Store(a.Seq)
	n.log.Info("history starts at an imported snapshot", "seq", a.Seq, "pairs", info.Pairs,
		"seconds", time.Since(start).Seconds())
	return nil
}

// storedTip is a producer's last applied block: from the chain index of the stored blocks, or,
// for a history that starts at a snapshot and holds none of the producer's blocks, from the
// state.
func storedTip(v *store.View, p ledger.KeyID) (uint64, ledger.Hash, error) {
	height, hash, err := v.LatestRef(p)
	if errors.Is(err, store.ErrNotFound) && v.Base() > 0 {
		return ledger.ProducerTip(v, p)
	}
	return height, hash, err
}

// rebase moves the chain to an imported snapshot at seq: it is final, and nothing before it is
// pending.
func (c *chain) rebase(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finalSeq = max(c.finalSeq, seq)
	for s := range c.finals {
		if s <= seq {
			delete(c.finals, s)
		}
	}
	for s := range c.certs {
		if s <= seq {
			delete(c.certs, s)
		}
	}
	c.broadcast()
}

// snapSource is the node's p2p.Source with snapshots served and the history's base.
type snapSource struct {
	sourceAdapter
	s *snapshots
}

func (x snapSource) LatestAttestation() (*ledger.SnapshotAttestation, error) { return x.s.latest() }

func (x snapSource) OpenSnapshot(seq uint64) (p2p.SnapshotFile, int64, error) { return x.s.open(seq) }

// MinistryChanges implements p2p.MinistrySource: proofs of the governance records that changed
// the ministry set in checkpoints up to seq, from the store's index, for a node joining from a
// snapshot attested by a later set.
func (x snapSource) MinistryChanges(seq uint64) ([][]byte, error) {
	h := &heldView{v: x.s.n.st.View()} // the applied state, as the API's views read it
	h.refs.Store(1)
	v := &view{h: h}
	defer v.Release()
	proofs, err := api.MinistryProofs(v, seq)
	if errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrBeforeHistory) {
		return nil, fmt.Errorf("%w: %w", p2p.ErrNotFound, err) // a joined node, or a change not yet certified
	}
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(proofs))
	for i := range proofs {
		out[i] = proofs[i].Encode()
	}
	return out, nil
}

// Base implements p2p.BaseSource: the imported snapshot's checkpoint, from the state's meta.
func (x snapSource) Base() (uint64, ledger.Hash, uint64, error) {
	v := x.s.n.st.View()
	defer v.Release()
	base := v.Base()
	if base == 0 {
		return 0, ledger.Hash{}, 0, nil
	}
	meta, err := v.Meta()
	if err != nil {
		return 0, ledger.Hash{}, 0, err
	}
	if meta.Seq != base {
		return 0, ledger.Hash{}, 0, fmt.Errorf("history base %d: the state is at %d", base, meta.Seq)
	}
	return base, meta.Checkpoint, meta.Time, nil
}

// snapSink is the node's p2p.Sink with snapshot shares and imports.
type snapSink struct {
	sinkAdapter
	s *snapshots
}

func (x snapSink) PutSnapshotShare(a *ledger.SnapshotAttestation) error { return x.s.putShare(a) }

func (x snapSink) ImportSnapshot(r io.Reader, a *ledger.SnapshotAttestation) error {
	return x.s.importSnapshot(r, a)
}

// HistoryStart returns the checkpoint the node's stored history starts after: 0, or the
// snapshot it joined from.
func (n *Node) HistoryStart() uint64 { return n.snaps.base() }

// JoinedFrom returns the checkpoint of the snapshot this node joined from since it started
// (0: it did not).
func (n *Node) JoinedFrom() uint64 { return n.snaps.imported.Load() }

// StateDigest returns the position of the last applied checkpoint and the full-state digest
// there (ledger.StateDigest over every state pair): nodes at one position must agree on it.
// It reads the whole state.
func (n *Node) StateDigest() (ledger.Meta, ledger.Hash, error) {
	v := n.st.View()
	defer v.Release()
	meta, err := v.Meta()
	if err != nil {
		return meta, ledger.Hash{}, err
	}
	d, _, err := v.StateDigest()
	return meta, d, err
}
