package ledger

import (
	"cmp"
	"fmt"
	"slices"
)

// MinistryHistory is the ministry set of a network over time as an offline verifier learns it:
// the genesis registry, then the governance records that changed it (gov.member, gov.revoke),
// each proved final by a certificate of the ministry set in force before it. A certificate of
// checkpoint s is checked against the registry after every change in a checkpoint before s, at
// the checkpoint's time: the set the ministry nodes themselves used (MinistrySet over the state
// before s).
//
// Nothing proves that a history is complete: a server could leave out a change. Left out, a change
// that admitted a ministry member makes that member's later certificates fail to verify; one that
// revoked a member leaves its signatures counted, which is why a revoked key must also stop being
// accepted by the people who rely on it.
type MinistryHistory struct {
	g     *Genesis
	steps []ministryStep // by ledger order of the changes
}

// ministryStep is the registry after one change, made in checkpoint seq.
type ministryStep struct {
	seq uint64
	reg []Member
}

// MaxMinistryChanges bounds the changes a history (and a statement) may carry.
const MaxMinistryChanges = 256

// NewMinistryHistory verifies changes, proofs of governance records in ledger order, against g
// and the ministry set each was final under, and returns the history they make.
func NewMinistryHistory(g *Genesis, changes []RecordProof) (*MinistryHistory, error) {
	if len(changes) > MaxMinistryChanges {
		return nil, fmt.Errorf("%w: %d ministry changes, at most %d", ErrStatement, len(changes), MaxMinistryChanges)
	}
	h := &MinistryHistory{g: g}
	reg := g.Members
	var last [3]uint64
	for i := range changes {
		p := &changes[i]
		pos := [3]uint64{p.Checkpoint.Seq, p.InCheckpoint.Index, p.InBlock.Index}
		if i > 0 && slices.Compare(pos[:], last[:]) <= 0 {
			return nil, fmt.Errorf("%w: ministry change %d is not after the one before it in the ledger", ErrStatement, i)
		}
		last = pos
		if len(p.Ministry) > 0 {
			return nil, fmt.Errorf("%w: ministry change %d carries changes of its own", ErrStatement, i)
		}
		_, body, err := p.VerifyWith(h)
		if err != nil {
			return nil, fmt.Errorf("ministry change %d: %w", i, err)
		}
		if p.Code != CodeOK {
			return nil, fmt.Errorf("%w: ministry change %d was rejected (%s)", ErrStatement, i, truncate(p.Code))
		}
		switch b := body.(type) {
		case *GovMember:
			j, found := searchMember(reg, b.Member.ID)
			if found {
				reg = slices.Clone(reg)
				reg[j] = b.Member
			} else {
				reg = slices.Insert(slices.Clip(reg), j, b.Member)
			}
		case *GovRevoke:
			j, found := searchMember(reg, b.Member)
			if !found {
				return nil, fmt.Errorf("%w: ministry change %d revokes a member the registry does not have", ErrStatement, i)
			}
			reg = slices.Clone(reg)
			reg[j].Revoked = true
		default:
			t, _ := PeekRecordType(p.Record)
			return nil, fmt.Errorf("%w: ministry change %d is a %s record, not gov.member or gov.revoke", ErrStatement, i, truncate(string(t)))
		}
		h.steps = append(h.steps, ministryStep{seq: p.Checkpoint.Seq, reg: reg})
	}
	return h, nil
}

// Set returns the ministry members that certify checkpoint seq, whose time is t: those active at
// t in the registry after every change made in a checkpoint before seq.
func (h *MinistryHistory) Set(seq, t uint64) []KeyID {
	reg := h.g.Members
	if i, _ := slices.BinarySearchFunc(h.steps, seq, func(s ministryStep, seq uint64) int { return cmp.Compare(s.seq, seq) }); i > 0 {
		reg = h.steps[i-1].reg
	}
	var out []KeyID
	for i := range reg {
		if m := &reg[i]; m.Role == RoleMinistry && m.ActiveAt(t) {
			out = append(out, m.ID)
		}
	}
	return out
}

// MinistryWatch tells, record after record, which accepted governance records change the
// ministry set: a gov.member or gov.revoke of a member that is, or becomes, a ministry member.
// These are the changes a statement carries (Statement.Ministry); the registry of other members
// can change without them.
type MinistryWatch struct {
	roles map[KeyID]string
}

// NewMinistryWatch starts a watch over registry reg (Registry of the state before the records).
func NewMinistryWatch(reg []Member) *MinistryWatch {
	w := &MinistryWatch{roles: make(map[KeyID]string, len(reg))}
	for i := range reg {
		w.roles[reg[i].ID] = reg[i].Role
	}
	return w
}

// Changes reports whether body, an accepted record's, changes the ministry set, and notes the
// member's new role.
func (w *MinistryWatch) Changes(body Body) bool {
	switch b := body.(type) {
	case *GovMember:
		was := w.roles[b.Member.ID]
		w.roles[b.Member.ID] = b.Member.Role
		return was == RoleMinistry || b.Member.Role == RoleMinistry
	case *GovRevoke:
		return w.roles[b.Member] == RoleMinistry
	}
	return false
}
