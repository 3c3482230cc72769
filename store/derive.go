package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ids"
)

// maxMessage bounds the receipt message kept per record (messages are for people and are not
// hashed), so that the receipts of a full block stay near a megabyte.
const maxMessage = 256

// changes builds the change set of checkpoint cb on top of view v: checkpoint, result summary,
// receipts, blocks and their places, record locations and the indexes (the state writes go to
// the state engine directly, Store.applyLocked).
func (s *Store) changes(v *View, cb *ledger.CheckpointBody, blocks []*ledger.Block, res *ledger.Result, cert *ledger.Certificate) (*changeSet, error) {
	seq := cb.Checkpoint.Seq
	cs := &changeSet{ops: make([]entry, 0, 3*len(res.Receipts)+3*len(blocks)+3)}
	cs.put(seqKey(pfxCkpt, seq), cb.Encode())
	cs.put(seqKey(pfxSummary, seq), summary{checkpoint: res.Checkpoint, prevRoot: res.PrevRoot, receiptsRoot: res.ReceiptsRoot,
		writesDigest: res.WritesDigest, stateRoot: res.StateRoot}.encode())
	if cert != nil {
		cs.put(seqKey(pfxCert, seq), cert.Encode())
	}
	d := &deriver{v: v, cs: cs, seq: seq, pre: &s.pre, extra: s.genesis.ExtraRegions, decided: map[ledger.Hash]bool{},
		bodies: map[ledger.Hash]*ledger.Contribution{}, cases: map[ledger.Hash]caseInfo{}}
	off := 0
	for j, b := range blocks {
		h := cb.Blocks[j]
		rs := res.Receipts[off : off+len(b.Records)]
		// A block ordered a second time (rejected then) keeps the place of its first ordering.
		placed, err := v.has(placeKey(h))
		if err != nil {
			return nil, fmt.Errorf("read place of block %s: %w", h, err)
		}
		if !placed {
			cs.putBlock(blockKey(h), blockValue(b.Encode()))
			cs.put(placeKey(h), appendU32(appendU64(nil, seq), uint32(j)))
		}
		if len(rs) > 0 && rs[0].Code != ledger.CodeBlock {
			if p, ok := chainPrefix(b.Header.Producer); ok {
				cs.put(appendU64(p, b.Header.Height), h[:])
			}
		}
		cs.put(receiptsKey(seq, uint32(j)), encodeReceipts(rs))
		for i, rc := range rs {
			if err := d.record(uint32(j), h, uint32(i), uint32(off+i), b.Records[i], rc); err != nil {
				return nil, err
			}
		}
		off += len(rs)
	}
	return cs, nil
}

func encodeReceipts(rs []ledger.Receipt) []byte {
	b := appendU32(nil, uint32(len(rs)))
	for _, r := range rs {
		b = append(b, r.ID[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(min(len(r.Code), 0xffff)))
		b = append(b, r.Code[:min(len(r.Code), 0xffff)]...)
		msg := truncateUTF8(r.Message, maxMessage)
		b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// scanReceipts walks an encoded receipt list without copying: fn gets each receipt's position,
// ID and code (valid only during the call).
func scanReceipts(b []byte, fn func(i uint32, id, code []byte)) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: short receipt list", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	for i := range n {
		if len(b) < 34 {
			return fmt.Errorf("%w: short receipt", ErrCorrupt)
		}
		id := b[:32]
		cl := int(binary.BigEndian.Uint16(b[32:]))
		if len(b) < 34+cl+2 {
			return fmt.Errorf("%w: short receipt", ErrCorrupt)
		}
		code := b[34 : 34+cl]
		ml := int(binary.BigEndian.Uint16(b[34+cl:]))
		if len(b) < 36+cl+ml {
			return fmt.Errorf("%w: short receipt", ErrCorrupt)
		}
		fn(i, id, code)
		b = b[36+cl+ml:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: trailing bytes after receipts", ErrCorrupt)
	}
	return nil
}

func decodeReceipts(b []byte) ([]ledger.Receipt, error) {
	if len(b) < 4 {
		return nil, errors.New("short receipt list")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b))/36 {
		return nil, fmt.Errorf("%d receipts in %d bytes", n, len(b))
	}
	rs := make([]ledger.Receipt, n)
	for i := range rs {
		var str [2]string
		if len(b) < 32 {
			return nil, errors.New("short receipt")
		}
		copy(rs[i].ID[:], b)
		b = b[32:]
		for j := range str {
			if len(b) < 2 || int(binary.BigEndian.Uint16(b))+2 > len(b) {
				return nil, errors.New("short receipt")
			}
			l := int(binary.BigEndian.Uint16(b))
			str[j] = string(b[2 : 2+l])
			b = b[2+l:]
		}
		rs[i].Code, rs[i].Message = str[0], str[1]
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes after receipts")
	}
	return rs, nil
}

// deriver derives the locations and index entries of one checkpoint's records.
type deriver struct {
	v     *View // the state and indexes before the checkpoint
	cs    *changeSet
	seq   uint64
	pre   *preDecoded // contributions the state machine decoded (Store.Apply), by position
	extra []string    // genesis ExtraRegions, for provinces of division codes

	decided  map[ledger.Hash]bool                 // records with a location from this checkpoint
	bodies   map[ledger.Hash]*ledger.Contribution // contributions in force, accepted in this checkpoint
	cases    map[ledger.Hash]caseInfo             // cases opened in this checkpoint
	known    map[string]bool                      // account index keys stored already or written by this checkpoint
	ministry *ledger.MinistryWatch                // from the first governance record on
}

type caseInfo struct {
	worker           ledger.WorkerID
	scheme, from, to string
}

// record writes the index entries of an accepted record and, for a record of a rejected block,
// its location. Every other application that decides a record (accepted, or rejected by a rule
// or as undecodable) is in the ledger's state already (ledger.RecordStatus: checkpoint and
// code), and View.Location finds its position from there; a second copy per record would be
// one more random key. Records of a rejected block are not in the ledger's state, so the store
// keeps theirs, and only for a record that has no location yet: not applied before, in this
// checkpoint or earlier, and not already in another rejected block.
func (d *deriver) record(blk uint32, bh ledger.Hash, idx, ord uint32, raw []byte, rc ledger.Receipt) error {
	switch rc.Code {
	case ledger.CodeDuplicate:
		return nil
	case ledger.CodeBlock:
		if d.decided[rc.ID] {
			return nil
		}
		_, _, applied, err := ledger.RecordStatus(d.v.reader(), rc.ID)
		if err != nil {
			return fmt.Errorf("read status of record %s: %w", rc.ID, err)
		}
		if !applied {
			if applied, err = d.v.has(locationKey(rc.ID)); err != nil {
				return fmt.Errorf("read location of record %s: %w", rc.ID, err)
			}
		}
		d.decided[rc.ID] = true
		if !applied {
			loc := Location{Seq: d.seq, BlockIndex: blk, Block: bh, Index: idx, Code: rc.Code}
			d.cs.put(locationKey(rc.ID), loc.encode())
		}
		return nil
	case ledger.CodeOK:
		if _, err := d.index(rc.ID, ord, raw); err != nil {
			return err
		}
	}
	d.decided[rc.ID] = true
	return nil
}

func refValue(id ledger.Hash, t ledger.RecordType) []byte { return append(id[:], t...) }

// index writes the index entries of an accepted record and returns the worker it concerns.
func (d *deriver) index(id ledger.Hash, ord uint32, raw []byte) (ledger.WorkerID, error) {
	var rec ledger.Record
	var body ledger.Body
	if c := d.pre.contribution(ord); c != nil {
		rec.Type, body = ledger.TypeContribution, c
	} else {
		var err error
		if rec, body, err = ledger.DecodeRecord(raw); err != nil {
			return ledger.WorkerID{}, fmt.Errorf("accepted record %s does not decode: %v: %w", id, err, ErrMismatch)
		}
	}
	ref := refValue(id, rec.Type)
	worker := func(w ledger.WorkerID) {
		if !w.IsZero() {
			d.cs.put(posKey(pfxWorker, w, d.seq, ord), ref)
		}
	}
	switch b := body.(type) {
	case *ledger.Contribution:
		if err := d.contribution(id, b); err != nil {
			return ledger.WorkerID{}, err
		}
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.Employment:
		if p, ok := employerPrefix(pfxEmploy, b.Employer); ok {
			val := append(appendU32(appendU32(nil, b.Start), b.End), id[:]...)
			d.cs.put(append(p, b.Worker[:]...), val) // the latest employment record wins
		}
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.Correction:
		var w ledger.WorkerID
		target, err := d.contributionOf(b.Target)
		if err != nil {
			return w, err
		}
		if target != nil {
			d.dropMonths(target)
			w = target.Worker
			worker(w)
		}
		if len(b.Replacement) > 0 {
			rb, err := ledger.DecodeBody(ledger.TypeContribution, b.Replacement)
			if err != nil {
				return w, fmt.Errorf("accepted correction %s: replacement: %v: %w", id, err, ErrMismatch)
			}
			c := rb.(*ledger.Contribution)
			if err := d.contribution(id, c); err != nil {
				return w, err
			}
			if c.Worker != w {
				worker(c.Worker)
			}
			if w.IsZero() {
				w = c.Worker
			}
		}
		return w, nil
	case *ledger.TransferApply:
		d.cases[id] = caseInfo{worker: b.Worker, scheme: b.Scheme, from: b.From, to: b.To}
		d.cs.put(posKey(pfxCase, id, d.seq, ord), ref)
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.TransferLetter:
		return d.caseStep(b.Case, ord, ref, false)
	case *ledger.TransferOut:
		return d.caseStep(b.Case, ord, ref, false)
	case *ledger.TransferIn:
		return d.caseStep(b.Case, ord, ref, true)
	case *ledger.TransferReject:
		return d.caseStep(b.Case, ord, ref, false)
	case *ledger.ConsentGrant:
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.ConsentRevoke:
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.WorkerKey:
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.PensionStart:
		worker(b.Worker)
		return b.Worker, nil
	case *ledger.Access:
		worker(b.Worker)
		val := append(append(append(ref[:32:32], byte(min(len(b.Reader), 255))), b.Reader[:min(len(b.Reader), 255)]...), byte(min(len(b.What), 255)))
		val = append(val, b.What[:min(len(b.What), 255)]...)
		d.cs.put(posKey(pfxAccess, b.Worker, d.seq, ord), val)
		return b.Worker, nil
	case *ledger.GovMember, *ledger.GovRevoke:
		return ledger.WorkerID{}, d.ministryChange(b, ord, ref)
	}
	return ledger.WorkerID{}, nil // other governance records concern no worker
}

// ministryOwner is the owner part of the ministry changes' keys: there is one list.
var ministryOwner [32]byte

// ministryChange indexes an accepted governance record that changes the ministry set
// (ledger.MinistryWatch): statements carry them so that verifiers can follow the set.
func (d *deriver) ministryChange(body ledger.Body, ord uint32, ref []byte) error {
	if d.ministry == nil {
		reg, err := ledger.Registry(d.v.reader())
		if err != nil {
			return fmt.Errorf("read the member registry: %w", err)
		}
		d.ministry = ledger.NewMinistryWatch(reg)
	}
	if d.ministry.Changes(body) {
		d.cs.put(posKey(pfxMinistry, ministryOwner, d.seq, ord), ref)
	}
	return nil
}

// contribution indexes a contribution in force from record id (a contribution, or the
// replacement of a correction): the account it opens or feeds, and the employer's month.
func (d *deriver) contribution(id ledger.Hash, c *ledger.Contribution) error {
	d.bodies[id] = c
	if prov := ids.ProvinceOf(c.Region, d.extra...); prov != "" {
		if err := d.account(prov, c.Scheme, c.Worker); err != nil {
			return err
		}
	}
	if key, ok := monthKey(c); ok {
		d.cs.put(key, append(appendU32(nil, max(c.Through, c.Period)), id[:]...))
	}
	return nil
}

// account indexes a worker's account in a province, once: most contributions feed an account
// that is indexed already, and a read costs less than a blind rewrite (a write, its share of
// compaction, and disk until then).
func (d *deriver) account(prov, scheme string, w ledger.WorkerID) error {
	sb := schemeByte(scheme)
	if sb == 0 || len(prov) != 2 {
		return nil
	}
	key := append(accountPrefix(prov, sb), w[:]...)
	if d.known[string(key)] {
		return nil
	}
	ok, err := d.v.has(key)
	if err != nil {
		return fmt.Errorf("read account index: %w", err)
	}
	if d.known == nil {
		d.known = map[string]bool{}
	}
	d.known[string(key)] = true
	if !ok {
		d.cs.put(key, []byte{})
	}
	return nil
}

// dropMonths removes the employer month of a contribution a correction took out of force.
func (d *deriver) dropMonths(c *ledger.Contribution) {
	if key, ok := monthKey(c); ok {
		d.cs.del(key)
	}
}

// monthKey is M | employer | worker | first period; ok is false for a contribution without an
// employer (people insured as individuals).
func monthKey(c *ledger.Contribution) ([]byte, bool) {
	if c.Employer == "" || c.Flexible {
		return nil, false
	}
	p, ok := employerPrefix(pfxMonths, c.Employer)
	if !ok {
		return nil, false
	}
	return appendU32(append(p, c.Worker[:]...), c.Period), true
}

// contributionOf returns the contribution in force from an accepted record (nil when the record
// predates the stored history, after a snapshot import).
func (d *deriver) contributionOf(id ledger.Hash) (*ledger.Contribution, error) {
	if c, ok := d.bodies[id]; ok {
		return c, nil
	}
	raw, _, err := d.v.Record(id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read corrected record %s: %w", id, err)
	}
	_, body, err := ledger.DecodeRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: stored record %s: %w", ErrCorrupt, id, err)
	}
	switch b := body.(type) {
	case *ledger.Contribution:
		return b, nil
	case *ledger.Correction:
		if len(b.Replacement) == 0 {
			return nil, nil
		}
		rb, err := ledger.DecodeBody(ledger.TypeContribution, b.Replacement)
		if err != nil {
			return nil, fmt.Errorf("%w: stored correction %s: %w", ErrCorrupt, id, err)
		}
		return rb.(*ledger.Contribution), nil
	}
	return nil, nil
}

// caseStep indexes a step of a transfer case; a completed transfer opens (or feeds) the
// account at the new place.
func (d *deriver) caseStep(c ledger.Hash, ord uint32, ref []byte, in bool) (ledger.WorkerID, error) {
	d.cs.put(posKey(pfxCase, c, d.seq, ord), ref)
	ci, ok := d.cases[c]
	if !ok {
		t, found, err := ledger.GetTransfer(d.v, c)
		if err != nil {
			return ledger.WorkerID{}, fmt.Errorf("read transfer case %s: %w", c, err)
		}
		if !found {
			return ledger.WorkerID{}, nil
		}
		ci = caseInfo{worker: t.Worker, scheme: t.Scheme, from: t.From, to: t.To}
		d.cases[c] = ci
	}
	d.cs.put(posKey(pfxWorker, ci.worker, d.seq, ord), ref)
	if in {
		if err := d.account(ci.to, ci.scheme, ci.worker); err != nil {
			return ci.worker, err
		}
	}
	return ci.worker, nil
}
