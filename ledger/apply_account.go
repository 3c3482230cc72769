package ledger

import (
	"errors"
	"fmt"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
	"github.com/jaminan/jaminan/ledger/rules"
)

// workerState is the per-worker profile and open transfer.
type workerState struct {
	Hukou    string       `cbor:"1,keyasint"`
	Birth    uint32       `cbor:"2,keyasint"`
	Sex      uint8        `cbor:"3,keyasint"`
	Drawing  uint32       `cbor:"4,keyasint,omitempty"` // pension start date
	OpenCase Hash         `cbor:"5,keyasint"`
	Accounts []accountRef `cbor:"6,keyasint"` // in order of opening
}

type accountRef struct {
	Scheme   string `cbor:"1,keyasint"`
	Province string `cbor:"2,keyasint"`
}

// Account statuses.
const (
	StatusActive      = "active"
	StatusTransferred = "transferred"
	StatusSealed      = "sealed"
)

// yearAcc accumulates a year's contributions whose interest is not posted yet (DOMAIN C3).
type yearAcc struct {
	Year     uint16 `cbor:"1,keyasint"`
	Sum      int64  `cbor:"2,keyasint"`
	Weighted int64  `cbor:"3,keyasint"`
}

// account is a worker's insurance relation in one scheme and province.
type account struct {
	Status       string    `cbor:"1,keyasint"`
	Temporary    bool      `cbor:"2,keyasint,omitempty"`
	Enrolled     uint32    `cbor:"3,keyasint"`
	First        uint32    `cbor:"4,keyasint"` // YYYYMM
	Last         uint32    `cbor:"5,keyasint"`
	Months       uint32    `cbor:"6,keyasint"`
	IA           int64     `cbor:"7,keyasint"` // individual account, fen, with posted interest
	InterestYear uint16    `cbor:"8,keyasint"` // last year whose interest is posted
	Pending      []yearAcc `cbor:"9,keyasint"`
	PFNum        int64     `cbor:"10,keyasint"` // Σ base × pooled rate (bp) of counted months, exact (T1)
	UnevMonths   uint32    `cbor:"11,keyasint,omitempty"`
	UnevIA       int64     `cbor:"12,keyasint,omitempty"` // IA of unevidenced back payments (T6)
	UnevPFNum    int64     `cbor:"13,keyasint,omitempty"`
	Individual   bool      `cbor:"14,keyasint,omitempty"`
}

// month is one contributed month of an account.
type month struct {
	Base     int64 `cbor:"1,keyasint"`
	Employee int64 `cbor:"2,keyasint"`
	Employer int64 `cbor:"3,keyasint"`
	PFNum    int64 `cbor:"4,keyasint"`
	Record   Hash  `cbor:"5,keyasint"`
	Unev     bool  `cbor:"6,keyasint,omitempty"`
}

// totals are network-wide sums kept for the conservation invariant (DESIGN §6.3).
type totals struct {
	IAIn     int64 `cbor:"1,keyasint"` // employee contributions credited to individual accounts
	Interest int64 `cbor:"2,keyasint"` // interest posted
	Refunded int64 `cbor:"3,keyasint"` // duplicate IA contributions refunded (T5)
	PoolIn   int64 `cbor:"4,keyasint"` // employer contributions into pooled funds
}

// totals returns the current record's change to the network totals. Totals and pooled funds are
// written by every contribution, so they are kept as deltas: folded into the checkpoint when the
// record is accepted, dropped when it is rejected, and written once per checkpoint.
func (c *ctx) totals() *totals { return &c.recTot }

func (t *totals) add(d totals) {
	t.IAIn += d.IAIn
	t.Interest += d.Interest
	t.Refunded += d.Refunded
	t.PoolIn += d.PoolIn
}

func (c *ctx) param(name, scope string, on civil.Date) (int64, error) {
	v, ok := c.params.Get(name, scope, on)
	if !ok {
		return 0, reject(CodeParam, "no %s for %s on %s", name, scope, on)
	}
	return v, nil
}

func hasIA(scheme string) bool { return scheme == SchemePension || scheme == SchemeMedical }

// rates returns the employee and employer rates (bp) of a scheme, as rejections.
func (c *ctx) rates(scheme, prov string, on civil.Date, individual bool) (int64, int64, error) {
	ee, er, err := c.params.Rates(scheme, prov, on, individual)
	if err != nil {
		code := CodeParam
		if errors.Is(err, errUnknownScheme) {
			code = CodeFormat
		}
		return 0, 0, reject(code, "%v", err)
	}
	return ee, er, nil
}

// termsKey names the parameters a contribution month needs.
type termsKey struct {
	scheme, prov string
	period       uint32
	individual   bool
}

// terms are the parameters of a contribution month, with the rejection each missing one gives.
// They are looked up once per checkpoint for each (scheme, province, month, individual): a
// month's upload repeats the same few combinations thousands of times.
type terms struct {
	lim        rules.BaseLimits
	limErr     error
	maxWage    int64
	hasMaxWage bool
	eeBP, erBP int64
	ratesErr   error
	pfBP       int64
	pfFrom     uint32
	pfErr      error
}

func (c *ctx) contribTerms(scheme, prov string, month civil.Period, individual bool) *terms {
	k := termsKey{scheme, prov, month.Int(), individual}
	if c.lastTerms != nil && c.lastTermsKey == k { // a block's records mostly share their month
		return c.lastTerms
	}
	if t, ok := c.terms[k]; ok {
		c.lastTermsKey, c.lastTerms = k, t
		return t
	}
	day := month.FirstDay()
	t := &terms{}
	var err error
	if t.lim, err = c.params.BaseLimits(prov, day); err != nil {
		t.limErr = reject(CodeParam, "%v", err)
	}
	t.maxWage, t.hasMaxWage = c.params.Get(ParamMaxWage, prov, day)
	t.eeBP, t.erBP, t.ratesErr = c.rates(scheme, prov, day, individual)
	if scheme == SchemePension {
		if t.pfBP, t.pfErr = c.param(ParamPooledBP, "", day); t.pfErr == nil {
			var v int64
			v, t.pfErr = c.param(ParamPooledFrom, "", day)
			t.pfFrom = uint32(v)
		}
	}
	if c.terms == nil {
		c.terms = map[termsKey]*terms{}
	}
	c.terms[k] = t
	c.lastTermsKey, c.lastTerms = k, t
	return t
}

// contribKeys are the keys of a contribution's worker, account and first month, with their
// hashes (txn.hash).
type contribKeys struct {
	worker, account, month    []byte
	hWorker, hAccount, hMonth uint64
}

func (c *ctx) contribKeys(k *Contribution, prov string) contribKeys {
	ck := contribKeys{worker: c.keyWorker(k.Worker), account: c.keyAccount(k.Worker, k.Scheme, prov), month: c.keyMonth(k.Worker, k.Scheme, prov, k.Period)}
	ck.hWorker, ck.hAccount, ck.hMonth = c.t.hash(ck.worker), c.t.hash(ck.account), c.t.hash(ck.month)
	return ck
}

// applyContribution applies a contribution, with its keys in c.ck when it is the record being
// applied (prepareWindow built them) rather than a correction's replacement.
func (c *ctx) applyContribution(id Hash, rec *Record, k *Contribution) error {
	prov := c.province(k.Region)
	if prov == "" || (len(k.Region) != 6 && len(k.Region) != 2) {
		return reject("I3", "region %q is not a division code", k.Region)
	}
	if err := c.authorBureau(rec, prov); err != nil {
		return err
	}
	if c.ck.worker == nil { // a correction's replacement
		c.ck = c.contribKeys(k, prov)
	}
	if k.Worker.IsZero() || (k.Sex != SexMale && k.Sex != SexFemale) || c.province(k.Hukou) == "" || len(k.Hukou) != 2 {
		return reject(CodeFormat, "worker, sex and a 2-digit hukou province are required")
	}
	birth, err := civil.DateFromInt(k.Birth)
	if err != nil || k.Birth == 0 {
		return reject(CodeFormat, "birth date %d", k.Birth)
	}
	from, err := civil.PeriodFromInt(k.Period)
	if err != nil || k.Period == 0 {
		return reject(CodeFormat, "period %d", k.Period)
	}
	to := from
	if k.Through != 0 {
		if to, err = civil.PeriodFromInt(k.Through); err != nil || to.Compare(from) <= 0 || from.MonthsThrough(to) > 600 {
			return reject(CodeFormat, "through %d must follow period %d within 600 months", k.Through, k.Period)
		}
	}
	if to.Compare(c.today.Period()) > 0 {
		return reject(CodeFormat, "period %s is after the current month %s", to, c.today.Period())
	}
	n := int64(from.MonthsThrough(to))
	if k.Flexible {
		if k.Employer != "" {
			return reject(CodeFormat, "a person insured as an individual has no employer")
		}
	} else if k.LegacyEmployer {
		if _, err := ids.ParseLegacyUSCC(k.Employer); err != nil {
			return reject("I2", "%v", err)
		}
	} else if k.Employer == "" || k.Employer != c.lastUSCC { // an employer's records come together
		if _, err := ids.ParseUSCC(k.Employer); err != nil {
			return reject("I2", "%v", err)
		}
		c.lastUSCC = k.Employer
	}
	day := from.FirstDay()
	tm := c.contribTerms(k.Scheme, prov, from, k.Flexible)
	// C1: the base.
	if tm.limErr != nil {
		return tm.limErr
	}
	if k.Flexible {
		if err := rules.CheckDeclaredBase(k.Base, tm.lim); err != nil {
			return reject("C1", "%v", err)
		}
	} else {
		if k.Wage <= 0 || (tm.hasMaxWage && k.Wage > tm.maxWage) {
			return reject("C1", "wage %d out of range", k.Wage)
		}
		if want := rules.Base(k.Wage, tm.lim); k.Base != want {
			return reject("C1", "base %d, the rules give %d for wage %d", k.Base, want, k.Wage)
		}
	}
	// C2: the amounts.
	if tm.ratesErr != nil {
		return tm.ratesErr
	}
	eeBP, erBP := tm.eeBP, tm.erBP
	if err := rules.CheckShare(k.Base, eeBP, k.EmployeeAmount); err != nil {
		return reject("C2", "employee amount: %v", err)
	}
	if err := rules.CheckShare(k.Base, erBP, k.EmployerAmount); err != nil {
		return reject("C2", "employer amount: %v", err)
	}
	// T7: medical back payments only for short gaps.
	if k.Scheme == SchemeMedical && n > 1 {
		gap, err := c.param(ParamMedicalGap, prov, day)
		if err != nil {
			return err
		}
		if !rules.MedicalBackpayAllowed(int(n), int(gap)) {
			return reject("T7", "medical back payment of %d months exceeds %d", n, gap)
		}
	}
	// T6: a long lump-sum back payment without evidence stays at this place.
	unev := false
	if n > 1 && len(k.Evidence) == 0 {
		th, err := c.param(ParamBackpayMonths, "", day)
		if err != nil {
			return err
		}
		unev = rules.NeedsEvidence(int(n), int(th))
	}

	wkey := c.ck.worker
	w := c.scratchWorker(wkey, c.ck.hWorker)
	if w.Drawing != 0 {
		return reject(CodeState, "worker already draws a pension")
	}
	// The worker is rewritten only when its profile or account list changes.
	wDirty := w.Hukou != k.Hukou || w.Birth != k.Birth || w.Sex != k.Sex
	w.Hukou, w.Birth, w.Sex = k.Hukou, k.Birth, k.Sex
	akey := c.ck.account
	a, exists := c.scratchAccount(akey, c.ck.hAccount)
	if !exists || a.Status != StatusActive {
		enrol := day
		if k.Enrolled != 0 {
			if enrol, err = civil.DateFromInt(k.Enrolled); err != nil {
				return reject(CodeFormat, "enrolled %d", k.Enrolled)
			}
		}
		if !exists {
			a.Enrolled = enrol.Int()
			a.First = k.Period
			a.InterestYear = uint16(from.Year - 1)
			w.Accounts = append(w.Accounts, accountRef{Scheme: k.Scheme, Province: prov})
			wDirty = true
		}
		a.Status = StatusActive
		if k.Scheme == SchemePension {
			men, err := c.param(ParamTempMenAge, "", enrol)
			if err != nil {
				return err
			}
			women, err := c.param(ParamTempWomenAge, "", enrol)
			if err != nil {
				return err
			}
			a.Temporary = rules.IsTemporary(rules.TemporaryRule{MenAge: int(men), WomenAge: int(women)}, k.Hukou, prov, birth, k.Sex == SexMale, enrol, k.Approved)
			// A new enrolment seals the worker's temporary accounts elsewhere (T2).
			for _, ref := range w.Accounts {
				if ref.Scheme != SchemePension || ref.Province == prov {
					continue
				}
				ok2 := keyAccount(k.Worker, ref.Scheme, ref.Province)
				if o, ok := getObj[account](c, ok2); ok && o.Temporary && o.Status == StatusActive {
					o.Status = StatusSealed
					c.put(ok2, o)
				}
			}
		}
	}
	a.Individual = a.Individual || k.Flexible
	pfBP, pfFrom := int64(0), uint32(0)
	if k.Scheme == SchemePension {
		if tm.pfErr != nil {
			return tm.pfErr
		}
		pfBP, pfFrom = tm.pfBP, tm.pfFrom
	}
	tot := c.totals()
	for p := from; p.Compare(to) <= 0; p = p.Add(1) {
		mk, mh := c.ck.month, c.ck.hMonth
		if p.Int() != k.Period {
			mk = c.keyMonth(k.Worker, k.Scheme, prov, p.Int())
			mh = c.t.hash(mk)
		}
		if _, dup := c.t.getH(mk, mh); dup {
			return reject("C2", "month %s already contributed in %s %s", p, prov, k.Scheme)
		}
		m := month{Base: k.Base, Employee: k.EmployeeAmount, Employer: k.EmployerAmount, Record: id, Unev: unev}
		if k.Scheme == SchemePension && p.Int() >= pfFrom {
			m.PFNum = k.Base * rules.PooledRateBP(erBP, pfBP, a.Temporary, k.Flexible)
		}
		c.scratch = m.appendCBOR(c.scratch[:0])
		c.putScratchH(mk, mh)
		a.Months++
		a.PFNum += m.PFNum
		if unev {
			a.UnevMonths++
			a.UnevPFNum += m.PFNum
		}
		if hasIA(k.Scheme) {
			credit, err := c.creditIA(a, p, k.EmployeeAmount)
			if err != nil {
				return err
			}
			tot.IAIn += k.EmployeeAmount
			tot.Interest += credit - k.EmployeeAmount
			if unev {
				a.UnevIA += credit
			}
		}
	}
	// Posting after crediting: the months just credited to unposted years are in Pending and
	// earn that year's interest exactly as if they had arrived in time.
	if err := c.postInterest(a, c.today.Year); err != nil {
		return err
	}
	if k.Period < a.First || a.First == 0 {
		a.First = k.Period
	}
	if to.Int() > a.Last {
		a.Last = to.Int()
	}
	c.addPool(prov, k.Scheme, k.EmployerAmount*n)
	tot.PoolIn += k.EmployerAmount * n
	c.scratch = a.appendCBOR(c.scratch[:0])
	c.putScratchH(akey, c.ck.hAccount)
	if wDirty {
		c.scratch = w.appendCBOR(c.scratch[:0])
		c.putScratchH(wkey, c.ck.hWorker)
	}
	return nil
}

// addPool changes a pooled fund by delta (see totals for how the change is kept).
func (c *ctx) addPool(prov, scheme string, delta int64) {
	c.recPools = addPoolDelta(c.recPools, poolDelta{poolKey{prov, scheme}, delta})
}

// addPoolDelta adds d to the change of its fund in ds, one entry per fund. A record changes one
// or two funds, a checkpoint a few: a slice searched in order beats a map.
func addPoolDelta(ds []poolDelta, d poolDelta) []poolDelta {
	for i := range ds {
		if ds[i].key == d.key {
			ds[i].delta += d.delta
			return ds
		}
	}
	return append(ds, d)
}

// poolKey names a pooled fund: a province's fund of one scheme.
type poolKey struct{ prov, scheme string }

// poolDelta is a record's change to one pooled fund; a record changes one or two.
type poolDelta struct {
	key   poolKey
	delta int64
}

// creditIA adds one month's IA contribution; a month of a year whose interest is already posted
// earns its catch-up interest at once (DOMAIN C3). It returns what was credited.
func (c *ctx) creditIA(a *account, p civil.Period, amount int64) (int64, error) {
	if p.Year > int(a.InterestYear) {
		for i := range a.Pending {
			if int(a.Pending[i].Year) == p.Year {
				a.Pending[i].Sum += amount
				a.Pending[i].Weighted += amount * rules.Weight(p.Month)
				a.IA += amount
				return amount, nil
			}
		}
		a.Pending = append(a.Pending, yearAcc{Year: uint16(p.Year), Sum: amount, Weighted: amount * rules.Weight(p.Month)})
		sortPending(a.Pending)
		a.IA += amount
		return amount, nil
	}
	acc := amount
	for y := p.Year; y <= int(a.InterestYear); y++ {
		rate, ok := c.creditRate(y)
		if !ok {
			continue
		}
		var w int64
		open := acc
		if y == p.Year {
			w, open = amount*rules.Weight(p.Month), 0
		}
		in, err := rules.YearInterest(open, w, rate)
		if err != nil {
			return 0, reject("C3", "%v", err)
		}
		acc += in
	}
	a.IA += acc
	return acc, nil
}

func sortPending(p []yearAcc) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j-1].Year > p[j].Year; j-- {
			p[j-1], p[j] = p[j], p[j-1]
		}
	}
}

// postInterest posts the interest of every finished year before curYear whose crediting rate is
// published, in order (DOMAIN C3). Interest is posted lazily, when the account is next touched.
func (c *ctx) postInterest(a *account, curYear int) error {
	for y := int(a.InterestYear) + 1; y < curYear; y++ {
		rate, ok := c.creditRate(y)
		if !ok {
			break
		}
		var later, w int64
		rest := a.Pending[:0]
		for _, p := range a.Pending {
			switch {
			case int(p.Year) == y:
				w = p.Weighted
				later += p.Sum
				continue
			case int(p.Year) > y:
				later += p.Sum
			}
			rest = append(rest, p)
		}
		// opening = balance at the start of y: everything but the contributions of y and later.
		opening := a.IA - later
		in, err := rules.YearInterest(opening, w, rate)
		if err != nil {
			return reject("C3", "%v", err)
		}
		a.Pending = rest
		a.IA += in
		a.InterestYear = uint16(y)
		c.totals().Interest += in
	}
	return nil
}

// creditRates are the crediting rates of a range of years, for the interest loops that ask for
// one year after another.
type creditRates struct {
	first int
	rate  []int64
	ok    []bool
}

// creditRate is c.params.ForYear(ParamCreditingRate, y), from a table built once per checkpoint
// (and again after a gov.param).
func (c *ctx) creditRate(y int) (int64, bool) {
	if c.crRates == nil {
		r := &creditRates{}
		ps := c.params.index[paramKey{ParamCreditingRate, ""}]
		if len(ps) > 0 {
			r.first = int(ps[0].Effective / 10000)
			last := int(ps[len(ps)-1].Effective / 10000)
			if last-r.first < 1000 {
				r.rate = make([]int64, last-r.first+1)
				r.ok = make([]bool, last-r.first+1)
				for y := range r.rate {
					r.rate[y], r.ok[y] = c.params.ForYear(ParamCreditingRate, r.first+y)
				}
			}
		}
		c.crRates = r
	}
	if i := y - c.crRates.first; i >= 0 && i < len(c.crRates.rate) {
		return c.crRates.rate[i], c.crRates.ok[i]
	}
	if len(c.crRates.rate) == 0 {
		return c.params.ForYear(ParamCreditingRate, y) // no table: an implausible span of years
	}
	return 0, false
}

// scratchWorker reads the worker at key into a value reused record after record (its encoding is
// copied into the writes before the next record starts); a missing worker reads as empty.
// h is the key's hash (txn.hash).
func (c *ctx) scratchWorker(key []byte, h uint64) *workerState {
	w := &c.wsBuf
	*w = workerState{Accounts: w.Accounts[:0]}
	if raw, ok := c.t.getH(key, h); ok {
		r := cborReader{b: raw} // read through the concrete type: the reader stays on the stack
		if w.readCBOR(&r); !r.done() {
			panic(fmt.Sprintf("ledger: corrupt state at %x", key))
		}
	}
	return w
}

// scratchAccount is scratchWorker for accounts; ok is false when the account does not exist.
func (c *ctx) scratchAccount(key []byte, h uint64) (*account, bool) {
	a := &c.accBuf
	*a = account{Pending: a.Pending[:0]}
	raw, ok := c.t.getH(key, h)
	if ok {
		r := cborReader{b: raw}
		if a.readCBOR(&r); !r.done() {
			panic(fmt.Sprintf("ledger: corrupt state at %x", key))
		}
	}
	return a, ok
}
