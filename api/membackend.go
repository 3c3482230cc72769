package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
)

// MemConfig configures a MemBackend.
type MemConfig struct {
	Genesis  *ledger.Genesis
	Pepper   []byte
	Node     *ledger.Signer   // the node's key: a bureau (or ministry) member; it produces the blocks
	Ministry []*ledger.Signer // every ministry member's key: they certify each checkpoint
	Clock    func() time.Time // nil: time.Now
}

// MemBackend is a complete in-memory Backend: a ledger.MemState and ledger.Machine that finalise
// every submission at once. Each Submit becomes one checkpoint of the node's blocks, applied and
// committed, and certified by all ministry signers; blocks, checkpoint bodies, results and
// certificates stay in memory so that proofs and statements can be served, and the indexes are
// maintained by decoding the accepted records. It serves tests and the in-memory devnet.
//
// Its views read the latest state at each call: every call is atomic, but two calls on one view
// may see different checkpoints (a node's views are snapshots).
type MemBackend struct {
	g        *ledger.Genesis
	pepper   []byte
	node     *ledger.Signer
	ministry []*ledger.Signer
	clock    func() time.Time
	machine  *ledger.Machine
	self     ledger.Member

	mu       sync.RWMutex
	evidence []Evidence
	st       *ledger.MemState
	tip      *ledger.BlockHeader
	cps      []memCheckpoint // index seq-1
	blocks   map[ledger.Hash]memBlock
	locs     map[ledger.Hash]Location
	hold     bool            // queue submissions instead of finalising them
	queued   []ledger.Record // held submissions
	pending  map[ledger.Hash]bool
	members  map[ledger.KeyID]ledger.Member
	keys     map[ledger.KeyID]ledger.WorkerID
	workers  map[ledger.WorkerID][]RecordRef
	changes  []RecordRef // accepted records that changed the ministry set
	watch    *ledger.MinistryWatch
	access   map[ledger.WorkerID][]AccessRef
	employ   map[string]map[ledger.WorkerID]Employment
	months   map[string]map[ledger.WorkerID]map[uint32]EmployerMonth
	contribs map[ledger.Hash]contribFact // accepted contributions, for corrections
	notify   chan struct{}               // closed and replaced at each checkpoint
}

type memCheckpoint struct {
	body *ledger.CheckpointBody
	cert *ledger.Certificate
	res  *ledger.Result
}

type memBlock struct {
	b     *ledger.Block
	place BlockPlace
}

type contribFact struct {
	worker   ledger.WorkerID
	employer string
	period   uint32
}

// NewMemBackend starts an in-memory ledger from the genesis.
func NewMemBackend(cfg MemConfig) (*MemBackend, error) {
	if cfg.Genesis == nil || cfg.Node == nil || len(cfg.Ministry) == 0 {
		return nil, errors.New("mem backend: genesis, node and ministry signers are required")
	}
	if err := cfg.Genesis.Validate(); err != nil {
		return nil, fmt.Errorf("mem backend: %w", err)
	}
	m := &MemBackend{
		g: cfg.Genesis, pepper: cfg.Pepper, node: cfg.Node, ministry: cfg.Ministry, clock: cfg.Clock,
		machine: ledger.NewMachine(cfg.Genesis), st: ledger.NewMemState(),
		blocks: map[ledger.Hash]memBlock{}, locs: map[ledger.Hash]Location{}, pending: map[ledger.Hash]bool{},
		members: map[ledger.KeyID]ledger.Member{}, keys: map[ledger.KeyID]ledger.WorkerID{},
		workers: map[ledger.WorkerID][]RecordRef{}, access: map[ledger.WorkerID][]AccessRef{},
		employ: map[string]map[ledger.WorkerID]Employment{}, months: map[string]map[ledger.WorkerID]map[uint32]EmployerMonth{},
		contribs: map[ledger.Hash]contribFact{}, notify: make(chan struct{}), watch: ledger.NewMinistryWatch(cfg.Genesis.Members),
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	for _, mem := range cfg.Genesis.Members {
		m.members[mem.ID] = mem
	}
	self, ok := m.members[cfg.Node.ID()]
	if !ok {
		return nil, fmt.Errorf("mem backend: node %s is not a member", cfg.Node.ID().Short())
	}
	m.self = self
	m.st.Commit(ledger.GenesisWrites(cfg.Genesis))
	return m, nil
}

// Genesis implements Backend.
func (m *MemBackend) Genesis() *ledger.Genesis { return m.g }

// Pepper implements Backend.
func (m *MemBackend) Pepper() []byte { return m.pepper }

// Signer implements Backend.
func (m *MemBackend) Signer() *ledger.Signer { return m.node }

// Now implements Backend.
func (m *MemBackend) Now() time.Time { return m.clock() }

// Status implements Backend.
func (m *MemBackend) Status(context.Context) (Status, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	meta, err := ledger.ReadMeta(m.st)
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	s := Status{NodeID: m.node.ID(), Role: m.self.Role, Region: m.self.Region, Network: m.g.Network,
		Peers: len(m.ministry), Ready: true,
		Finalized: Finalized{Seq: meta.Seq, Hash: meta.Checkpoint, StateRoot: meta.StateRoot, Time: meta.Time}}
	return s, nil
}

// Member implements Backend.
func (m *MemBackend) Member(id ledger.KeyID) (ledger.Member, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.members[id]
	return mem, ok, nil
}

// Pending implements Backend.
func (m *MemBackend) Pending(id ledger.Hash) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.pending[id]
}

// Hold makes Submit acknowledge records without finalising them (they stay pending) until
// Finalize, so that tests can observe the pending state.
func (m *MemBackend) Hold() {
	m.mu.Lock()
	m.hold = true
	m.mu.Unlock()
}

// Finalize ends Hold and finalises the held records in one checkpoint.
func (m *MemBackend) Finalize() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hold = false
	recs := m.queued
	m.queued = nil
	if len(recs) == 0 {
		return nil
	}
	return m.finalise(recs)
}

// Submit implements Backend: the records are finalised in one checkpoint before it returns.
func (m *MemBackend) Submit(ctx context.Context, recs []ledger.Record) ([]SubmitResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]SubmitResult, len(recs))
	var ok []ledger.Record
	for i := range recs {
		out[i].ID = recs[i].ID()
		if n := len(recs[i].Encode()); n > ledger.MaxRecordSize {
			out[i].Code, out[i].Message = ledger.CodeFormat, fmt.Sprintf("record of %d bytes exceeds %d", n, ledger.MaxRecordSize)
			continue
		}
		ok = append(ok, recs[i])
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hold {
		for _, r := range ok {
			m.pending[r.ID()] = true
		}
		m.queued = append(m.queued, ok...)
		return out, nil
	}
	if len(ok) == 0 {
		return out, nil
	}
	if err := m.finalise(ok); err != nil {
		return nil, fmt.Errorf("submit: %w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// finalise packs recs into blocks, orders them in one checkpoint, applies, commits and
// certifies it, and updates the indexes. m.mu is held.
func (m *MemBackend) finalise(recs []ledger.Record) error {
	now := uint64(m.clock().UnixMilli())
	var blocks []*ledger.Block
	var cur [][]byte
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := ledger.BuildBlock(m.node, m.g.Network, m.tip, now, cur)
		if err != nil {
			return fmt.Errorf("build block: %w", err)
		}
		h := b.Header
		m.tip = &h
		blocks = append(blocks, b)
		cur, size = nil, 0
		return nil
	}
	for i := range recs {
		enc := recs[i].Encode()
		if len(cur) == ledger.MaxBlockRecords || size+len(enc)+64 > ledger.MaxBlockSize/2 {
			if err := flush(); err != nil {
				return err
			}
		}
		cur = append(cur, enc)
		size += len(enc)
	}
	if err := flush(); err != nil {
		return err
	}
	meta, err := ledger.ReadMeta(m.st)
	if err != nil {
		return err
	}
	hashes := make([]ledger.Hash, len(blocks))
	for i, b := range blocks {
		hashes[i] = b.Hash()
	}
	cb := ledger.NewCheckpoint(m.g.Network, meta.Seq+1, meta.Checkpoint, max(now, meta.Time), hashes)
	res, err := m.machine.Apply(m.st, &cb, blocks)
	if err != nil {
		// The tip advanced for blocks that were never ordered: start the chain again from the
		// last applied block so the next submission still follows it.
		m.rewindTip(meta.Seq)
		return fmt.Errorf("apply checkpoint %d: %w", cb.Checkpoint.Seq, err)
	}
	m.st.Commit(res.Writes)
	res.Writes = nil // proofs need only the receipts, counts and digests
	votes := make([]ledger.Vote, len(m.ministry))
	for i, s := range m.ministry {
		votes[i] = ledger.SignVote(s, m.g.Network, cb.Checkpoint.Seq, res.Checkpoint, res.StateRoot)
	}
	cert := ledger.Certify(cb.Checkpoint.Seq, res.Checkpoint, res.StateRoot, votes)
	m.cps = append(m.cps, memCheckpoint{body: &cb, cert: &cert, res: res})
	m.index(&cb, blocks, res)
	for i := range recs {
		delete(m.pending, recs[i].ID())
	}
	close(m.notify)
	m.notify = make(chan struct{})
	return nil
}

// rewindTip resets the producer's tip to its last block in a final checkpoint.
func (m *MemBackend) rewindTip(seq uint64) {
	m.tip = nil
	for s := seq; s >= 1 && m.tip == nil; s-- {
		bs := m.cps[s-1].body.Blocks
		for i := len(bs) - 1; i >= 0; i-- {
			if b := m.blocks[bs[i]].b; b != nil && b.Header.Producer == m.node.ID() {
				h := b.Header
				m.tip = &h
				break
			}
		}
	}
}

// index records the blocks, locations and secondary indexes of an applied checkpoint.
func (m *MemBackend) index(cb *ledger.CheckpointBody, blocks []*ledger.Block, res *ledger.Result) {
	seq := cb.Checkpoint.Seq
	ri := 0
	var ord uint32
	for bi, b := range blocks {
		bh := cb.Blocks[bi]
		m.blocks[bh] = memBlock{b: b, place: BlockPlace{Seq: seq, Index: uint32(bi)}}
		for i, raw := range b.Records {
			r := res.Receipts[ri]
			ri++
			pos := Pos{Seq: seq, Ord: ord}
			ord++
			// The application that decided a record: the first that was not a duplicate, or the
			// first in a rejected block when it was never applied otherwise (as the store does).
			if old, seen := m.locs[r.ID]; !seen || (old.Code == ledger.CodeBlock && r.Code != ledger.CodeDuplicate) {
				m.locs[r.ID] = Location{Seq: seq, Block: bh, BlockIndex: uint32(bi), Index: uint32(i), Code: r.Code, Message: r.Message}
			}
			if r.Code != ledger.CodeOK {
				continue
			}
			rec, body, err := ledger.DecodeRecord(raw)
			if err != nil {
				continue // cannot happen for an accepted record
			}
			m.indexRecord(RecordRef{Pos: pos, ID: r.ID, Type: rec.Type}, body)
		}
	}
}

func (m *MemBackend) addWorker(w ledger.WorkerID, ref RecordRef) {
	m.workers[w] = append(m.workers[w], ref)
}

func (m *MemBackend) indexRecord(ref RecordRef, body ledger.Body) {
	if m.watch.Changes(body) {
		m.changes = append(m.changes, ref)
	}
	switch b := body.(type) {
	case *ledger.Contribution:
		m.addWorker(b.Worker, ref)
		m.contribs[ref.ID] = contribFact{worker: b.Worker, employer: b.Employer, period: b.Period}
		m.addMonth(b, ref.ID)
	case *ledger.Employment:
		m.addWorker(b.Worker, ref)
		byW := m.employ[b.Employer]
		if byW == nil {
			byW = map[ledger.WorkerID]Employment{}
			m.employ[b.Employer] = byW
		}
		byW[b.Worker] = Employment{Worker: b.Worker, Start: b.Start, End: b.End, Record: ref.ID}
	case *ledger.Correction:
		old, ok := m.contribs[b.Target]
		if !ok {
			return
		}
		m.addWorker(old.worker, ref)
		if byW := m.months[old.employer]; byW != nil && byW[old.worker] != nil {
			delete(byW[old.worker], old.period)
		}
		if len(b.Replacement) > 0 {
			if nb, err := ledger.DecodeBody(ledger.TypeContribution, b.Replacement); err == nil {
				c := nb.(*ledger.Contribution)
				m.contribs[ref.ID] = contribFact{worker: c.Worker, employer: c.Employer, period: c.Period}
				m.addMonth(c, ref.ID)
			}
		}
	case *ledger.TransferApply:
		m.addWorker(b.Worker, ref)
	case *ledger.TransferLetter:
		m.addCase(b.Case, ref)
	case *ledger.TransferOut:
		m.addCase(b.Case, ref)
	case *ledger.TransferIn:
		m.addCase(b.Case, ref)
	case *ledger.TransferReject:
		m.addCase(b.Case, ref)
	case *ledger.ConsentGrant:
		m.addWorker(b.Worker, ref)
	case *ledger.ConsentRevoke:
		m.addWorker(b.Worker, ref)
	case *ledger.WorkerKey:
		m.addWorker(b.Worker, ref)
		for k, w := range m.keys {
			if w == b.Worker {
				delete(m.keys, k)
			}
		}
		if !b.Revoke {
			m.keys[b.Key] = b.Worker
		}
	case *ledger.Access:
		m.addWorker(b.Worker, ref)
		m.access[b.Worker] = append(m.access[b.Worker], AccessRef{RecordRef: ref, Reader: b.Reader, What: b.What})
	case *ledger.PensionStart:
		m.addWorker(b.Worker, ref)
	case *ledger.GovMember:
		m.members[b.Member.ID] = b.Member
	case *ledger.GovRevoke:
		if mem, ok := m.members[b.Member]; ok {
			mem.Revoked = true
			m.members[b.Member] = mem
		}
	}
}

func (m *MemBackend) addCase(c ledger.Hash, ref RecordRef) {
	if t, ok, err := ledger.GetTransfer(m.st, c); err == nil && ok {
		m.addWorker(t.Worker, ref)
	}
}

func (m *MemBackend) addMonth(c *ledger.Contribution, id ledger.Hash) {
	if c.Employer == "" {
		return
	}
	byW := m.months[c.Employer]
	if byW == nil {
		byW = map[ledger.WorkerID]map[uint32]EmployerMonth{}
		m.months[c.Employer] = byW
	}
	if byW[c.Worker] == nil {
		byW[c.Worker] = map[uint32]EmployerMonth{}
	}
	through := c.Through
	if through == 0 {
		through = c.Period
	}
	byW[c.Worker][c.Period] = EmployerMonth{Worker: c.Worker, Period: c.Period, Through: through, Record: id}
}

// WaitFinal implements Backend.
func (m *MemBackend) WaitFinal(ctx context.Context, after uint64) (uint64, error) {
	for {
		m.mu.RLock()
		seq, ch := uint64(len(m.cps)), m.notify
		m.mu.RUnlock()
		if seq > after {
			return seq, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// View implements Backend.
func (m *MemBackend) View(context.Context) (View, error) { return memView{m}, nil }

// Today returns the node's current date in the network's time zone.
func (m *MemBackend) Today() civil.Date {
	return civil.DateOfUnixMilli(m.clock().UnixMilli(), int(m.g.UTCOffset))
}

type memView struct{ m *MemBackend }

func (v memView) Release() {}

func (v memView) Get(key []byte) ([]byte, bool, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	val, ok, err := v.m.st.Get(key)
	return bytes.Clone(val), ok, err
}

func (v memView) Checkpoint(seq uint64) (*ledger.CheckpointBody, *ledger.Certificate, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	if seq == 0 || seq > uint64(len(v.m.cps)) {
		return nil, nil, fmt.Errorf("checkpoint %d: %w", seq, ErrNotFound)
	}
	c := v.m.cps[seq-1]
	return c.body, c.cert, nil
}

func (v memView) Block(h ledger.Hash) (*ledger.Block, BlockPlace, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	b, ok := v.m.blocks[h]
	if !ok {
		return nil, BlockPlace{}, fmt.Errorf("block %s: %w", h, ErrNotFound)
	}
	return b.b, b.place, nil
}

func (v memView) Record(id ledger.Hash) ([]byte, Location, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	loc, ok := v.m.locs[id]
	if !ok {
		return nil, Location{}, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	return v.m.blocks[loc.Block].b.Records[loc.Index], loc, nil
}

func (v memView) RecordProof(id ledger.Hash) (*ledger.RecordProof, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	loc, ok := v.m.locs[id]
	if !ok {
		return nil, fmt.Errorf("proof of record %s: %w", id, ErrNotFound)
	}
	c := v.m.cps[loc.Seq-1]
	p, err := ledger.BuildRecordProof(v.m.blocks[loc.Block].b, int(loc.Index), c.body, c.res, *c.cert)
	if err != nil {
		return nil, fmt.Errorf("proof of record %s: %w", id, err)
	}
	return p, nil
}

func (v memView) WorkerOfKey(k ledger.KeyID) (ledger.WorkerID, bool, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	w, ok := v.m.keys[k]
	return w, ok, nil
}

const memPage = 1000

func page[T any](all []T, pos func(T) Pos, after Pos, limit int) []T {
	if limit <= 0 {
		limit = memPage
	}
	i, _ := slices.BinarySearchFunc(all, after, func(e T, p Pos) int {
		a := pos(e)
		switch {
		case a.Seq != p.Seq:
			return cmpU64(a.Seq, p.Seq)
		default:
			return cmpU64(uint64(a.Ord), uint64(p.Ord))
		}
	})
	if i < len(all) && pos(all[i]) == after && after != (Pos{}) {
		i++
	}
	return slices.Clone(all[i:min(len(all), i+limit)])
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (v memView) WorkerRecords(w ledger.WorkerID, after Pos, limit int) ([]RecordRef, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	return page(v.m.workers[w], func(r RecordRef) Pos { return r.Pos }, after, limit), nil
}

func (v memView) MinistryChanges(after Pos, limit int) ([]RecordRef, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	return page(v.m.changes, func(r RecordRef) Pos { return r.Pos }, after, limit), nil
}

func (v memView) WorkerAccess(w ledger.WorkerID, after Pos, limit int) ([]AccessRef, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	return page(v.m.access[w], func(r AccessRef) Pos { return r.Pos }, after, limit), nil
}

func (v memView) EmployerEmployments(employer string, after ledger.WorkerID, limit int) ([]Employment, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	if limit <= 0 {
		limit = memPage
	}
	var out []Employment
	for w, e := range v.m.employ[employer] {
		if after.IsZero() || bytes.Compare(w[:], after[:]) > 0 {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Employment) int { return bytes.Compare(a.Worker[:], b.Worker[:]) })
	return out[:min(len(out), limit)], nil
}

func (v memView) EmployerMonths(employer string, after EmployerMonth, limit int) ([]EmployerMonth, error) {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	if limit <= 0 {
		limit = memPage
	}
	var out []EmployerMonth
	for _, byP := range v.m.months[employer] {
		for _, em := range byP {
			if after == (EmployerMonth{}) || monthLess(after, em) {
				out = append(out, em)
			}
		}
	}
	slices.SortFunc(out, func(a, b EmployerMonth) int {
		if c := bytes.Compare(a.Worker[:], b.Worker[:]); c != 0 {
			return c
		}
		return cmpU64(uint64(a.Period), uint64(b.Period))
	})
	return out[:min(len(out), limit)], nil
}

func monthLess(a, b EmployerMonth) bool {
	if c := bytes.Compare(a.Worker[:], b.Worker[:]); c != 0 {
		return c < 0
	}
	return a.Period < b.Period
}

// Evidence implements Backend.
func (m *MemBackend) Evidence() []Evidence {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]Evidence(nil), m.evidence...)
}

// AddEvidence records a proof of misbehaviour, as the node's consensus and network layers do.
func (m *MemBackend) AddEvidence(e Evidence) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evidence = append(m.evidence, e)
}

// Admin implements Backend: the in-memory backend runs no Raft group.
func (m *MemBackend) Admin(ctx context.Context, action string, peer ledger.KeyID) error {
	return fmt.Errorf("%s: %w", action, ErrNotMinistry)
}
