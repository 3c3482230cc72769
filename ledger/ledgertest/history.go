package ledgertest

import (
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/rules"
)

// History generates a deterministic random history: each call of Next builds the checkpoint that
// follows a given state, mixing
//
//   - valid pension contributions, and invalid ones (a wrong employee amount: rejected C2);
//   - duplicates of records sent before (receipt "dup") and repeated undecodable bytes;
//   - employment records, consent grants and revocations, access records;
//   - transfer applications for workers who hold an account elsewhere, and the letter, out, in
//     and reject steps of the cases it opened, mostly in the order the rules allow;
//   - corrections (withdrawals and wrong-amount replacements) of its accepted contributions;
//   - now and then a block by a non-member, rejected whole with code "block", whose records are
//     sent again later in a valid block.
//
// Its choices depend only on the seed, the calls made so far and the state passed in, so the
// same seed over the same states gives the same checkpoints. What it remembers of earlier calls
// (open cases, grants, records to repeat) only widens the mix; a History created afresh over a
// stored state (a restarted process) still produces valid checkpoints once Net has the
// producers' tips (Net.SetTip) and a clock at or after the state's time.
type History struct {
	Net *Net
	// Workers and Employers are the pool sizes records draw from (defaults 40 and 5).
	Workers, Employers int

	rng      rng
	sent     [][]byte // records carried by valid blocks, for duplicates (the last 64)
	garbage  []byte
	contribs []sentContribution // for corrections (the last 64)
	cases    []*openCase
	grants   []grant
	resend   map[string][][]byte // by province: records of a rejected block, to be sent again
	rogue    [][]byte            // records carried by rejected blocks (the last 64)
}

type sentContribution struct {
	id   ledger.Hash
	prov string
	year int // of the first month: only months of a year whose interest is not posted can be corrected
}

type openCase struct {
	id       ledger.Hash
	from, to string
	stage    rules.Stage
}

type grant struct {
	id     ledger.Hash
	worker ledger.WorkerID
}

// NewHistory starts a generator over n.
func NewHistory(n *Net, seed uint64) *History {
	return &History{Net: n, Workers: 40, Employers: 5, rng: rng{seed ^ 0x6a09e667f3bcc909}, resend: map[string][][]byte{}}
}

// Next builds the checkpoint that follows st: blocks blocks from random bureaus (plus, one time in
// ten, a non-member's block) of 1 to perBlock records each. It advances the clock by up to 12
// hours so that months pass over a long history. The caller applies the checkpoint, and passes
// the resulting state to the next call.
func (h *History) Next(st ledger.StateReader, blocks, perBlock int) (*ledger.CheckpointBody, []*ledger.Block) {
	n := h.Net
	n.TB.Helper()
	meta, err := ledger.ReadMeta(st)
	if err != nil {
		n.TB.Fatalf("ledgertest history: %v", err)
	}
	n.Time = max(n.Time, meta.Time) + uint64(h.rng.intN(12*3600))*1000
	h.refreshCases(st)
	var out []*ledger.Block
	for range blocks {
		prov := Provinces[h.rng.intN(len(Provinces))]
		recs := make([][]byte, 1+h.rng.intN(max(perBlock, 1)))
		for i := range recs {
			recs[i] = h.record(st, prov)
		}
		out = append(out, n.Block(n.Bureau[prov], recs...))
		for _, r := range recs {
			h.sent = pushRing(h.sent, r)
		}
	}
	if blocks > 0 && h.rng.intN(10) == 0 {
		// A non-member's block anywhere in the order; it is another producer, so the bureaus'
		// blocks keep their height order.
		i := h.rng.intN(len(out) + 1)
		out = append(out[:i], append([]*ledger.Block{h.rogueBlock()}, out[i:]...)...)
	}
	return n.Checkpoint(meta, out...), out
}

// refreshCases drops the cases that the state does not hold or that ended, and takes the stage
// of the others from the state.
func (h *History) refreshCases(st ledger.StateReader) {
	kept := h.cases[:0]
	for _, c := range h.cases {
		t, ok, err := ledger.GetTransfer(st, c.id)
		if err != nil {
			h.Net.TB.Fatalf("ledgertest history: %v", err)
		}
		if !ok || rules.Stage(t.Stage).Terminal() {
			continue
		}
		c.stage = rules.Stage(t.Stage)
		kept = append(kept, c)
	}
	h.cases = kept
}

// rogueBlock is a block by the non-member Stranger holding fresh contributions authored by a
// bureau, which the bureau sends again later, and sometimes a record applied before or one
// already carried by an earlier rogue block; the machine rejects them all with code "block".
func (h *History) rogueBlock() *ledger.Block {
	n := h.Net
	prov := Provinces[h.rng.intN(len(Provinces))]
	recs := make([][]byte, 1+h.rng.intN(3))
	for i := range recs {
		recs[i] = n.Record(n.Bureau[prov], h.contribution(prov))
	}
	h.resend[prov] = append(h.resend[prov], recs...)
	if len(h.sent) > 0 && h.rng.intN(2) == 0 {
		recs = append(recs, h.sent[h.rng.intN(len(h.sent))])
	}
	if len(h.rogue) > 0 && h.rng.intN(2) == 0 {
		recs = append(recs, h.rogue[h.rng.intN(len(h.rogue))])
	}
	for _, r := range recs {
		h.rogue = pushRing(h.rogue, r)
	}
	return n.Block(n.Stranger, recs...)
}

func (h *History) worker() ledger.WorkerID { return Worker(h.rng.intN(h.Workers)) }
func (h *History) employer() string        { return Employer(h.rng.intN(h.Employers)) }

// period returns the current month one time in three, else a month of the last two years.
func (h *History) period() uint32 {
	if h.rng.intN(3) == 0 {
		return h.Net.Today().Period().Int()
	}
	return h.Net.Today().Period().Add(-h.rng.intN(24)).Int()
}

func (h *History) contribution(prov string) *ledger.Contribution {
	return h.Net.Contribution(h.worker(), Region(prov), h.period(), int64(300000+h.rng.intN(3000000)), h.employer())
}

// record returns the next record for the block of prov's bureau, authored by it.
func (h *History) record(st ledger.StateReader, prov string) []byte {
	n := h.Net
	b := n.Bureau[prov]
	if q := h.resend[prov]; len(q) > 0 && h.rng.intN(3) == 0 {
		h.resend[prov] = q[1:]
		return q[0]
	}
	today := n.Today()
	switch p := h.rng.intN(100); {
	case p < 45:
		return h.sendContribution(prov, false)
	case p < 52:
		return h.sendContribution(prov, true)
	case p < 56 && len(h.sent) > 0:
		return h.sent[h.rng.intN(len(h.sent))]
	case p < 62:
		e := &ledger.Employment{Worker: h.worker(), Employer: h.employer(), Region: Region(prov), Start: today.AddDays(-h.rng.intN(400)).Int()}
		if h.rng.intN(3) == 0 {
			e.End = today.Int()
		}
		return n.Record(b, e)
	case p < 66:
		w := h.worker()
		raw := n.Record(b, &ledger.ConsentGrant{Worker: w, Grantee: h.employer(), Scope: "history", From: today.Int()})
		h.grants = append(h.grants, grant{id: recordID(raw), worker: w})
		return raw
	case p < 68 && len(h.grants) > 0:
		g := h.grants[h.rng.intN(len(h.grants))]
		return n.Record(b, &ledger.ConsentRevoke{Worker: g.worker, Grant: g.id})
	case p < 72:
		return n.Record(b, &ledger.Access{Worker: h.worker(), Reader: h.employer(), What: "history", Purpose: "hiring"})
	case p < 78:
		if raw := h.transferApply(st, prov); raw != nil {
			return raw
		}
	case p < 88:
		if raw := h.transferStep(prov); raw != nil {
			return raw
		}
	case p < 92:
		if raw := h.correction(st, prov); raw != nil {
			return raw
		}
	case p < 96:
		if h.garbage == nil || h.rng.intN(2) == 0 {
			h.garbage = make([]byte, 1+h.rng.intN(64))
			for i := range h.garbage {
				h.garbage[i] = byte(h.rng.next())
			}
		}
		return h.garbage
	}
	return h.sendContribution(prov, false)
}

func (h *History) sendContribution(prov string, invalid bool) []byte {
	c := h.contribution(prov)
	if invalid {
		c.EmployeeAmount++ // C2
	}
	raw := h.Net.Record(h.Net.Bureau[prov], c)
	if !invalid {
		h.contribs = pushRing(h.contribs, sentContribution{id: recordID(raw), prov: prov, year: int(c.Period / 100)})
	}
	return raw
}

// transferApply opens a case at prov for a worker who holds a pension account elsewhere.
func (h *History) transferApply(st ledger.StateReader, prov string) []byte {
	for range 4 {
		w := h.worker()
		accts, err := ledger.WorkerAccounts(st, w)
		if err != nil {
			h.Net.TB.Fatalf("ledgertest history: %v", err)
		}
		for _, a := range accts {
			if a.Scheme == ledger.SchemePension && a.Province != prov && a.Status == ledger.StatusActive {
				raw := h.Net.Record(h.Net.Bureau[prov], &ledger.TransferApply{Worker: w, Scheme: ledger.SchemePension, From: a.Province, To: prov})
				h.cases = append(h.cases, &openCase{id: recordID(raw), from: a.Province, to: prov, stage: rules.StageApplied})
				return raw
			}
		}
	}
	return nil
}

// transferStep advances one of the open cases prov's bureau has a step in: usually the next step
// the rules allow, sometimes a rejection, sometimes a step out of order (rejected T4).
func (h *History) transferStep(prov string) []byte {
	n := h.Net
	for _, i := range h.rng.perm(len(h.cases)) {
		c := h.cases[i]
		var body ledger.Body
		next := rules.Stage("")
		switch {
		case h.rng.intN(10) == 0 && (c.to == prov || c.from == prov):
			body, next = &ledger.TransferReject{Case: c.id, Reason: "documents incomplete"}, rules.StageRejected
		case h.rng.intN(10) == 0 && c.to == prov:
			body = &ledger.TransferIn{Case: c.id} // possibly out of order
		case c.stage == rules.StageApplied && c.to == prov:
			body, next = &ledger.TransferLetter{Case: c.id}, rules.StageLetterSent
		case c.stage == rules.StageLetterSent && c.from == prov:
			body, next = &ledger.TransferOut{Case: c.id}, rules.StageOutProcessed
		case (c.stage == rules.StageOutProcessed || c.stage == rules.StagePartial) && c.to == prov:
			body, next = &ledger.TransferIn{Case: c.id}, rules.StageCompleted
		default:
			continue
		}
		if next != "" && rules.NextStageAllowed(c.stage, next) {
			c.stage = next
		}
		return n.Record(n.Bureau[prov], body)
	}
	return nil
}

// correction withdraws or replaces an accepted contribution prov's bureau sent.
func (h *History) correction(st ledger.StateReader, prov string) []byte {
	n := h.Net
	for _, i := range h.rng.perm(len(h.contribs)) {
		c := h.contribs[i]
		if c.prov != prov || c.year != h.Net.Today().Year {
			continue
		}
		code, _, ok, err := ledger.RecordStatus(st, c.id)
		if err != nil {
			n.TB.Fatalf("ledgertest history: %v", err)
		}
		if !ok || code != ledger.CodeOK {
			continue
		}
		corr := &ledger.Correction{Target: c.id, Reason: ledger.ReasonWithdrawn}
		year := c.year
		if h.rng.intN(2) == 0 {
			k := n.Contribution(h.worker(), Region(prov), n.Today().Period().Int(), int64(300000+h.rng.intN(3000000)), h.employer())
			corr.Reason, year = ledger.ReasonWrongAmount, n.Today().Year
			corr.Replacement = ledger.NewRecord(n.Bureau[prov].ID(), 0, k).Body
		}
		raw := n.Record(n.Bureau[prov], corr)
		h.contribs = pushRing(h.contribs, sentContribution{id: recordID(raw), prov: prov, year: year})
		return raw
	}
	return nil
}

// recordID returns the ID of a record built by this package.
func recordID(raw []byte) ledger.Hash {
	r, _, err := ledger.DecodeRecord(raw)
	if err != nil {
		panic("ledgertest: a record built here does not decode: " + err.Error())
	}
	return r.ID()
}

func pushRing[T any](s []T, v T) []T {
	if len(s) >= 64 {
		s = s[1:]
	}
	return append(s, v)
}

// rng is splitmix64: small, seedable and good enough to pick test inputs. (math/rand is not
// imported under ledger/.)
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intN returns a number in [0, n); n must be positive.
func (r *rng) intN(n int) int { return int(r.next() % uint64(n)) }

// perm returns a random permutation of [0, n).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		j := r.intN(i + 1)
		p[i], p[j] = p[j], i
	}
	return p
}
