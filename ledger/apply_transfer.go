package ledger

import (
	"fmt"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

// StageAt is one step of a transfer case.
type StageAt struct {
	Stage string `cbor:"1,keyasint" json:"stage"`
	At    uint32 `cbor:"2,keyasint" json:"at"` // YYYYMMDD
	Seq   uint64 `cbor:"3,keyasint" json:"checkpoint"`
}

// Transfer is a cross-province transfer case (DOMAIN T1, T4–T7). The IA and pooled amounts are
// in transit between out_processed/partial and completed.
type Transfer struct {
	Worker    WorkerID  `cbor:"1,keyasint" json:"-"`
	Scheme    string    `cbor:"2,keyasint" json:"scheme"`
	From      string    `cbor:"3,keyasint" json:"from"`
	To        string    `cbor:"4,keyasint" json:"to"`
	Stage     string    `cbor:"5,keyasint" json:"stage"`
	Deadline  uint32    `cbor:"6,keyasint" json:"deadline"`
	Stages    []StageAt `cbor:"7,keyasint" json:"stages"`
	IA        int64     `cbor:"8,keyasint" json:"individual"`
	Pooled    int64     `cbor:"9,keyasint" json:"pooled"`
	PFNum     int64     `cbor:"10,keyasint" json:"-"`
	Pending   []yearAcc `cbor:"11,keyasint" json:"-"`
	Months    uint32    `cbor:"12,keyasint" json:"months"`
	First     uint32    `cbor:"13,keyasint" json:"-"`
	Last      uint32    `cbor:"14,keyasint" json:"-"`
	Evidence  bool      `cbor:"15,keyasint,omitempty" json:"-"`
	Refunded  int64     `cbor:"16,keyasint,omitempty" json:"refunded,omitempty"`
	NoticeBy  uint32    `cbor:"17,keyasint,omitempty" json:"notice_by,omitempty"`
	Interest  uint16    `cbor:"18,keyasint" json:"-"`
	Temporary bool      `cbor:"19,keyasint,omitempty" json:"-"`
}

// GetTransfer reads a transfer case.
func GetTransfer(st StateReader, id Hash) (*Transfer, bool, error) {
	return readObj[Transfer](st, keyTransfer(id))
}

// StateScanner reads the state's keys with a prefix in key order (a store's view).
type StateScanner interface {
	ScanState(prefix []byte, fn func(key, val []byte) error) error
}

// ScanTransfers calls fn for every transfer case in the state, in case order; an error from
// fn stops the scan and is returned.
func ScanTransfers(st StateScanner, fn func(id Hash, t *Transfer) error) error {
	return st.ScanState([]byte{pfxTransfer}, func(k, v []byte) error {
		var id Hash
		if len(k) != 1+len(id) {
			return fmt.Errorf("transfer key %x: want %d bytes", k, 1+len(id))
		}
		copy(id[:], k[1:])
		t, err := decodeObj[Transfer](v)
		if err != nil {
			return fmt.Errorf("decode transfer %s: %w", id, err)
		}
		return fn(id, t)
	})
}

func (c *ctx) deadline(name, scheme string, from civil.Date) (uint32, error) {
	if scheme == SchemeMedical {
		switch name {
		case ParamLetterDays:
			name = ParamMedLetterDays
		case ParamOutDays:
			name = ParamMedOutDays
		case ParamInDays:
			name = ParamMedInDays
		}
	}
	n, err := c.param(name, "", from)
	if err != nil {
		return 0, err
	}
	return c.cals.AddWorkingDays(from, int(n)).Int(), nil
}

func (c *ctx) advance(t *Transfer, to rules.Stage, next string) error {
	if !rules.NextStageAllowed(rules.Stage(t.Stage), to) {
		return reject("T4", "case at stage %s cannot move to %s", t.Stage, to)
	}
	t.Stage = string(to)
	t.Stages = append(t.Stages, StageAt{Stage: string(to), At: c.today.Int(), Seq: c.seq})
	t.Deadline = 0
	if next != "" {
		d, err := c.deadline(next, t.Scheme, c.today)
		if err != nil {
			return err
		}
		t.Deadline = d
	}
	return nil
}

func (c *ctx) applyTransferApply(id Hash, rec *Record, b *TransferApply) error {
	from, to := c.province(b.From), c.province(b.To)
	if from == "" || to == "" || len(b.From) != 2 || len(b.To) != 2 || from == to {
		return reject("I3", "transfer between %q and %q", b.From, b.To)
	}
	if b.Scheme != SchemePension && b.Scheme != SchemeMedical {
		return reject(CodeFormat, "scheme %q cannot be transferred", b.Scheme)
	}
	if err := c.authorBureauOrWorker(rec, b.Worker, to); err != nil {
		return err
	}
	w, ok := getObj[workerState](c, keyWorker(b.Worker))
	if !ok {
		return reject(CodeState, "unknown worker")
	}
	if w.Drawing != 0 {
		return reject("T4", "no transfer for someone already drawing a pension")
	}
	if !w.OpenCase.IsZero() {
		return reject("T4", "a transfer is already open")
	}
	a, ok := getObj[account](c, keyAccount(b.Worker, b.Scheme, from))
	if !ok || a.Status == StatusTransferred {
		return reject("T1", "no untransferred %s relation in %s", b.Scheme, from)
	}
	t := &Transfer{Worker: b.Worker, Scheme: b.Scheme, From: from, To: to, Stage: string(rules.StageApplied), Evidence: len(b.Evidence) > 0}
	t.Stages = []StageAt{{Stage: t.Stage, At: c.today.Int(), Seq: c.seq}}
	d, err := c.deadline(ParamLetterDays, b.Scheme, c.today)
	if err != nil {
		return err
	}
	t.Deadline = d
	w.OpenCase = id
	c.put(keyWorker(b.Worker), w)
	c.put(keyTransfer(id), t)
	return nil
}

func (c *ctx) openCase(rec *Record, id Hash, fromSide bool) (*Transfer, error) {
	t, ok := getObj[Transfer](c, keyTransfer(id))
	if !ok {
		return nil, reject(CodeState, "no transfer case %s", id)
	}
	prov := t.To
	if fromSide {
		prov = t.From
	}
	return t, c.authorBureau(rec, prov)
}

func (c *ctx) applyTransferLetter(rec *Record, b *TransferLetter) error {
	t, err := c.openCase(rec, b.Case, false)
	if err != nil {
		return err
	}
	if err := c.advance(t, rules.StageLetterSent, ParamOutDays); err != nil {
		return err
	}
	c.put(keyTransfer(b.Case), t)
	return nil
}

func (c *ctx) applyTransferOut(rec *Record, b *TransferOut) error {
	t, err := c.openCase(rec, b.Case, true)
	if err != nil {
		return err
	}
	akey := keyAccount(t.Worker, t.Scheme, t.From)
	a, ok := getObj[account](c, akey)
	if !ok || a.Status == StatusTransferred {
		return reject("T1", "relation already transferred")
	}
	if err := c.postInterest(a, c.today.Year); err != nil {
		return err
	}
	stage := rules.StageOutProcessed
	ia, pfNum := a.IA, a.PFNum
	if a.UnevMonths > 0 && !t.Evidence {
		// T6: unevidenced back-paid months and their money stay at the old place.
		stage = rules.StagePartial
		ia -= a.UnevIA
		pfNum -= a.UnevPFNum
		d, err := c.deadline(ParamNoticeDays, "", c.today)
		if err != nil {
			return err
		}
		t.NoticeBy = d
	}
	pooled := int64(0)
	if t.Scheme == SchemePension { // T7: medical moves no pooled funds
		pooled = rules.PooledFromNumerator(pfNum)
	}
	if (b.Individual != 0 && b.Individual != ia) || (b.Pooled != 0 && b.Pooled != pooled) {
		return reject("T1", "declared amounts %d + %d, the ledger computes %d + %d", b.Individual, b.Pooled, ia, pooled)
	}
	if err := c.advance(t, stage, ParamInDays); err != nil {
		return err
	}
	t.IA, t.Pooled, t.PFNum, t.Interest, t.Temporary = ia, pooled, pfNum, a.InterestYear, a.Temporary
	t.Months, t.First, t.Last = a.Months-a.UnevMonths, a.First, a.Last
	if stage == rules.StagePartial {
		// The moved part's pending accumulators cannot be told apart from the unevidenced ones;
		// the unevidenced IA stays as the account's whole balance.
		t.Pending = nil
		a.IA, a.PFNum, a.Pending = a.UnevIA, a.UnevPFNum, nil
	} else {
		t.Pending = a.Pending
		a.IA, a.PFNum, a.Pending = 0, 0, nil
	}
	a.Status = StatusTransferred
	c.put(akey, a)
	if pooled != 0 {
		c.addPool(t.From, t.Scheme, -pooled)
	}
	c.put(keyTransfer(b.Case), t)
	return nil
}

func (c *ctx) applyTransferIn(rec *Record, b *TransferIn) error {
	t, err := c.openCase(rec, b.Case, false)
	if err != nil {
		return err
	}
	if err := c.advance(t, rules.StageCompleted, ""); err != nil {
		return err
	}
	akey := keyAccount(t.Worker, t.Scheme, t.To)
	a, exists := getObj[account](c, akey)
	w, _ := getObj[workerState](c, keyWorker(t.Worker))
	if !exists {
		a.Status, a.Enrolled, a.First, a.Last = StatusActive, c.today.Int(), t.First, t.Last
		a.InterestYear = t.Interest
		w.Accounts = append(w.Accounts, accountRef{Scheme: t.Scheme, Province: t.To})
	}
	if err := c.postInterest(a, c.today.Year); err != nil {
		return err
	}
	// T5: months already covered here in the same scheme count once; the incoming duplicate IA
	// contributions are refunded to the person.
	refund := int64(0)
	if t.First != 0 {
		first, _ := civil.PeriodFromInt(t.First)
		last, _ := civil.PeriodFromInt(t.Last)
		for p := first; p.Compare(last) <= 0; p = p.Add(1) {
			in, ok := getObj[month](c, keyMonth(t.Worker, t.Scheme, t.From, p.Int()))
			if !ok || in.Unev {
				continue
			}
			if _, dup := c.t.get(keyMonth(t.Worker, t.Scheme, t.To, p.Int())); dup {
				refund += in.Employee
				t.Months--
			}
		}
	}
	a.IA += t.IA - refund
	a.PFNum += t.PFNum
	a.Months += t.Months
	a.Pending = mergePending(a.Pending, t.Pending, a.InterestYear)
	if refund != 0 {
		// A refund is taken from the pending sums first so that interest is not earned on it.
		a.Pending = mergePending(a.Pending, []yearAcc{{Year: uint16(c.today.Year), Sum: -refund}}, a.InterestYear)
		tot := c.totals()
		tot.Refunded += refund
	}
	if t.First != 0 && (a.First == 0 || t.First < a.First) {
		a.First = t.First
	}
	if t.Last > a.Last {
		a.Last = t.Last
	}
	a.Status = StatusActive
	t.Refunded = refund
	if t.Pooled != 0 {
		c.addPool(t.To, t.Scheme, t.Pooled)
	}
	w.OpenCase = Hash{}
	c.put(keyWorker(t.Worker), w)
	c.put(akey, a)
	c.put(keyTransfer(b.Case), t)
	return nil
}

// mergePending adds accumulators; years already posted at the receiving account are folded into
// the next unposted year without weight (they earned their interest at the old place).
func mergePending(dst, src []yearAcc, posted uint16) []yearAcc {
	for _, s := range src {
		if s.Year <= posted {
			s = yearAcc{Year: posted + 1, Sum: s.Sum}
		}
		found := false
		for i := range dst {
			if dst[i].Year == s.Year {
				dst[i].Sum += s.Sum
				dst[i].Weighted += s.Weighted
				found = true
			}
		}
		if !found {
			dst = append(dst, s)
		}
	}
	sortPending(dst)
	return dst
}

func (c *ctx) applyTransferReject(rec *Record, b *TransferReject) error {
	t, ok := getObj[Transfer](c, keyTransfer(b.Case))
	if !ok {
		return reject(CodeState, "no transfer case %s", b.Case)
	}
	if err := c.authorBureau(rec, t.To); err != nil {
		if err2 := c.authorBureau(rec, t.From); err2 != nil {
			return err
		}
	}
	if b.Reason == "" || len(b.Reason) > maxTextField {
		return reject(CodeFormat, "a rejection needs a written reason")
	}
	if err := c.advance(t, rules.StageRejected, ""); err != nil {
		return err
	}
	w, _ := getObj[workerState](c, keyWorker(t.Worker))
	w.OpenCase = Hash{}
	c.put(keyWorker(t.Worker), w)
	c.put(keyTransfer(b.Case), t)
	return nil
}
