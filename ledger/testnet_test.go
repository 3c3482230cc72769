package ledger

import (
	"bytes"
	"testing"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
	"github.com/jaminan/jaminan/ledger/rules"
)

// tnet is a small network for state-machine tests: 3 ministry keys, bureaus of 44 and 51.
type tnet struct {
	t        testing.TB
	g        *Genesis
	m        *Machine
	st       *MemState
	ministry []*Signer
	bureau   map[string]*Signer
	tips     map[KeyID]*BlockHeader
	time     uint64
	results  []*Result
}

// 2023-01-02 00:00 UTC+8
const tnetStart = uint64(1672588800000)

func newTnet(t testing.TB) *tnet {
	n := &tnet{t: t, bureau: map[string]*Signer{}, tips: map[KeyID]*BlockHeader{}, time: tnetStart}
	g := &Genesis{Network: "jaminan-tnet", Time: tnetStart, Params: DefaultParams(), UTCOffset: 8 * 3600}
	for i := 0; i < 3; i++ {
		s := SignerFromSeed(bytes.Repeat([]byte{byte(0x10 + i)}, 32))
		n.ministry = append(n.ministry, s)
		g.Members = append(g.Members, Member{ID: s.ID(), Role: RoleMinistry, Name: "ministry"})
	}
	for i, prov := range []string{"44", "51", "33", "11"} {
		s := SignerFromSeed(bytes.Repeat([]byte{byte(0x20 + i)}, 32))
		n.bureau[prov] = s
		g.Members = append(g.Members, Member{ID: s.ID(), Role: RoleBureau, Region: prov, Name: "bureau " + prov})
	}
	g.Normalise()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	n.g, n.m, n.st = g, NewMachine(g), NewMemState()
	n.st.Commit(GenesisWrites(g))
	return n
}

// rec builds and encodes a record authored by s.
func (n *tnet) rec(s *Signer, body Body, sign ...*Signer) []byte {
	n.time++
	r := NewRecord(s.ID(), n.time, body)
	for _, x := range sign {
		r.Sign(n.g.Network, x)
	}
	return r.Encode()
}

// block builds the producer's next block.
func (n *tnet) block(p *Signer, recs ...[]byte) *Block {
	b, err := BuildBlock(p, n.g.Network, n.tips[p.ID()], n.time, recs)
	if err != nil {
		n.t.Fatal(err)
	}
	h := b.Header
	n.tips[p.ID()] = &h
	return b
}

// next orders blocks into the checkpoint after the state's last one.
func (n *tnet) next(blocks []*Block) *CheckpointBody {
	n.t.Helper()
	meta, err := ReadMeta(n.st)
	if err != nil {
		n.t.Fatal(err)
	}
	hs := make([]Hash, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Hash()
	}
	n.time += 1000
	cb := NewCheckpoint(n.g.Network, meta.Seq+1, meta.Checkpoint, n.time, hs)
	return &cb
}

// apply orders blocks into the next checkpoint, applies and commits it.
func (n *tnet) apply(blocks ...*Block) *Result {
	n.t.Helper()
	res, err := n.m.Apply(n.st, n.next(blocks), blocks)
	if err != nil {
		n.t.Fatal(err)
	}
	n.st.Commit(res.Writes)
	n.results = append(n.results, res)
	return res
}

// submit applies records produced by p in one block and returns their receipts.
func (n *tnet) submit(p *Signer, recs ...[]byte) []Receipt {
	return n.apply(n.block(p, recs...)).Receipts
}

// advanceDays moves the network clock.
func (n *tnet) advanceDays(d int) { n.time += uint64(d) * 86400 * 1000 }

func worker(i int) WorkerID {
	return Pseudonym([]byte("tnet pepper"), string(rune('A'+i%26))+string(rune('a'+i/26)))
}

const testEmployer = "91440300123456788M"

// contribution returns a valid employee pension contribution for the month, computed by the rules.
func (n *tnet) contribution(w WorkerID, region string, period uint32, wage int64) *Contribution {
	p, _ := civil.PeriodFromInt(period)
	prov := region[:2]
	params := NewParams(n.g.Params)
	avg, _ := params.Get(ParamAvgWage, prov, p.FirstDay())
	lim, err := rules.Limits(avg, 60, 300)
	if err != nil {
		n.t.Fatal(err)
	}
	base := rules.Base(wage, lim)
	ee, _ := rules.Share(base, 800)
	er, _ := rules.Share(base, 1600)
	return &Contribution{Worker: w, Hukou: "51", Birth: 19900307, Sex: SexMale, Employer: testEmployer, Region: region,
		Period: period, Scheme: SchemePension, Wage: wage, Base: base, EmployeeAmount: ee, EmployerAmount: er}
}

func codes(rs []Receipt) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func (n *tnet) account(w WorkerID, scheme, prov string) *account {
	raw, ok, _ := n.st.Get(keyAccount(w, scheme, prov))
	if !ok {
		return nil
	}
	var a account
	if err := decMode.Unmarshal(raw, &a); err != nil {
		n.t.Fatal(err)
	}
	return &a
}

var _ = ids.IsProvince

func dateOf(ms uint64, n *tnet) civil.Date {
	return civil.DateOfUnixMilli(int64(ms), int(n.g.UTCOffset))
}
