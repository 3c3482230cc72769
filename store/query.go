package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jaminan/jaminan/ledger"
)

// Page sizes of the index queries: a limit ≤ 0 means DefaultLimit, and no page is longer than
// MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

func pageLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// Pos is a record's position in the ledger's order: its checkpoint, then its ordinal among the
// checkpoint's records. Paged queries return the entries after a Pos (the zero Pos: from the
// start); pass the last entry's Pos to get the next page.
type Pos struct {
	Seq uint64 `json:"checkpoint"`
	Ord uint32 `json:"ordinal"`
}

// RecordRef is an index entry naming an accepted record.
type RecordRef struct {
	Pos
	ID   ledger.Hash       `json:"id"`
	Type ledger.RecordType `json:"type"`
}

// posEntries pages through a positional index (W, T, X) of owner after pos.
func (v *View) posEntries(prefix byte, owner [32]byte, after Pos, limit int, fn func(Pos, []byte) error) error {
	p := idPrefix(prefix, owner)
	start := p
	if after != (Pos{}) {
		start = appendU32(appendU64(bytes.Clone(p), after.Seq), after.Ord+1)
		if after.Ord == ^uint32(0) {
			start = appendU64(bytes.Clone(p), after.Seq+1)
		}
	}
	n, limit := 0, pageLimit(limit)
	return v.scan(p, start, func(key, val []byte) error {
		if len(key) != 45 || len(val) < 32 {
			return fmt.Errorf("%w: index entry %x", ErrCorrupt, key)
		}
		if err := fn(Pos{Seq: binary.BigEndian.Uint64(key[33:]), Ord: binary.BigEndian.Uint32(key[41:])}, val); err != nil {
			return err
		}
		if n++; n == limit {
			return errStop
		}
		return nil
	})
}

func refOf(pos Pos, val []byte) RecordRef {
	r := RecordRef{Pos: pos, Type: ledger.RecordType(val[32:])}
	copy(r.ID[:], val)
	return r
}

// WorkerRecords returns the accepted records that concern worker w, in ledger order, after pos:
// contributions, employment, corrections of its contributions, transfer steps of its cases,
// consents, key registrations, pension start, access records.
func (v *View) WorkerRecords(w ledger.WorkerID, after Pos, limit int) ([]RecordRef, error) {
	var out []RecordRef
	err := v.posEntries(pfxWorker, w, after, limit, func(p Pos, val []byte) error {
		out = append(out, refOf(p, val))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("records of worker %s: %w", w, err)
	}
	return out, nil
}

// MinistryChanges returns the accepted governance records that changed the ministry set
// (gov.member and gov.revoke of members that were or became ministry members), in ledger order,
// after pos.
func (v *View) MinistryChanges(after Pos, limit int) ([]RecordRef, error) {
	var out []RecordRef
	err := v.posEntries(pfxMinistry, ministryOwner, after, limit, func(p Pos, val []byte) error {
		out = append(out, refOf(p, val))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ministry changes: %w", err)
	}
	return out, nil
}

// CaseRecords returns the accepted records of transfer case c (its transfer.apply record ID),
// in order: the application, then each step.
func (v *View) CaseRecords(c ledger.Hash, after Pos, limit int) ([]RecordRef, error) {
	var out []RecordRef
	err := v.posEntries(pfxCase, c, after, limit, func(p Pos, val []byte) error {
		out = append(out, refOf(p, val))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("records of case %s: %w", c, err)
	}
	return out, nil
}

// AccessRef is an accepted access record: who read what of a worker's data.
type AccessRef struct {
	RecordRef
	Reader string `json:"reader"`
	What   string `json:"what"`
}

// WorkerAccess returns the accepted access records of worker w, in order, after pos.
func (v *View) WorkerAccess(w ledger.WorkerID, after Pos, limit int) ([]AccessRef, error) {
	var out []AccessRef
	err := v.posEntries(pfxAccess, w, after, limit, func(p Pos, val []byte) error {
		a := AccessRef{RecordRef: RecordRef{Pos: p, Type: ledger.TypeAccess}}
		copy(a.ID[:], val)
		rest := val[32:]
		for _, s := range []*string{&a.Reader, &a.What} {
			if len(rest) < 1 || int(rest[0])+1 > len(rest) {
				return fmt.Errorf("%w: access entry of %s", ErrCorrupt, w)
			}
			*s = string(rest[1 : 1+rest[0]])
			rest = rest[1+rest[0]:]
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("access records of worker %s: %w", w, err)
	}
	return out, nil
}

// EmployerMonth is a contribution in force that an employer paid for a worker: from Period to
// Through (YYYYMM; equal for one month), by Record (a contribution, or the correction that
// replaced one).
type EmployerMonth struct {
	Worker  ledger.WorkerID `json:"worker"`
	Period  uint32          `json:"period"`
	Through uint32          `json:"through"`
	Record  ledger.Hash     `json:"record"`
}

// EmployerMonths returns the employer's contributions in force, by worker then period, after
// (Worker, Period) of after (the zero value: from the start).
func (v *View) EmployerMonths(employer string, after EmployerMonth, limit int) ([]EmployerMonth, error) {
	p, ok := employerPrefix(pfxMonths, employer)
	if !ok {
		return nil, nil
	}
	start := appendU32(append(bytes.Clone(p), after.Worker[:]...), after.Period)
	n, limit := 0, pageLimit(limit)
	var out []EmployerMonth
	err := v.scan(p, start, func(key, val []byte) error {
		if len(key) != len(p)+36 || len(val) != 36 {
			return fmt.Errorf("%w: month entry %x", ErrCorrupt, key)
		}
		m := EmployerMonth{Period: binary.BigEndian.Uint32(key[len(p)+32:]), Through: binary.BigEndian.Uint32(val)}
		copy(m.Worker[:], key[len(p):])
		copy(m.Record[:], val[4:])
		if m.Worker == after.Worker && m.Period == after.Period && after != (EmployerMonth{}) {
			return nil // the cursor itself
		}
		out = append(out, m)
		if n++; n == limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("months of employer %s: %w", employer, err)
	}
	return out, nil
}

// Employment is a worker's latest accepted employment record with an employer.
type Employment struct {
	Worker ledger.WorkerID `json:"worker"`
	Start  uint32          `json:"start"`
	End    uint32          `json:"end,omitempty"`
	Record ledger.Hash     `json:"record"`
}

// EmployerEmployments returns the employer's declared employments, by worker, after worker
// after (exclusive; the zero worker: from the start).
func (v *View) EmployerEmployments(employer string, after ledger.WorkerID, limit int) ([]Employment, error) {
	p, ok := employerPrefix(pfxEmploy, employer)
	if !ok {
		return nil, nil
	}
	n, limit := 0, pageLimit(limit)
	var out []Employment
	err := v.scan(p, append(bytes.Clone(p), after[:]...), func(key, val []byte) error {
		if len(key) != len(p)+32 || len(val) != 40 {
			return fmt.Errorf("%w: employment entry %x", ErrCorrupt, key)
		}
		e := Employment{Start: binary.BigEndian.Uint32(val), End: binary.BigEndian.Uint32(val[4:])}
		copy(e.Worker[:], key[len(p):])
		copy(e.Record[:], val[8:])
		if e.Worker == after && !after.IsZero() {
			return nil
		}
		out = append(out, e)
		if n++; n == limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("employments of employer %s: %w", employer, err)
	}
	return out, nil
}

// EmployerWorkers returns the workers the employer declared an employment of or pays a
// contribution in force for, sorted, after worker after (exclusive; the zero worker: from
// the start).
func (v *View) EmployerWorkers(employer string, after ledger.WorkerID, limit int) ([]ledger.WorkerID, error) {
	limit = pageLimit(limit)
	emp, err := v.EmployerEmployments(employer, after, limit)
	if err != nil {
		return nil, err
	}
	var paid []ledger.WorkerID
	if p, ok := employerPrefix(pfxMonths, employer); ok {
		// One seek per worker: skip the worker's other months.
		next := append(bytes.Clone(p), after[:]...)
		if !after.IsZero() {
			next = prefixEnd(next)
		}
		for len(paid) < limit && next != nil {
			var found []byte
			err := v.scanKeys(p, next, func(key []byte) error {
				found = bytes.Clone(key)
				return errStop
			})
			if err != nil {
				return nil, fmt.Errorf("workers of employer %s: %w", employer, err)
			}
			if found == nil {
				break
			}
			if len(found) != len(p)+36 {
				return nil, fmt.Errorf("%w: month entry %x", ErrCorrupt, found)
			}
			w := ledger.WorkerID(found[len(p) : len(p)+32])
			paid = append(paid, w)
			next = prefixEnd(found[:len(p)+32])
		}
	}
	// Merge the two sorted lists.
	out := make([]ledger.WorkerID, 0, min(limit, len(emp)+len(paid)))
	i, j := 0, 0
	for len(out) < limit && (i < len(emp) || j < len(paid)) {
		switch {
		case j == len(paid) || (i < len(emp) && bytes.Compare(emp[i].Worker[:], paid[j][:]) < 0):
			out = append(out, emp[i].Worker)
			i++
		case i == len(emp) || bytes.Compare(paid[j][:], emp[i].Worker[:]) < 0:
			out = append(out, paid[j])
			j++
		default:
			out = append(out, paid[j])
			i++
			j++
		}
	}
	return out, nil
}

// Account names a worker's insurance relation in a province.
type Account struct {
	Scheme string          `json:"scheme"`
	Worker ledger.WorkerID `json:"worker"`
}

// RegionAccounts returns the accounts ever opened in province prov (2 digits) — by a
// contribution there or a completed transfer in — by scheme then worker, after after (the
// zero value: from the start). ledger.WorkerAccounts gives their current figures.
func (v *View) RegionAccounts(prov string, after Account, limit int) ([]Account, error) {
	if len(prov) != 2 {
		return nil, fmt.Errorf("accounts of region %q: want a 2-digit province", prov)
	}
	p := accountPrefix(prov, 0)
	start := p
	if after != (Account{}) {
		start = append(accountPrefix(prov, schemeByte(after.Scheme)), after.Worker[:]...)
	}
	n, limit := 0, pageLimit(limit)
	var out []Account
	err := v.scanKeys(p, start, func(key []byte) error {
		if len(key) != len(p)+33 {
			return fmt.Errorf("%w: account entry %x", ErrCorrupt, key)
		}
		a := Account{Scheme: schemeName(key[len(p)])}
		copy(a.Worker[:], key[len(p)+1:])
		if a == after {
			return nil
		}
		out = append(out, a)
		if n++; n == limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts of region %s: %w", prov, err)
	}
	return out, nil
}
