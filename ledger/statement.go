package ledger

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/jaminan/jaminan/ledger/civil"
)

// ErrStatement is returned (wrapped) when a record proof or a statement does not verify.
var ErrStatement = errors.New("invalid statement")

// RecordProof proves, to anyone holding the genesis, that a record is in a final checkpoint and
// what its receipt was: record → block (Merkle) → checkpoint (Merkle) → receipt (Merkle) →
// state root → finality certificate.
type RecordProof struct {
	Record        []byte      `cbor:"1,keyasint" json:"record"`
	Block         BlockHeader `cbor:"2,keyasint" json:"block"`
	BlockSig      []byte      `cbor:"3,keyasint" json:"block_sig"`
	InBlock       MerkleProof `cbor:"4,keyasint" json:"in_block"`
	Checkpoint    Checkpoint  `cbor:"5,keyasint" json:"checkpoint"`
	InCheckpoint  MerkleProof `cbor:"6,keyasint" json:"in_checkpoint"`
	Code          string      `cbor:"7,keyasint" json:"code"`
	InReceipts    MerkleProof `cbor:"8,keyasint" json:"in_receipts"`
	PrevStateRoot Hash        `cbor:"9,keyasint" json:"prev_state_root"`
	WritesDigest  Hash        `cbor:"10,keyasint" json:"writes_digest"`
	Certificate   Certificate `cbor:"11,keyasint" json:"certificate"`
	// Ministry, in a proof that travels alone, proves the changes of the ministry set since
	// genesis (see MinistryHistory) so that Verify checks the certificate against the set in
	// force; absent while the set is the genesis one, and in a statement's proofs (the
	// statement carries the changes once).
	Ministry []RecordProof `cbor:"12,keyasint,omitempty" json:"ministry,omitempty"`
}

// BuildRecordProof assembles the proof of record i of block b, applied in checkpoint cb with
// result res and made final by cert.
func BuildRecordProof(b *Block, i int, cb *CheckpointBody, res *Result, cert Certificate) (*RecordProof, error) {
	if i < 0 || i >= len(b.Records) {
		return nil, fmt.Errorf("build record proof: record %d of %d", i, len(b.Records))
	}
	inBlock, err := BuildMerkleProof(recordLeaves(b.Records), i)
	if err != nil {
		return nil, fmt.Errorf("build record proof: %w", err)
	}
	bh := b.Hash()
	bi := slices.Index(cb.Blocks, bh)
	if bi < 0 {
		return nil, fmt.Errorf("build record proof: block %s not in checkpoint %d", bh, cb.Checkpoint.Seq)
	}
	inCP, err := BuildMerkleProof(blockLeaves(cb.Blocks), bi)
	if err != nil {
		return nil, fmt.Errorf("build record proof: %w", err)
	}
	// Receipts are in block order, one per record.
	if len(res.BlockCounts) != len(cb.Blocks) {
		return nil, errors.New("build record proof: result does not match the checkpoint")
	}
	ri := i
	for _, n := range res.BlockCounts[:bi] {
		ri += n
	}
	if ri >= len(res.Receipts) {
		return nil, errors.New("build record proof: receipts do not match the checkpoint")
	}
	inR, err := BuildMerkleProof(receiptLeaves(res.Receipts), ri)
	if err != nil {
		return nil, fmt.Errorf("build record proof: %w", err)
	}
	return &RecordProof{
		Record: b.Records[i], Block: b.Header, BlockSig: b.Sig, InBlock: inBlock,
		Checkpoint: cb.Checkpoint, InCheckpoint: inCP, Code: res.Receipts[ri].Code, InReceipts: inR,
		PrevStateRoot: res.PrevRoot, WritesDigest: res.WritesDigest, Certificate: cert,
	}, nil
}

// Encode returns the canonical bytes.
func (p *RecordProof) Encode() []byte { return encode(p) }

// maxRecordProof bounds one proof without ministry changes.
const maxRecordProof = MaxRecordSize + 8<<10

// DecodeRecordProof decodes an untrusted proof.
func DecodeRecordProof(b []byte) (*RecordProof, error) {
	if len(b) > (MaxMinistryChanges+1)*maxRecordProof {
		return nil, fmt.Errorf("decode record proof: %w: %d bytes", ErrEncoding, len(b))
	}
	var p RecordProof
	if err := decodeCanonical(b, &p); err != nil {
		return nil, fmt.Errorf("decode record proof: %w", err)
	}
	return &p, nil
}

// GenesisMinistry returns the ministry members of the genesis active at time t.
func GenesisMinistry(g *Genesis, t uint64) []KeyID {
	var out []KeyID
	for i := range g.Members {
		if m := &g.Members[i]; m.Role == RoleMinistry && m.ActiveAt(t) {
			out = append(out, m.ID)
		}
	}
	return out
}

// Verify checks the proof against a genesis and returns the decoded record. The certificate is
// checked against the ministry set that the proof's own changes (Ministry) give, the genesis set
// when it carries none.
func (p *RecordProof) Verify(g *Genesis) (*Record, Body, error) {
	h, err := NewMinistryHistory(g, p.Ministry)
	if err != nil {
		return nil, nil, err
	}
	return p.VerifyWith(h)
}

// VerifyWith checks the proof against the genesis of h, its certificate against the ministry
// set h gives for the proof's checkpoint, and returns the decoded record. The proof's own
// Ministry is not read.
func (p *RecordProof) VerifyWith(h *MinistryHistory) (*Record, Body, error) {
	g := h.g
	fail := func(format string, args ...any) (*Record, Body, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrStatement, fmt.Sprintf(format, args...))
	}
	rec, body, err := DecodeRecord(p.Record)
	if err != nil {
		return fail("%v", err)
	}
	if p.Block.Network != g.Network || p.Checkpoint.Network != g.Network {
		return fail("proof of another network")
	}
	if p.InBlock.Size != uint64(p.Block.Count) {
		return fail("record proof size %d, block holds %d", p.InBlock.Size, p.Block.Count)
	}
	if err := p.InBlock.Verify(LeafHash(p.Record), p.Block.Root); err != nil {
		return fail("record not in block: %v", err)
	}
	bh := p.Block.Hash()
	if err := verifySig(p.Block.Producer, blockSigMessage(bh), p.BlockSig); err != nil {
		return fail("block signature: %v", err)
	}
	if p.InCheckpoint.Size != uint64(p.Checkpoint.Count) {
		return fail("block proof size %d, checkpoint holds %d", p.InCheckpoint.Size, p.Checkpoint.Count)
	}
	if err := p.InCheckpoint.Verify(LeafHash(bh[:]), p.Checkpoint.Root); err != nil {
		return fail("block not in checkpoint: %v", err)
	}
	rroot, err := p.InReceipts.RootFromProof(LeafHash(Receipt{ID: rec.ID(), Code: p.Code}.LeafBytes()))
	if err != nil {
		return fail("receipt: %v", err)
	}
	cph := p.Checkpoint.Hash()
	root := StateRoot(p.PrevStateRoot, cph, rroot, p.WritesDigest)
	c := &p.Certificate
	if c.Seq != p.Checkpoint.Seq || c.Checkpoint != cph || c.StateRoot != root {
		return fail("certificate is for another checkpoint or state root")
	}
	if err := c.Verify(g.Network, h.Set(p.Checkpoint.Seq, p.Checkpoint.Time)); err != nil {
		return fail("certificate: %v", err)
	}
	return &rec, body, nil
}

// Statement is a worker's verifiable history: proofs of the records that concern the worker.
type Statement struct {
	Network string        `cbor:"1,keyasint" json:"network"`
	Worker  WorkerID      `cbor:"2,keyasint" json:"worker"`
	Proofs  []RecordProof `cbor:"3,keyasint" json:"proofs"`
	// Ministry proves the changes of the ministry set since genesis, in ledger order (see
	// MinistryHistory); absent while the set is the genesis one.
	Ministry []RecordProof `cbor:"4,keyasint,omitempty" json:"ministry,omitempty"`
}

// Encode returns the canonical bytes.
func (s *Statement) Encode() []byte { return encode(s) }

// DecodeStatement decodes an untrusted statement.
func DecodeStatement(b []byte) (*Statement, error) {
	if len(b) > 16<<20 {
		return nil, fmt.Errorf("decode statement: %w: %d bytes", ErrEncoding, len(b))
	}
	var s Statement
	if err := decodeCanonical(b, &s); err != nil {
		return nil, fmt.Errorf("decode statement: %w", err)
	}
	return &s, nil
}

// StatementSummary is what a verified statement proves, recomputed from its records alone.
type StatementSummary struct {
	Worker  WorkerID                 `json:"worker"`
	Regions map[string]RegionSummary `json:"regions"` // by province
	Records int                      `json:"records"`
}

// RegionSummary sums the accepted contributions of one province and scheme "pension".
type RegionSummary struct {
	Months         int   `json:"months"`
	EmployeeAmount int64 `json:"employee_amount"`
	EmployerAmount int64 `json:"employer_amount"`
}

// Verify checks the ministry changes the statement carries (NewMinistryHistory), every proof
// against the genesis and the ministry set in force at its checkpoint, that every record concerns
// the worker, and no record appears twice; it returns the sums of accepted pension contributions
// per province.
//
// Corrections count as the ledger applied them: an accepted correction takes its target out of
// the sums and puts its replacement in, in checkpoint order (a correction may target an earlier
// correction). A correction concerns the worker of its replacement and the worker of its target;
// a withdrawal, which has no replacement, is attributed through its target, which must then be
// in the statement.
func (s *Statement) Verify(g *Genesis) (*StatementSummary, error) {
	if s.Network != g.Network {
		return nil, fmt.Errorf("%w: statement of network %q", ErrStatement, truncate(s.Network))
	}
	type item struct {
		id   Hash
		body Body
		code string
		seq  uint64
		repl *Contribution // an accepted or rejected correction's replacement
	}
	h, err := NewMinistryHistory(g, s.Ministry)
	if err != nil {
		return nil, err
	}
	items := make([]item, len(s.Proofs))
	index := make(map[Hash]int, len(s.Proofs))
	for i := range s.Proofs {
		rec, body, err := s.Proofs[i].VerifyWith(h)
		if err != nil {
			return nil, fmt.Errorf("proof %d: %w", i, err)
		}
		id := rec.ID()
		if _, dup := index[id]; dup {
			return nil, fmt.Errorf("%w: proof %d repeats a record", ErrStatement, i)
		}
		index[id] = i
		items[i] = item{id: id, body: body, code: s.Proofs[i].Code, seq: s.Proofs[i].Checkpoint.Seq}
		if c, ok := body.(*Correction); ok && len(c.Replacement) > 0 {
			rb, err := DecodeBody(TypeContribution, c.Replacement)
			if err != nil {
				return nil, fmt.Errorf("%w: proof %d: replacement: %w", ErrStatement, i, err)
			}
			items[i].repl = rb.(*Contribution)
		}
	}
	// workerOfItem is the worker a record concerns; for a correction, that of its replacement.
	workerOfItem := func(it *item) (WorkerID, bool) {
		if it.repl != nil {
			return it.repl.Worker, true
		}
		return workerOf(it.body)
	}
	for i := range items {
		w, ok := workerOfItem(&items[i])
		if c, isCorr := items[i].body.(*Correction); isCorr {
			// A correction concerns the worker of its replacement and the worker of its target
			// (they differ when a contribution was booked to the wrong worker).
			ok = ok && w == s.Worker
			if t, in := index[c.Target]; in && !ok {
				tw, tok := workerOfItem(&items[t])
				ok = tok && tw == s.Worker
			}
			w = s.Worker
		}
		if !ok || w != s.Worker {
			return nil, fmt.Errorf("%w: proof %d is about another worker", ErrStatement, i)
		}
	}
	// The effective contributions: accepted ones, then accepted corrections in checkpoint order.
	effective := map[Hash]*Contribution{}
	var corrections []int
	for i, it := range items {
		switch b := it.body.(type) {
		case *Contribution:
			if it.code == CodeOK {
				effective[it.id] = b
			}
		case *Correction:
			if it.code == CodeOK {
				corrections = append(corrections, i)
			}
		}
	}
	slices.SortStableFunc(corrections, func(a, b int) int { return cmp.Compare(items[a].seq, items[b].seq) })
	for _, i := range corrections {
		delete(effective, items[i].body.(*Correction).Target)
		if r := items[i].repl; r != nil && r.Worker == s.Worker {
			effective[items[i].id] = r
		}
	}
	sum := &StatementSummary{Worker: s.Worker, Regions: map[string]RegionSummary{}, Records: len(items)}
	for i, it := range items {
		c := effective[it.id]
		if c == nil || c.Scheme != SchemePension {
			continue
		}
		prov := c.Region[:2]
		n := 1
		if c.Through != 0 {
			from, err1 := civil.PeriodFromInt(c.Period)
			to, err2 := civil.PeriodFromInt(c.Through)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%w: proof %d has an invalid period", ErrStatement, i)
			}
			n = from.MonthsThrough(to)
		}
		r := sum.Regions[prov]
		r.Months += n
		r.EmployeeAmount += c.EmployeeAmount * int64(n)
		r.EmployerAmount += c.EmployerAmount * int64(n)
		sum.Regions[prov] = r
	}
	return sum, nil
}

func workerOf(b Body) (WorkerID, bool) {
	switch x := b.(type) {
	case *Contribution:
		return x.Worker, true
	case *Employment:
		return x.Worker, true
	case *TransferApply:
		return x.Worker, true
	case *ConsentGrant:
		return x.Worker, true
	case *ConsentRevoke:
		return x.Worker, true
	case *WorkerKey:
		return x.Worker, true
	case *Access:
		return x.Worker, true
	case *PensionStart:
		return x.Worker, true
	}
	return WorkerID{}, false
}
