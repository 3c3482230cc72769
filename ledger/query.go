package ledger

import (
	"fmt"
	"slices"

	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/rules"
)

// AccountView is one pension or medical relation of a worker, for queries and statements.
type AccountView struct {
	Scheme    string `json:"scheme"`
	Province  string `json:"region"`
	Status    string `json:"status"`
	Temporary bool   `json:"temporary"`
	Months    uint32 `json:"months"`
	First     uint32 `json:"first"`
	Last      uint32 `json:"last"`
	IA        int64  `json:"individual_balance"`
	Pooled    int64  `json:"pooled_transferable"` // T1 pooled part if transferred now
}

// WorkerAccounts lists a worker's relations in the order they were opened.
func WorkerAccounts(st StateReader, w WorkerID) ([]AccountView, error) {
	ws, ok, err := readObj[workerState](st, keyWorker(w))
	if err != nil || !ok {
		return nil, err
	}
	return workerAccounts(st, w, ws)
}

func workerAccounts(st StateReader, w WorkerID, ws *workerState) ([]AccountView, error) {
	var out []AccountView
	for _, ref := range ws.Accounts {
		a, ok, err := readObj[account](st, keyAccount(w, ref.Scheme, ref.Province))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		v := AccountView{Scheme: ref.Scheme, Province: ref.Province, Status: a.Status, Temporary: a.Temporary,
			Months: a.Months, First: a.First, Last: a.Last, IA: a.IA}
		if ref.Scheme == SchemePension && a.Status != StatusTransferred {
			v.Pooled = rules.PooledFromNumerator(a.PFNum)
		}
		out = append(out, v)
	}
	return out, nil
}

// BenefitPlace applies DOMAIN T3 to a worker's pension relations: stints ordered by their last
// contributed month, temporary ones dropped, months cumulated per province.
func BenefitPlace(st StateReader, w WorkerID, on civil.Date) (string, error) {
	ws, ok, err := readObj[workerState](st, keyWorker(w))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("benefit place: unknown worker")
	}
	accts, err := workerAccounts(st, w, ws)
	if err != nil {
		return "", err
	}
	ps, ok, err := readObj[[]Param](st, keyParams)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("benefit place: state has no parameters")
	}
	threshold, ok := NewParams(*ps).Get(ParamBenefitMonths, "", on)
	if !ok {
		return "", fmt.Errorf("benefit place: no %s in force", ParamBenefitMonths)
	}
	var pension []AccountView
	for _, a := range accts {
		if a.Scheme == SchemePension && a.Months > 0 {
			pension = append(pension, a)
		}
	}
	slices.SortStableFunc(pension, func(a, b AccountView) int { return int(a.Last) - int(b.Last) })
	stints := make([]rules.Stint, len(pension))
	for i, a := range pension {
		stints[i] = rules.Stint{Province: a.Province, Months: int(a.Months), Temporary: a.Temporary}
	}
	return rules.BenefitPlace(ws.Hukou, stints, int(threshold)), nil
}
