package ledger

import (
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

// applyCorrection amends an accepted contribution (or an earlier correction of one): the target's
// effect is reversed and the replacement, if any, is applied as a new contribution; the original
// stays in history, marked corrected. A month whose interest year is already posted, or an
// account transferred since, cannot be corrected on the ledger: the bureau must use a transfer
// reversal procedure instead (rejected with code "correction").
func (c *ctx) applyCorrection(id Hash, rec *Record, k *Correction) error {
	switch k.Reason {
	case ReasonWrongAmount, ReasonWrongPeriod, ReasonWrongEmployer, ReasonWrongWorker, ReasonDuplicate, ReasonWithdrawn:
	default:
		return reject(CodeFormat, "unknown correction reason %q", truncate(k.Reason))
	}
	rs, ok := c.getRecordState(k.Target)
	if !ok || rs.Code != CodeOK {
		return reject(CodeCorrection, "target %s is not an accepted record", k.Target)
	}
	if rs.Corrected {
		return reject(CodeCorrection, "target already corrected")
	}
	if rs.Author != rec.Author {
		return reject(CodeRole, "only the target's author may correct it")
	}
	if len(rs.Ref) == 0 || (rs.Type != TypeContribution && rs.Type != TypeCorrection) {
		return reject(CodeCorrection, "records of type %s cannot be corrected", rs.Type)
	}
	old, ok := parseContribRef(rs.Ref)
	if !ok {
		panic("ledger: corrupt stored contribution reference of " + k.Target.String())
	}
	if err := c.reverseContribution(k.Target, &old); err != nil {
		return err
	}
	rs.Corrected = true
	c.put(keyRecord(k.Target), &rs)
	if len(k.Replacement) == 0 {
		if k.Reason != ReasonWithdrawn && k.Reason != ReasonDuplicate {
			return reject(CodeFormat, "a %s correction needs a replacement", k.Reason)
		}
		return nil
	}
	body, err := DecodeBody(TypeContribution, k.Replacement)
	if err != nil {
		return reject(CodeFormat, "replacement: %v", err)
	}
	return c.applyContribution(id, rec, body.(*Contribution))
}

func (c *ctx) reverseContribution(target Hash, k *contribRef) error {
	prov := k.Prov
	from, _ := civil.PeriodFromInt(k.Period)
	to := from
	if k.Through != 0 {
		to, _ = civil.PeriodFromInt(k.Through)
	}
	akey := c.keyAccount(k.Worker, k.Scheme, prov)
	a, ok := getObj[account](c, akey)
	if !ok || a.Status != StatusActive {
		return reject(CodeCorrection, "the account is no longer active here")
	}
	if from.Year <= int(a.InterestYear) {
		return reject(CodeCorrection, "interest for %d is already posted", from.Year)
	}
	tot := c.totals()
	pooled := int64(0)
	for p := from; p.Compare(to) <= 0; p = p.Add(1) {
		mk := c.keyMonth(k.Worker, k.Scheme, prov, p.Int())
		m, ok := getObj[month](c, mk)
		if !ok || m.Record != target {
			return reject(CodeCorrection, "month %s is not the target's", p)
		}
		c.t.del(mk)
		pooled += m.Employer
		a.Months--
		a.PFNum -= m.PFNum
		if m.Unev {
			a.UnevMonths--
			a.UnevPFNum -= m.PFNum
		}
		if hasIA(k.Scheme) {
			for i := range a.Pending {
				if int(a.Pending[i].Year) == p.Year {
					a.Pending[i].Sum -= m.Employee
					a.Pending[i].Weighted -= m.Employee * rules.Weight(p.Month)
				}
			}
			a.IA -= m.Employee
			tot.IAIn -= m.Employee
			if m.Unev {
				a.UnevIA -= m.Employee
			}
		}
	}
	c.addPool(prov, k.Scheme, -pooled)
	tot.PoolIn -= pooled
	c.put(akey, a)
	return nil
}
