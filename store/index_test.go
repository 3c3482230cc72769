package store

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/ledgertest"
)

// refIndex is the dumb in-memory reference of the store's locations and indexes: plain maps
// filled by walking the history in order, record by record, with the rules written out again.
type refIndex struct {
	locs      map[ledger.Hash]Location
	blockLocs int // records whose first application was in a rejected block
	workers   map[ledger.WorkerID][]RecordRef
	cases     map[ledger.Hash][]RecordRef
	access    map[ledger.WorkerID][]AccessRef
	months    map[string]map[[2]any]EmployerMonth // employer → (worker, period)
	employ    map[string]map[ledger.WorkerID]Employment
	accounts  map[string]map[Account]bool // province → accounts

	applies map[ledger.Hash]*ledger.TransferApply
	inForce map[ledger.Hash]*ledger.Contribution // record → the contribution in force from it
}

func buildRef(t *testing.T, steps []step) *refIndex {
	r := &refIndex{locs: map[ledger.Hash]Location{}, workers: map[ledger.WorkerID][]RecordRef{}, cases: map[ledger.Hash][]RecordRef{},
		access: map[ledger.WorkerID][]AccessRef{}, months: map[string]map[[2]any]EmployerMonth{}, employ: map[string]map[ledger.WorkerID]Employment{},
		accounts: map[string]map[Account]bool{}, applies: map[ledger.Hash]*ledger.TransferApply{}, inForce: map[ledger.Hash]*ledger.Contribution{}}
	for _, st := range steps {
		seq := st.cb.Checkpoint.Seq
		ord := 0
		for j, b := range st.blocks {
			for i, raw := range b.Records {
				rc := st.res.Receipts[ord]
				pos := Pos{Seq: seq, Ord: uint32(ord)}
				ord++
				loc := Location{Seq: seq, BlockIndex: uint32(j), Block: b.Hash(), Index: uint32(i), Code: rc.Code}
				_, had := r.locs[rc.ID]
				switch {
				case rc.Code == ledger.CodeDuplicate:
					continue
				case rc.Code == ledger.CodeBlock && had:
					continue
				case rc.Code == ledger.CodeBlock:
					r.blockLocs++ // the only locations the store keeps itself
				}
				// Otherwise the latest application decides: an accepted or rule-rejected record
				// comes back only as a duplicate, undecodable bytes are rejected every time.
				if rc.Code == ledger.CodeOK {
					rec, body, err := ledger.DecodeRecord(raw)
					if err != nil {
						t.Fatal(err)
					}
					r.accepted(RecordRef{Pos: pos, ID: rc.ID, Type: rec.Type}, body)
				}
				r.locs[rc.ID] = loc
			}
		}
	}
	return r
}

func (r *refIndex) accepted(ref RecordRef, body ledger.Body) ledger.WorkerID {
	add := func(w ledger.WorkerID) { r.workers[w] = append(r.workers[w], ref) }
	switch b := body.(type) {
	case *ledger.Contribution:
		r.contribution(ref.ID, b)
		add(b.Worker)
		return b.Worker
	case *ledger.Employment:
		if r.employ[b.Employer] == nil {
			r.employ[b.Employer] = map[ledger.WorkerID]Employment{}
		}
		r.employ[b.Employer][b.Worker] = Employment{Worker: b.Worker, Start: b.Start, End: b.End, Record: ref.ID}
		add(b.Worker)
		return b.Worker
	case *ledger.Correction:
		target := r.inForce[b.Target]
		delete(r.months[target.Employer], [2]any{target.Worker, target.Period})
		add(target.Worker)
		if len(b.Replacement) > 0 {
			body, err := ledger.DecodeBody(ledger.TypeContribution, b.Replacement)
			if err != nil {
				panic(err)
			}
			c := body.(*ledger.Contribution)
			r.contribution(ref.ID, c)
			if c.Worker != target.Worker {
				add(c.Worker)
			}
		}
		return target.Worker
	case *ledger.TransferApply:
		r.applies[ref.ID] = b
		r.cases[ref.ID] = append(r.cases[ref.ID], ref)
		add(b.Worker)
		return b.Worker
	case *ledger.TransferLetter, *ledger.TransferOut, *ledger.TransferIn, *ledger.TransferReject:
		var c ledger.Hash
		switch b := b.(type) {
		case *ledger.TransferLetter:
			c = b.Case
		case *ledger.TransferOut:
			c = b.Case
		case *ledger.TransferIn:
			c = b.Case
		case *ledger.TransferReject:
			c = b.Case
		}
		a := r.applies[c]
		r.cases[c] = append(r.cases[c], ref)
		add(a.Worker)
		if _, in := b.(*ledger.TransferIn); in {
			r.account(a.To, a.Scheme, a.Worker)
		}
		return a.Worker
	case *ledger.ConsentGrant:
		add(b.Worker)
		return b.Worker
	case *ledger.ConsentRevoke:
		add(b.Worker)
		return b.Worker
	case *ledger.Access:
		add(b.Worker)
		r.access[b.Worker] = append(r.access[b.Worker], AccessRef{RecordRef: ref, Reader: b.Reader, What: b.What})
		return b.Worker
	}
	panic(fmt.Sprintf("reference: accepted record of type %T", body))
}

func (r *refIndex) contribution(id ledger.Hash, c *ledger.Contribution) {
	r.inForce[id] = c
	r.account(c.Region[:2], c.Scheme, c.Worker)
	if c.Employer != "" {
		if r.months[c.Employer] == nil {
			r.months[c.Employer] = map[[2]any]EmployerMonth{}
		}
		r.months[c.Employer][[2]any{c.Worker, c.Period}] = EmployerMonth{Worker: c.Worker, Period: c.Period, Through: max(c.Period, c.Through), Record: id}
	}
}

func (r *refIndex) account(prov, scheme string, w ledger.WorkerID) {
	if r.accounts[prov] == nil {
		r.accounts[prov] = map[Account]bool{}
	}
	r.accounts[prov][Account{Scheme: scheme, Worker: w}] = true
}

// pageAll collects a paged query with a small page size, so that paging is exercised.
func pageAll[T any, C any](t *testing.T, get func(after C, limit int) ([]T, error), cursor func(T) C) []T {
	t.Helper()
	var out []T
	var after C
	for {
		page, err := get(after, 7)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 7 {
			return out
		}
		after = cursor(page[len(page)-1])
	}
}

// compareIndexes checks every location and index of the store against the reference, and that
// the store holds no entry the reference lacks.
func compareIndexes(t *testing.T, v *View, r *refIndex, employers int) {
	t.Helper()
	count := func(p byte) int {
		n := 0
		if err := v.scanKeys([]byte{p}, nil, func([]byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for id, want := range r.locs {
		got, err := v.Location(id)
		if err != nil || got != want {
			t.Fatalf("location of %s: %+v (%v), want %+v", id, got, err, want)
		}
	}
	if n := count(pfxLocation); n != r.blockLocs {
		t.Fatalf("%d locations stored, reference has %d records first seen in a rejected block", n, r.blockLocs)
	}
	total := 0
	for w, want := range r.workers {
		got := pageAll(t, func(after Pos, n int) ([]RecordRef, error) { return v.WorkerRecords(w, after, n) }, func(e RecordRef) Pos { return e.Pos })
		if !slices.Equal(got, want) {
			t.Fatalf("records of worker %s:\n got  %v\n want %v", w, got, want)
		}
		total += len(want)
	}
	if n := count(pfxWorker); n != total {
		t.Fatalf("%d worker entries stored, reference has %d", n, total)
	}
	total = 0
	for c, want := range r.cases {
		got := pageAll(t, func(after Pos, n int) ([]RecordRef, error) { return v.CaseRecords(c, after, n) }, func(e RecordRef) Pos { return e.Pos })
		if !slices.Equal(got, want) {
			t.Fatalf("records of case %s:\n got  %v\n want %v", c, got, want)
		}
		total += len(want)
	}
	if n := count(pfxCase); n != total {
		t.Fatalf("%d case entries stored, reference has %d", n, total)
	}
	total = 0
	for w, want := range r.access {
		got := pageAll(t, func(after Pos, n int) ([]AccessRef, error) { return v.WorkerAccess(w, after, n) }, func(e AccessRef) Pos { return e.Pos })
		if !slices.Equal(got, want) {
			t.Fatalf("access records of worker %s:\n got  %v\n want %v", w, got, want)
		}
		total += len(want)
	}
	if n := count(pfxAccess); n != total {
		t.Fatalf("%d access entries stored, reference has %d", n, total)
	}
	totalMonths, totalEmploy := 0, 0
	for e := range employers {
		emp := ledgertest.Employer(e)
		var wantMonths []EmployerMonth
		for _, m := range r.months[emp] {
			wantMonths = append(wantMonths, m)
		}
		slices.SortFunc(wantMonths, func(a, b EmployerMonth) int {
			if c := bytes.Compare(a.Worker[:], b.Worker[:]); c != 0 {
				return c
			}
			return int(a.Period) - int(b.Period)
		})
		gotMonths := pageAll(t, func(after EmployerMonth, n int) ([]EmployerMonth, error) { return v.EmployerMonths(emp, after, n) }, func(m EmployerMonth) EmployerMonth { return m })
		if !slices.Equal(gotMonths, wantMonths) {
			t.Fatalf("months of employer %s:\n got  %v\n want %v", emp, gotMonths, wantMonths)
		}
		totalMonths += len(wantMonths)
		var wantEmploy []Employment
		workers := map[ledger.WorkerID]bool{}
		for w, x := range r.employ[emp] {
			wantEmploy = append(wantEmploy, x)
			workers[w] = true
		}
		for _, m := range wantMonths {
			workers[m.Worker] = true
		}
		slices.SortFunc(wantEmploy, func(a, b Employment) int { return bytes.Compare(a.Worker[:], b.Worker[:]) })
		gotEmploy := pageAll(t, func(after ledger.WorkerID, n int) ([]Employment, error) { return v.EmployerEmployments(emp, after, n) }, func(e Employment) ledger.WorkerID { return e.Worker })
		if !slices.Equal(gotEmploy, wantEmploy) {
			t.Fatalf("employments of employer %s:\n got  %v\n want %v", emp, gotEmploy, wantEmploy)
		}
		totalEmploy += len(wantEmploy)
		var wantWorkers []ledger.WorkerID
		for w := range workers {
			wantWorkers = append(wantWorkers, w)
		}
		slices.SortFunc(wantWorkers, func(a, b ledger.WorkerID) int { return bytes.Compare(a[:], b[:]) })
		gotWorkers := pageAll(t, func(after ledger.WorkerID, n int) ([]ledger.WorkerID, error) { return v.EmployerWorkers(emp, after, n) }, func(w ledger.WorkerID) ledger.WorkerID { return w })
		if !slices.Equal(gotWorkers, wantWorkers) {
			t.Fatalf("workers of employer %s: got %d, want %d", emp, len(gotWorkers), len(wantWorkers))
		}
	}
	if n := count(pfxMonths); n != totalMonths {
		t.Fatalf("%d month entries stored, reference has %d", n, totalMonths)
	}
	if n := count(pfxEmploy); n != totalEmploy {
		t.Fatalf("%d employment entries stored, reference has %d", n, totalEmploy)
	}
	total = 0
	for _, prov := range ledgertest.Provinces {
		var want []Account
		for a := range r.accounts[prov] {
			want = append(want, a)
		}
		slices.SortFunc(want, func(a, b Account) int {
			if c := int(schemeByte(a.Scheme)) - int(schemeByte(b.Scheme)); c != 0 {
				return c
			}
			return bytes.Compare(a.Worker[:], b.Worker[:])
		})
		got := pageAll(t, func(after Account, n int) ([]Account, error) { return v.RegionAccounts(prov, after, n) }, func(a Account) Account { return a })
		if !slices.Equal(got, want) {
			t.Fatalf("accounts of province %s:\n got  %v\n want %v", prov, got, want)
		}
		total += len(want)
	}
	if n := count(pfxAccount); n != total {
		t.Fatalf("%d account entries stored, reference has %d", n, total)
	}
}

// TestIndexesMatchReference applies random histories (several seeds, through the single
// transaction and through the journal) and compares every location and index with the dumb
// reference, after every few checkpoints.
func TestIndexesMatchReference(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			var s *Store
			switch seed {
			case 2, 4:
				// On disk, with every checkpoint of more than 6 badger changes through the journal.
				s = openDisk(t, t.TempDir(), Options{journalAbove: 6, redoBatch: 3})
				defer s.Close()
			case 3:
				// In memory, the same checkpoints written without a journal file.
				var err error
				s, err = Open("", Options{InMemory: true, Logger: testLogger(t), journalAbove: 6, redoBatch: 3})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			default:
				s = openMem(t)
			}
			f := newFixture(t, s, seed)
			for i := range 60 {
				f.next(1+i%4, 15)
				if i%20 == 19 {
					v := s.View()
					compareIndexes(t, v, buildRef(t, f.steps), f.h.Employers)
					v.Release()
				}
			}
			f.checkState()
			r := buildRef(t, f.steps)
			formats := 0
			for _, l := range r.locs {
				if l.Code == ledger.CodeFormat {
					formats++
				}
			}
			t.Logf("%d locations: %d first seen in a rejected block, %d undecodable", len(r.locs), r.blockLocs, formats)
			if len(r.cases) == 0 || len(r.access) == 0 || len(r.months) == 0 || len(r.employ) == 0 || r.blockLocs == 0 || formats == 0 {
				t.Fatalf("the history exercised too little: %d cases, %d access, %d employers paid, %d employing, %d records of rejected blocks, %d undecodable",
					len(r.cases), len(r.access), len(r.months), len(r.employ), r.blockLocs, formats)
			}
		})
	}
}
