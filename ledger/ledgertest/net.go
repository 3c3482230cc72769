// Package ledgertest builds small, valid ledger networks and histories for the tests of other
// packages (store, consensus, node). It uses only the exported API of ledger and its rule
// packages, so it keeps working while the ledger's internals change.
//
// Everything is deterministic: keys come from fixed seeds, time is a counter the caller advances,
// and the random history generator is seeded. Like the ledger itself, the package reads no clock,
// uses no math/rand and starts no goroutines (ledger/deps_test.go checks every file under ledger/).
package ledgertest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
	"github.com/jaminan/jaminan/ledger/rules"
)

// Network is the network name of every Net.
const Network = "jaminan-ledgertest"

// Start is the genesis time: 2023-01-02 00:00 in UTC+8, in unix milliseconds.
const Start = uint64(1672588800000)

// Provinces are the provinces that have a bureau, in the order their seeds are assigned.
var Provinces = []string{"44", "51", "33", "11"}

// regions maps each province to the 6-digit division code its bureau collects in.
var regions = map[string]string{"44": "440300", "51": "510100", "33": "330100", "11": "110105"}

// Pepper is the pseudonym pepper of Worker.
var Pepper = []byte("ledgertest pepper")

// Net is a small network: three ministry signers and one bureau for each of Provinces, founded
// by a genesis with ledger.DefaultParams and a UTC+8 offset. It keeps the producers' chain tips
// and a clock, so that the records, blocks and checkpoints it builds are valid in sequence.
type Net struct {
	TB       testing.TB
	Genesis  *ledger.Genesis
	Machine  *ledger.Machine
	Ministry []*ledger.Signer
	Bureau   map[string]*ledger.Signer // by province
	// Stranger signs blocks but is no member: its blocks are rejected with code "block".
	Stranger *ledger.Signer
	// Time is the network clock in unix milliseconds: records are stamped with it and
	// checkpoints never go back from it.
	Time uint64

	params *ledger.Params
	tips   map[ledger.KeyID]ledger.BlockHeader
}

func signer(b byte) *ledger.Signer { return ledger.SignerFromSeed(bytes.Repeat([]byte{b}, 32)) }

// New builds the network. Seeds: ministry 0x10–0x12, bureaus 0x20–0x23 (in Provinces order),
// stranger 0x7f.
func New(tb testing.TB) *Net {
	tb.Helper()
	n := &Net{TB: tb, Bureau: map[string]*ledger.Signer{}, Stranger: signer(0x7f), Time: Start,
		tips: map[ledger.KeyID]ledger.BlockHeader{}}
	g := &ledger.Genesis{Network: Network, Time: Start, Params: ledger.DefaultParams(), UTCOffset: 8 * 3600}
	for i := 0; i < 3; i++ {
		s := signer(byte(0x10 + i))
		n.Ministry = append(n.Ministry, s)
		g.Members = append(g.Members, ledger.Member{ID: s.ID(), Role: ledger.RoleMinistry, Name: fmt.Sprintf("ministry %d", i)})
	}
	for i, prov := range Provinces {
		s := signer(byte(0x20 + i))
		n.Bureau[prov] = s
		g.Members = append(g.Members, ledger.Member{ID: s.ID(), Role: ledger.RoleBureau, Region: prov, Name: "bureau " + prov})
	}
	g.Normalise()
	if err := g.Validate(); err != nil {
		tb.Fatalf("ledgertest genesis: %v", err)
	}
	n.Genesis, n.Machine, n.params = g, ledger.NewMachine(g), ledger.NewParams(g.Params)
	return n
}

// GenesisState returns a fresh in-memory state holding the genesis writes.
func (n *Net) GenesisState() *ledger.MemState {
	st := ledger.NewMemState()
	st.Commit(ledger.GenesisWrites(n.Genesis))
	return st
}

// Region returns the division code the bureau of prov collects in.
func Region(prov string) string { return regions[prov] }

// Worker returns the pseudonym of worker i; distinct indexes give distinct workers.
func Worker(i int) ledger.WorkerID {
	return ledger.Pseudonym(Pepper, fmt.Sprintf("%017dX", i))
}

// Employer returns a valid unified social credit code (DOMAIN I2) for employer i.
func Employer(i int) string {
	first := fmt.Sprintf("91440300%09d", i)
	c, err := ids.USCCCheckChar(first)
	if err != nil {
		panic(fmt.Sprintf("ledgertest: employer %d: %v", i, err)) // the format above is always valid
	}
	return first + string(c)
}

// Today returns the network's current day in its time zone.
func (n *Net) Today() civil.Date {
	return civil.DateOfUnixMilli(int64(n.Time), int(n.Genesis.UTCOffset))
}

// Contribution returns an employee pension contribution of worker w in region for period
// (YYYYMM) at the monthly wage, with the base and amounts the rules give (DOMAIN C1–C2), so it
// is accepted unless the month is already contributed or lies after the checkpoint's month.
func (n *Net) Contribution(w ledger.WorkerID, region string, period uint32, wage int64, employer string) *ledger.Contribution {
	n.TB.Helper()
	p, err := civil.PeriodFromInt(period)
	if err != nil {
		n.TB.Fatalf("ledgertest contribution: %v", err)
	}
	prov, day := region[:2], p.FirstDay()
	get := func(name string) int64 {
		v, ok := n.params.Get(name, prov, day)
		if !ok {
			n.TB.Fatalf("ledgertest contribution: no %s for %s on %s", name, prov, day)
		}
		return v
	}
	lim, err := rules.Limits(get(ledger.ParamAvgWage), get(ledger.ParamBaseFloorPct), get(ledger.ParamBaseCeilPct))
	if err != nil {
		n.TB.Fatalf("ledgertest contribution: %v", err)
	}
	base := rules.Base(wage, lim)
	ee, err1 := rules.Share(base, get(ledger.ParamPensionEmployee))
	er, err2 := rules.Share(base, get(ledger.ParamPensionEmployer))
	if err1 != nil || err2 != nil {
		n.TB.Fatalf("ledgertest contribution: %v %v", err1, err2)
	}
	return &ledger.Contribution{Worker: w, Hukou: "51", Birth: 19900307, Sex: ledger.SexMale, Employer: employer,
		Region: region, Period: period, Scheme: ledger.SchemePension, Wage: wage, Base: base,
		EmployeeAmount: ee, EmployerAmount: er}
}

// Record encodes a record of body authored by author at the next millisecond, signed by the
// cosigners (a record carried by another producer needs its author among them).
func (n *Net) Record(author *ledger.Signer, body ledger.Body, cosigners ...*ledger.Signer) []byte {
	n.Time++
	r := ledger.NewRecord(author.ID(), n.Time, body)
	for _, s := range cosigners {
		r.Sign(n.Genesis.Network, s)
	}
	return r.Encode()
}

// Block builds producer's next block holding recs.
func (n *Net) Block(producer *ledger.Signer, recs ...[]byte) *ledger.Block {
	n.TB.Helper()
	var prev *ledger.BlockHeader
	if h, ok := n.tips[producer.ID()]; ok {
		prev = &h
	}
	b, err := ledger.BuildBlock(producer, n.Genesis.Network, prev, n.Time, recs)
	if err != nil {
		n.TB.Fatalf("ledgertest block: %v", err)
	}
	n.tips[producer.ID()] = b.Header
	return b
}

// SetTip makes h the last block of its producer, for a Net that resumes a stored history.
func (n *Net) SetTip(h ledger.BlockHeader) { n.tips[h.Producer] = h }

// Tip returns the last block header built for producer.
func (n *Net) Tip(producer ledger.KeyID) (ledger.BlockHeader, bool) {
	h, ok := n.tips[producer]
	return h, ok
}

// Checkpoint orders blocks into the checkpoint that follows prev (the state's ledger.Meta), one
// second after the later of the clock and prev.Time.
func (n *Net) Checkpoint(prev ledger.Meta, blocks ...*ledger.Block) *ledger.CheckpointBody {
	n.Time = max(n.Time, prev.Time) + 1000
	hs := make([]ledger.Hash, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Hash()
	}
	cb := ledger.NewCheckpoint(n.Genesis.Network, prev.Seq+1, prev.Checkpoint, n.Time, hs)
	return &cb
}

// Certify returns the certificate of res signed by every ministry signer.
func (n *Net) Certify(res *ledger.Result) *ledger.Certificate { return n.CertifyBy(res, n.Ministry...) }

// CertifyBy returns the certificate of res signed by signers (after a change of the ministry
// set, the set in force).
func (n *Net) CertifyBy(res *ledger.Result, signers ...*ledger.Signer) *ledger.Certificate {
	votes := make([]ledger.Vote, len(signers))
	for i, s := range signers {
		votes[i] = ledger.SignVote(s, n.Genesis.Network, res.Seq, res.Checkpoint, res.StateRoot)
	}
	c := ledger.Certify(res.Seq, res.Checkpoint, res.StateRoot, votes)
	return &c
}

// ApplyMem applies cb to the in-memory state st and commits the writes.
func (n *Net) ApplyMem(st *ledger.MemState, cb *ledger.CheckpointBody, blocks []*ledger.Block) *ledger.Result {
	n.TB.Helper()
	res, err := n.Machine.Apply(st, cb, blocks)
	if err != nil {
		n.TB.Fatalf("ledgertest apply checkpoint %d: %v", cb.Checkpoint.Seq, err)
	}
	st.Commit(res.Writes)
	return res
}
