package ledger

import (
	"slices"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// authorise checks who may write a record: signatures, membership and role common to all types.
// Type-specific role rules (which province's bureau) are checked by each handler.
func (c *ctx) authorise(rec *Record, body Body) error {
	signers, err := rec.VerifySigs(c.m.network)
	if err != nil {
		return reject(CodeAuth, "%v", err)
	}
	if rec.Author != c.producer && !signers[rec.Author] {
		return reject(CodeAuth, "record by %s carried by another producer needs its author's signature", rec.Author.Short())
	}
	if !rec.Author.isEd25519() {
		_, err := rec.Author.PublicKey()
		return reject(CodeAuth, "%v", err)
	}
	switch body.(type) {
	case *GovMember, *GovRevoke, *GovParam, *GovCalendar:
		set := c.ministrySet()
		if n, q := CountSigners(set, signers), Quorum(len(set)); n < q {
			return reject(CodeGov, "%d ministry signatures, need %d of %d", n, q, len(set))
		}
		return nil
	}
	return nil
}

// authorBureau returns the author as an active bureau of province prov, or a rejection.
func (c *ctx) authorBureau(rec *Record, prov string) error {
	m := c.activeMember(rec.Author)
	if m == nil {
		return reject(CodeMember, "author %s is not an active member", rec.Author.Short())
	}
	if m.Role != RoleBureau {
		return reject(CodeRole, "author role %s, want bureau", m.Role)
	}
	if prov != "" && m.Province() != prov {
		return reject(CodeRole, "bureau of %s may not write for province %s", m.Province(), prov)
	}
	return nil
}

// workerKeyOf returns the worker a registered personal key belongs to.
func (c *ctx) workerKeyOf(k KeyID) (WorkerID, bool) {
	raw, ok := c.t.get(keyKeyWorker(k))
	if !ok || len(raw) != 32 {
		return WorkerID{}, false
	}
	return WorkerID(raw), true
}

// authorBureauOrWorker accepts a bureau (of prov, if given) or the worker's own registered key.
func (c *ctx) authorBureauOrWorker(rec *Record, w WorkerID, prov string) error {
	if ww, ok := c.workerKeyOf(rec.Author); ok {
		if ww != w {
			return reject(CodeRole, "personal key belongs to another worker")
		}
		return nil
	}
	return c.authorBureau(rec, prov)
}

func (c *ctx) province(code string) string { return ids.ProvinceOf(code, c.m.extra...) }

func (c *ctx) dispatch(id Hash, rec *Record, body Body) error {
	switch b := body.(type) {
	case *Contribution:
		return c.applyContribution(id, rec, b)
	case *Employment:
		return c.applyEmployment(rec, b)
	case *Correction:
		return c.applyCorrection(id, rec, b)
	case *TransferApply:
		return c.applyTransferApply(id, rec, b)
	case *TransferLetter:
		return c.applyTransferLetter(rec, b)
	case *TransferOut:
		return c.applyTransferOut(rec, b)
	case *TransferIn:
		return c.applyTransferIn(rec, b)
	case *TransferReject:
		return c.applyTransferReject(rec, b)
	case *ConsentGrant:
		return c.applyConsentGrant(id, rec, b)
	case *ConsentRevoke:
		return c.applyConsentRevoke(rec, b)
	case *WorkerKey:
		return c.applyWorkerKey(rec, b)
	case *Access:
		return c.applyAccess(id, rec, b)
	case *PensionStart:
		return c.applyPensionStart(rec, b)
	case *GovMember, *GovRevoke, *GovParam, *GovCalendar:
		return c.applyGov(body)
	}
	return reject(CodeUnsupported, "record type %s is not applied by this version", rec.Type)
}

func (c *ctx) applyEmployment(rec *Record, e *Employment) error {
	prov := c.province(e.Region)
	if prov == "" {
		return reject("I3", "region %q", e.Region)
	}
	if _, err := ids.ParseUSCC(e.Employer); err != nil {
		return reject("I2", "%v", err)
	}
	start, err := civil.DateFromInt(e.Start)
	if err != nil || e.Start == 0 {
		return reject(CodeFormat, "start date %d", e.Start)
	}
	if e.End != 0 {
		end, err := civil.DateFromInt(e.End)
		if err != nil || end.Before(start) {
			return reject(CodeFormat, "end date %d", e.End)
		}
	}
	if e.Worker.IsZero() {
		return reject(CodeFormat, "no worker")
	}
	if m := c.activeMember(rec.Author); m != nil && m.Role == RoleEmployer {
		if m.Province() != prov {
			return reject(CodeRole, "employer registered in %s declares employment in %s", m.Province(), prov)
		}
	} else if err := c.authorBureau(rec, prov); err != nil {
		return err
	}
	c.put(keyEmployment(e.Employer, e.Worker), e)
	return nil
}

type consentState struct {
	Grantee string `cbor:"1,keyasint"`
	Scope   string `cbor:"2,keyasint"`
	From    uint32 `cbor:"3,keyasint"`
	Until   uint32 `cbor:"4,keyasint,omitempty"`
	Revoked uint64 `cbor:"5,keyasint,omitempty"` // checkpoint seq of the revocation
}

func (c *ctx) applyConsentGrant(id Hash, rec *Record, g *ConsentGrant) error {
	if err := c.authorBureauOrWorker(rec, g.Worker, ""); err != nil {
		return err
	}
	if g.Worker.IsZero() || g.Grantee == "" || len(g.Grantee) > maxTextField || (g.Scope != "history" && g.Scope != "account") {
		return reject(CodeFormat, "consent needs a worker, a grantee and scope history or account")
	}
	if _, err := civil.DateFromInt(g.From); err != nil || g.From == 0 {
		return reject(CodeFormat, "from date %d", g.From)
	}
	if g.Until != 0 {
		if _, err := civil.DateFromInt(g.Until); err != nil || g.Until < g.From {
			return reject(CodeFormat, "until date %d", g.Until)
		}
	}
	c.put(keyConsent(g.Worker, id), consentState{Grantee: g.Grantee, Scope: g.Scope, From: g.From, Until: g.Until})
	return nil
}

func (c *ctx) applyConsentRevoke(rec *Record, r *ConsentRevoke) error {
	if err := c.authorBureauOrWorker(rec, r.Worker, ""); err != nil {
		return err
	}
	cs, ok := getObj[consentState](c, keyConsent(r.Worker, r.Grant))
	if !ok {
		return reject(CodeConsent, "no grant %s for this worker", r.Grant)
	}
	if cs.Revoked != 0 {
		return reject(CodeConsent, "grant already revoked")
	}
	cs.Revoked = c.seq
	c.put(keyConsent(r.Worker, r.Grant), cs)
	return nil
}

// ConsentActive reports whether grantee holds a current consent of the worker on day (YYYYMMDD).
func ConsentActive(st StateReader, w WorkerID, grant Hash, grantee string, day uint32) (bool, error) {
	cs, ok, err := readObj[consentState](st, keyConsent(w, grant))
	if err != nil || !ok {
		return false, err
	}
	return cs.Revoked == 0 && cs.Grantee == grantee && day >= cs.From && (cs.Until == 0 || day <= cs.Until), nil
}

func (c *ctx) applyWorkerKey(rec *Record, k *WorkerKey) error {
	if err := c.authorBureau(rec, ""); err != nil {
		return err
	}
	if _, err := k.Key.PublicKey(); err != nil || k.Worker.IsZero() {
		return reject(CodeFormat, "worker key: %v", err)
	}
	if c.member(k.Key) != nil {
		return reject(CodeState, "key is a member key")
	}
	owner, owned := c.workerKeyOf(k.Key)
	if k.Revoke {
		if !owned || owner != k.Worker {
			return reject(CodeState, "key is not registered to this worker")
		}
		c.t.del(keyKeyWorker(k.Key))
		c.t.del(keyWorkerKey(k.Worker))
		return nil
	}
	if owned {
		return reject(CodeState, "key already registered")
	}
	if old, ok := c.t.get(keyWorkerKey(k.Worker)); ok {
		c.t.del(keyKeyWorker(KeyID(old)))
	}
	c.t.set(keyWorkerKey(k.Worker), []byte(k.Key))
	c.t.set(keyKeyWorker(k.Key), k.Worker[:])
	return nil
}

type accessState struct {
	Reader string `cbor:"1,keyasint"`
	What   string `cbor:"2,keyasint"`
	Seq    uint64 `cbor:"3,keyasint"`
}

func (c *ctx) applyAccess(id Hash, rec *Record, a *Access) error {
	if c.activeMember(rec.Author) == nil {
		return reject(CodeMember, "author is not an active member")
	}
	if a.Worker.IsZero() || a.Reader == "" || a.What == "" || len(a.Reader)+len(a.What)+len(a.Purpose) > maxTextField {
		return reject(CodeFormat, "access needs a worker, a reader and what was read")
	}
	c.put(keyAccess(a.Worker, id), accessState{Reader: a.Reader, What: a.What, Seq: c.seq})
	return nil
}

func (c *ctx) applyPensionStart(rec *Record, p *PensionStart) error {
	prov := c.province(p.Province)
	if prov == "" {
		return reject("I3", "province %q", p.Province)
	}
	if err := c.authorBureau(rec, prov); err != nil {
		return err
	}
	w, ok := getObj[workerState](c, keyWorker(p.Worker))
	if !ok {
		return reject(CodeState, "unknown worker")
	}
	if !w.OpenCase.IsZero() {
		return reject("T4", "a transfer is open")
	}
	if w.Drawing != 0 {
		return reject(CodeState, "already drawing a pension")
	}
	if _, err := civil.DateFromInt(p.Date); err != nil || p.Date == 0 {
		return reject(CodeFormat, "date %d", p.Date)
	}
	w.Drawing = p.Date
	c.put(keyWorker(p.Worker), w)
	return nil
}

func (c *ctx) applyGov(body Body) error {
	switch b := body.(type) {
	case *GovMember:
		if err := validateMember(&b.Member, c.m.extra); err != nil {
			return reject(CodeGov, "%v", err)
		}
		c.lastMember = nil // the registry changes (and may move)
		i, found := searchMember(c.registry, b.Member.ID)
		if found {
			c.registry[i] = b.Member
		} else {
			c.registry = slices.Insert(c.registry, i, b.Member)
		}
		c.regDirty = true
	case *GovRevoke:
		m := c.member(b.Member)
		if m == nil || m.Revoked {
			return reject(CodeGov, "no such active member")
		}
		if m.Role == RoleMinistry && len(c.ministrySet()) <= 1 {
			return reject(CodeGov, "cannot revoke the last ministry member")
		}
		m.Revoked = true
		c.regDirty = true
	case *GovParam:
		if err := validateParam(b.Param); err != nil {
			return reject(CodeGov, "%v", err)
		}
		c.params = c.params.With(b.Param)
		c.terms, c.lastTerms = nil, nil // the cached contribution terms may have changed
		c.crRates = nil
		c.parDirty = true
	case *GovCalendar:
		if err := validateCalendar(b.Calendar); err != nil {
			return reject(CodeGov, "%v", err)
		}
		i, found := slices.BinarySearchFunc(c.calList, b.Calendar.Year, func(x Calendar, y uint16) int { return int(x.Year) - int(y) })
		if found {
			c.calList[i] = b.Calendar
		} else {
			c.calList = slices.Insert(c.calList, i, b.Calendar)
		}
		c.cals = toRulesCalendars(c.calList)
		c.calDirty = true
	}
	return nil
}
