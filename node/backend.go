package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/jaminan/jaminan/consensus"
	"github.com/libp2p/go-libp2p/core/peer"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/store"
)

// heldView is a store view shared by the API's readers, reference-counted: the node keeps one
// reference while it is the current final view, each reader one more.
type heldView struct {
	v    *store.View
	refs atomic.Int64
	meta ledger.Meta
}

func (h *heldView) release() {
	if h.refs.Add(-1) == 0 {
		h.v.Release()
	}
}

// finalViews keeps the newest store view whose checkpoint is final. On a bureau every applied
// checkpoint is final; a ministry node applies before the certificate exists, so its view moves
// only when the last applied checkpoint is final.
type finalViews struct {
	st      *store.Store
	chain   *chain
	onFinal func(ledger.Meta) // after a newer final view is taken (nil: nothing)

	mu  sync.Mutex
	cur *heldView
}

// refresh takes a new view if the store's last applied checkpoint is final and newer.
func (f *finalViews) refresh() {
	fs, _ := f.chain.FinalSeq()
	v := f.st.View()
	meta, err := v.Meta()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || meta.Seq > fs || (f.cur != nil && meta.Seq <= f.cur.meta.Seq) {
		v.Release()
		return
	}
	h := &heldView{v: v, meta: meta}
	h.refs.Store(1)
	old := f.cur
	f.cur = h
	if old != nil {
		old.release()
	}
	if f.onFinal != nil {
		f.onFinal(meta)
	}
}

func (f *finalViews) acquire() (*heldView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		return nil, fmt.Errorf("read view: %w: the node is not started", api.ErrUnavailable)
	}
	f.cur.refs.Add(1)
	return f.cur, nil
}

func (f *finalViews) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.release()
		f.cur = nil
	}
}

// backend implements api.Backend over the node's store, producer and network.
type backend struct {
	n *Node
}

var _ api.Backend = backend{}

func (b backend) Status(ctx context.Context) (api.Status, error) {
	n := b.n
	h, err := n.views.acquire()
	if err != nil {
		return api.Status{}, err
	}
	defer h.release()
	s := api.Status{NodeID: n.signer.ID(), Role: n.self.Role, Region: n.self.Region, Network: n.genesis.Network,
		Finalized: api.Finalized{Seq: h.meta.Seq, Hash: h.meta.Checkpoint, StateRoot: h.meta.StateRoot, Time: h.meta.Time}}
	if n.p2p != nil {
		s.Peers = len(n.p2p.Host().Network().Peers())
		s.Lag = n.p2p.Lag()
	}
	if fs, _ := n.chain.FinalSeq(); fs > h.meta.Seq {
		s.Lag = max(s.Lag, fs-h.meta.Seq)
	}
	s.Ready = n.Ready()
	s.HistoryStart = h.v.Base()
	return s, nil
}

func (b backend) Genesis() *ledger.Genesis { return b.n.genesis }
func (b backend) Pepper() []byte           { return b.n.pepper }
func (b backend) Signer() *ledger.Signer   { return b.n.signer }
func (b backend) Now() time.Time           { return b.n.clock() }

// Member reads the registry as of the last final checkpoint.
func (b backend) Member(id ledger.KeyID) (ledger.Member, bool, error) {
	h, err := b.n.views.acquire()
	if err != nil {
		return ledger.Member{}, false, err
	}
	defer h.release()
	reg, err := readRegistry(h.v)
	if err != nil {
		return ledger.Member{}, false, err
	}
	for _, m := range reg {
		if m.ID == id {
			return m, true, nil
		}
	}
	return ledger.Member{}, false, nil
}

// registryKey and keyWorkerPrefix mirror ledger/keys.go (keyRegistry, pfxKeyW): the ledger does
// not export a registry reader or a worker-key lookup yet (api/DESIGN.md "Open points").
var registryKey = []byte("Mregistry")

const keyWorkerPrefix = 'K'

func readRegistry(st ledger.StateReader) ([]ledger.Member, error) {
	raw, ok, err := st.Get(registryKey)
	if err != nil {
		return nil, fmt.Errorf("read member registry: %w", err)
	}
	if !ok {
		return nil, nil
	}
	var reg []ledger.Member
	if err := cbor.Unmarshal(raw, &reg); err != nil {
		return nil, fmt.Errorf("decode member registry: %w", err)
	}
	return reg, nil
}

func (b backend) Submit(ctx context.Context, recs []ledger.Record) ([]api.SubmitResult, error) {
	if b.n.prod == nil || b.n.closing.Load() {
		return nil, fmt.Errorf("submit: %w: the node is shutting down", api.ErrUnavailable)
	}
	if err := b.n.disk.check(); err != nil {
		b.n.metrics.refused.WithLabelValues("disk_full").Add(float64(len(recs)))
		return nil, fmt.Errorf("submit: %w", err)
	}
	res, err := b.n.prod.Submit(ctx, recs)
	switch {
	case err == nil:
		b.n.metrics.submitted.Add(float64(len(recs)))
	case isNoSpace(err):
		b.n.metrics.refused.WithLabelValues("disk_full").Add(float64(len(recs)))
		err = fmt.Errorf("submit: %w: %w", errNoSpace, err)
	case errors.Is(err, errBusy):
		b.n.metrics.refused.WithLabelValues("busy").Add(float64(len(recs)))
	}
	return res, err
}

func (b backend) Pending(id ledger.Hash) bool { return b.n.prod != nil && b.n.prod.Pending(id) }

func (b backend) View(ctx context.Context) (api.View, error) {
	h, err := b.n.views.acquire()
	if err != nil {
		return nil, err
	}
	return &view{h: h}, nil
}

func (b backend) WaitFinal(ctx context.Context, after uint64) (uint64, error) {
	for {
		b.n.views.mu.Lock()
		cur := b.n.views.cur
		b.n.views.mu.Unlock()
		_, wake := b.n.chain.Final()
		if cur != nil && cur.meta.Seq > after {
			return cur.meta.Seq, nil
		}
		select {
		case <-wake:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// view implements api.View over a store view.
type view struct {
	h    *heldView
	once sync.Once
}

func apiErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	}
	return err
}

func (v *view) Get(key []byte) ([]byte, bool, error) { return v.h.v.Get(key) }

func (v *view) Release() { v.once.Do(v.h.release) }

func (v *view) Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	if seq > v.h.meta.Seq {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, api.ErrNotFound)
	}
	if base := v.h.v.Base(); seq <= base {
		return nil, nil, fmt.Errorf("checkpoint %d: %w: it starts after checkpoint %d (joined from a snapshot)", seq, api.ErrBeforeHistory, base)
	}
	cb, err := v.h.v.Checkpoint(seq)
	if err != nil {
		return nil, nil, apiErr(err)
	}
	cert, err := v.h.v.Certificate(seq)
	if err != nil {
		return nil, nil, apiErr(err)
	}
	return cb, cert, nil
}

func (v *view) Block(h ledger.Hash) (*ledger.Block, api.BlockPlace, error) {
	b, p, err := v.h.v.Block(h)
	if err != nil {
		err = apiErr(err)
		if base := v.h.v.Base(); base != 0 && errors.Is(err, api.ErrNotFound) {
			// The hash names nothing this node can check: a block from before its history
			// would not be here either, so say so (still "not found").
			err = fmt.Errorf("%w (this node's history starts after checkpoint %d: it joined from a snapshot and holds no earlier blocks)", err, base)
		}
		return nil, api.BlockPlace{}, err
	}
	return b, api.BlockPlace{Seq: p.Seq, Index: p.Index}, nil
}

func (v *view) Record(id ledger.Hash) ([]byte, api.Location, error) {
	raw, loc, err := v.h.v.Record(id)
	if err != nil {
		return nil, api.Location{}, v.beforeHistory(id, apiErr(err))
	}
	out := api.Location{Seq: loc.Seq, Block: loc.Block, BlockIndex: loc.BlockIndex, Index: loc.Index, Code: loc.Code}
	if loc.Code != ledger.CodeOK {
		if res, err := v.h.v.Result(loc.Seq); err == nil && res != nil {
			ord := int(loc.Index)
			for i := 0; i < int(loc.BlockIndex) && i < len(res.BlockCounts); i++ {
				ord += res.BlockCounts[i]
			}
			if ord < len(res.Receipts) && res.Receipts[ord].ID == id {
				out.Message = res.Receipts[ord].Message
			}
		}
	}
	return raw, out, nil
}

func (v *view) RecordProof(id ledger.Hash) (*ledger.RecordProof, error) {
	p, err := v.h.v.RecordProof(id)
	if err != nil {
		return nil, v.beforeHistory(id, apiErr(err))
	}
	return p, nil
}

// beforeHistory turns "not found" for a record applied before the history this node holds (it
// joined from a snapshot; the state knows the record, the store not where it was) into
// api.ErrBeforeHistory: the record exists, this node cannot show it.
func (v *view) beforeHistory(id ledger.Hash, err error) error {
	base := v.h.v.Base()
	if base == 0 || !errors.Is(err, api.ErrNotFound) {
		return err
	}
	if _, seq, ok, serr := ledger.RecordStatus(v.h.v, id); serr == nil && ok && seq <= base {
		return fmt.Errorf("record %s: %w: applied at checkpoint %d, and this node's history starts after %d (joined from a snapshot)",
			id, api.ErrBeforeHistory, seq, base)
	}
	return err
}

func (v *view) WorkerOfKey(k ledger.KeyID) (ledger.WorkerID, bool, error) {
	raw, ok, err := v.h.v.Get(append([]byte{keyWorkerPrefix}, []byte(k)...))
	if err != nil || !ok {
		return ledger.WorkerID{}, false, err
	}
	var w ledger.WorkerID
	if len(raw) != len(w) {
		return w, false, fmt.Errorf("worker of key %s: %w: %d bytes", k.Short(), store.ErrCorrupt, len(raw))
	}
	copy(w[:], raw)
	return w, true, nil
}

func refs(in []store.RecordRef) []api.RecordRef {
	out := make([]api.RecordRef, len(in))
	for i, r := range in {
		out[i] = api.RecordRef{Pos: api.Pos{Seq: r.Seq, Ord: r.Ord}, ID: r.ID, Type: r.Type}
	}
	return out
}

const defaultPage = 1000

func page(limit int) int {
	if limit <= 0 {
		return defaultPage
	}
	return limit
}

// listBeforeHistory refuses a list that would begin before this node's history: a node that
// joined from a snapshot indexes only what came after it, and a list missing its beginning would
// read as complete (a worker's statement, a consent search, an employer's months). afterSeq is
// the checkpoint the list starts after; lists not ordered by checkpoint pass 0.
func (v *view) listBeforeHistory(what string, afterSeq uint64) error {
	base := v.h.v.Base()
	if base == 0 || afterSeq >= base {
		return nil
	}
	return fmt.Errorf("%s: %w: this node's history starts after checkpoint %d (it joined from a snapshot), so it cannot list what came before; ask a node with the whole history",
		what, api.ErrBeforeHistory, base)
}

func (v *view) WorkerRecords(w ledger.WorkerID, after api.Pos, limit int) ([]api.RecordRef, error) {
	if err := v.listBeforeHistory("records of the worker", after.Seq); err != nil {
		return nil, err
	}
	rs, err := v.h.v.WorkerRecords(w, store.Pos{Seq: after.Seq, Ord: after.Ord}, page(limit))
	if err != nil {
		return nil, apiErr(err)
	}
	return refs(rs), nil
}

func (v *view) MinistryChanges(after api.Pos, limit int) ([]api.RecordRef, error) {
	if err := v.listBeforeHistory("changes of the ministry set", after.Seq); err != nil {
		return nil, err
	}
	rs, err := v.h.v.MinistryChanges(store.Pos{Seq: after.Seq, Ord: after.Ord}, page(limit))
	if err != nil {
		return nil, apiErr(err)
	}
	return refs(rs), nil
}

func (v *view) WorkerAccess(w ledger.WorkerID, after api.Pos, limit int) ([]api.AccessRef, error) {
	if err := v.listBeforeHistory("access records of the worker", after.Seq); err != nil {
		return nil, err
	}
	rs, err := v.h.v.WorkerAccess(w, store.Pos{Seq: after.Seq, Ord: after.Ord}, page(limit))
	if err != nil {
		return nil, apiErr(err)
	}
	out := make([]api.AccessRef, len(rs))
	for i, r := range rs {
		out[i] = api.AccessRef{RecordRef: api.RecordRef{Pos: api.Pos{Seq: r.Seq, Ord: r.Ord}, ID: r.ID, Type: r.Type},
			Reader: r.Reader, What: r.What}
	}
	return out, nil
}

func (v *view) EmployerEmployments(employer string, after ledger.WorkerID, limit int) ([]api.Employment, error) {
	if err := v.listBeforeHistory("employments of the employer", 0); err != nil {
		return nil, err
	}
	es, err := v.h.v.EmployerEmployments(employer, after, page(limit))
	if err != nil {
		return nil, apiErr(err)
	}
	out := make([]api.Employment, len(es))
	for i, e := range es {
		out[i] = api.Employment{Worker: e.Worker, Start: e.Start, End: e.End, Record: e.Record}
	}
	return out, nil
}

func (v *view) EmployerMonths(employer string, after api.EmployerMonth, limit int) ([]api.EmployerMonth, error) {
	if err := v.listBeforeHistory("months of the employer", 0); err != nil {
		return nil, err
	}
	ms, err := v.h.v.EmployerMonths(employer, store.EmployerMonth{Worker: after.Worker, Period: after.Period,
		Through: after.Through, Record: after.Record}, page(limit))
	if err != nil {
		return nil, apiErr(err)
	}
	out := make([]api.EmployerMonth, len(ms))
	for i, m := range ms {
		out[i] = api.EmployerMonth{Worker: m.Worker, Period: m.Period, Through: m.Through, Record: m.Record}
	}
	return out, nil
}

// Evidence implements api.Backend: what the network layer proved (double blocks) and, on a
// ministry node, what consensus proved (double votes, roots the majority did not certify),
// each item once, in ID order.
func (b backend) Evidence() []api.Evidence {
	all := b.n.evidence.List()
	if m := b.n.ministry.Load(); m != nil {
		all = append(all, m.EvidenceList()...)
	}
	seen := map[ledger.Hash]bool{}
	var out []api.Evidence
	for _, e := range all {
		id := e.ID()
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, api.Evidence{ID: id, Kind: e.Kind.String(), Offender: e.Offender(), Encoded: e.Encode()})
	}
	slices.SortFunc(out, func(x, y api.Evidence) int { return bytes.Compare(x.ID[:], y.ID[:]) })
	return out
}

// Admin implements api.Backend on a ministry node through its Raft orderer.
func (b backend) Admin(ctx context.Context, action string, id ledger.KeyID) error {
	m := b.n.ministry.Load()
	if m == nil {
		return fmt.Errorf("%s: %w", action, api.ErrNotMinistry)
	}
	o := m.Orderer
	var err error
	switch action {
	case "add-voter":
		err = o.AddVoter(ctx, peer.ID(id))
	case "remove-voter":
		err = o.RemoveVoter(ctx, peer.ID(id))
	case "transfer-leadership":
		err = o.TransferLeadership(ctx, peer.ID(id))
	default:
		return fmt.Errorf("unknown admin action %q", action)
	}
	if errors.Is(err, consensus.ErrNotLeader) {
		return fmt.Errorf("%s: %w; the leader is %s", action, api.ErrNotLeader, o.Leader())
	}
	return err
}
