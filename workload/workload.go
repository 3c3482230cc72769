// Package workload generates a synthetic but realistic stream of social-insurance records for the
// devnet and the benchmark: a population of workers with valid resident ID numbers, employers with
// valid unified social credit codes in each region, employment starts, monthly contributions in
// the four schemes at wages around each province's average, now and then a worker who moves to
// another province and applies for a transfer, and consents for employers to read a worker's
// history. The stream is deterministic for a seed. (Corrections need the IDs the ledger gave, so
// the driver makes them from what it submitted.)
package workload

import (
	"fmt"
	"math/rand/v2"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// Region is a bureau's province with the division codes of its agencies.
type Region struct {
	Province  string   // 2 digits
	Divisions []string // 6-digit agency codes within the province
	AvgWage   int64    // fen; wages are drawn around it
}

// DefaultRegions are the devnet's four provinces.
func DefaultRegions() []Region {
	return []Region{
		{Province: "44", Divisions: []string{"440100", "440300", "440600"}, AvgWage: 1_000_000},
		{Province: "51", Divisions: []string{"510100", "510700"}, AvgWage: 800_000},
		{Province: "33", Divisions: []string{"330100", "330200"}, AvgWage: 950_000},
		{Province: "11", Divisions: []string{"110105", "110108"}, AvgWage: 1_300_000},
	}
}

// Worker is one synthetic insured person.
type Worker struct {
	ID       string // 18-character resident ID number
	Hukou    string
	Region   int // index into the generator's regions where the worker now works
	Employer string
	Wage     int64
	Flexible bool

	newJob bool // an employment record is due before the next contribution
}

// Transfer is a move of a worker between provinces, to be applied for at the new place.
type Transfer struct {
	WorkerID string
	From, To string
}

// Consent is a worker's consent to an employer reading the worker's history, to be granted at
// the bureau of the worker's region.
type Consent struct {
	WorkerID string
	Province string // where the worker now works
	Grantee  string // the employer's USCC
	Scope    string
}

// Generator produces the stream.
type Generator struct {
	r         *rand.Rand
	regions   []Region
	workers   []Worker
	employers [][]string // per region
	next      int        // next worker of the month
	month     civil.Period
	moves     []Transfer
	consents  []Consent
}

// New returns a generator of workers workers spread over regions, contributing from month on.
func New(seed uint64, regions []Region, workers int, month civil.Period) *Generator {
	g := &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), regions: regions, month: month}
	for _, reg := range regions {
		var es []string
		for range max(3, workers/200) {
			es = append(es, g.uscc(reg.Province))
		}
		g.employers = append(g.employers, es)
	}
	for i := range workers {
		ri := i % len(regions)
		hukou := regions[g.r.IntN(len(regions))].Province
		w := Worker{ID: g.residentID(), Hukou: hukou, Region: ri, Wage: g.wage(regions[ri].AvgWage)}
		if g.r.IntN(20) == 0 {
			w.Flexible = true
		} else {
			w.Employer = g.employers[ri][g.r.IntN(len(g.employers[ri]))]
			w.newJob = true
		}
		g.workers = append(g.workers, w)
	}
	return g
}

// Workers returns the population.
func (g *Generator) Workers() []Worker { return g.workers }

// Month returns the contribution month being generated.
func (g *Generator) Month() civil.Period { return g.month }

// residentID returns a valid ID number of someone born 1960–2004 registered in a devnet province.
func (g *Generator) residentID() string {
	reg := g.regions[g.r.IntN(len(g.regions))]
	addr := reg.Divisions[g.r.IntN(len(reg.Divisions))]
	birth := civil.MustDate(1960, 1, 1).AddDays(g.r.IntN(45 * 365))
	first17 := fmt.Sprintf("%s%08d%03d", addr, birth.Int(), g.r.IntN(1000))
	c, err := ids.CheckChar(first17)
	if err != nil {
		panic(err) // first17 is 17 digits by construction
	}
	return first17 + string(c)
}

const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// uscc returns a valid unified social credit code of a company registered in province prov.
func (g *Generator) uscc(prov string) string {
	b := []byte("91" + prov + fmt.Sprintf("%04d", g.r.IntN(10000)))
	for range 9 {
		b = append(b, usccAlphabet[g.r.IntN(len(usccAlphabet))])
	}
	c, err := ids.USCCCheckChar(string(b))
	if err != nil {
		panic(err)
	}
	return string(append(b, c))
}

// wage draws a monthly wage between 40% and 400% of avg, skewed towards avg, in whole yuan.
func (g *Generator) wage(avg int64) int64 {
	pct := 40 + g.r.Int64N(120) + g.r.Int64N(120) + g.r.Int64N(121)
	return avg * pct / 100 / 100 * 100
}

var schemes = []string{"pension", "medical", "unemployment", "injury"}

// Next returns the next records: the month's contributions worker by worker (pension, medical,
// unemployment and injury for employees; pension for individuals), preceded by an employment
// record when the worker starts with an employer, then the next month.
func (g *Generator) Next() []intake.Input {
	w := &g.workers[g.next]
	reg := g.regions[w.Region]
	div := reg.Divisions[0]
	var out []intake.Input
	if w.newJob {
		out = append(out, intake.Input{Type: "employment", WorkerID: w.ID, Hukou: w.Hukou, Employer: w.Employer, Region: div, Start: g.month.FirstDay().String()})
		w.newJob = false
	}
	if w.Flexible {
		base := reg.AvgWage // an individual declares the average wage, always within the limits
		out = append(out, intake.Input{Type: "contribution", WorkerID: w.ID, Hukou: w.Hukou, Region: div, Period: g.month.String(), Scheme: "pension", Flexible: true, Base: &base})
	} else {
		for _, s := range schemes {
			wage := w.Wage
			out = append(out, intake.Input{Type: "contribution", WorkerID: w.ID, Hukou: w.Hukou, Employer: w.Employer, Region: div, Period: g.month.String(), Scheme: s, Wage: &wage})
		}
	}
	g.next++
	if g.next == len(g.workers) {
		g.next = 0
		g.month = g.month.Add(1)
		g.monthEnd()
	}
	return out
}

// monthEnd moves about one worker in 500 to another province: the worker starts with a new
// employer there (an employment record comes with the next contribution) and a transfer is due.
// It also makes the month's consents.
func (g *Generator) monthEnd() {
	for i := range g.workers {
		if g.r.IntN(500) != 0 || len(g.regions) < 2 {
			continue
		}
		w := &g.workers[i]
		from := g.regions[w.Region].Province
		w.Region = (w.Region + 1 + g.r.IntN(len(g.regions)-1)) % len(g.regions)
		if !w.Flexible {
			es := g.employers[w.Region]
			w.Employer = es[g.r.IntN(len(es))]
			w.newJob = true
		}
		g.moves = append(g.moves, Transfer{WorkerID: w.ID, From: from, To: g.regions[w.Region].Province})
	}
	// About one employee in 300 a month lets the employer read their history.
	for i := range g.workers {
		if w := &g.workers[i]; !w.Flexible && g.r.IntN(300) == 0 {
			g.consents = append(g.consents, Consent{WorkerID: w.ID, Province: g.regions[w.Region].Province, Grantee: w.Employer, Scope: "history"})
		}
	}
}

// Consents returns and clears the consents generated since the last call.
func (g *Generator) Consents() []Consent {
	out := g.consents
	g.consents = nil
	return out
}

// Transfers returns and clears the moves generated since the last call.
func (g *Generator) Transfers() []Transfer {
	out := g.moves
	g.moves = nil
	return out
}
