package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// Transfers, employer compliance and the event stream.

type transferRequest struct {
	WorkerID string `json:"worker_id"`
	From     string `json:"from"`
	To       string `json:"to"`
	Scheme   string `json:"scheme,omitempty"`   // pension (default) or medical
	Approved bool   `json:"approved,omitempty"` // T2 exception approved
	Evidence string `json:"evidence,omitempty"` // hex SHA-256 of back-payment evidence (T6)
}

func (a *API) province(field, code string) (string, error) {
	if len(code) != 2 || ids.ProvinceOf(code, a.b.Genesis().ExtraRegions...) != code {
		return "", badField(field, "want a 2-digit province code")
	}
	return code, nil
}

func (a *API) handlePostTransfer(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req transferRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var wk ledger.WorkerID
	switch {
	case req.WorkerID == "" && p.isWorker:
		wk = p.worker
	case req.WorkerID == "":
		return badField("worker_id", "missing")
	default:
		var err error
		if wk, err = a.parseWorker("worker_id", req.WorkerID, p); err != nil {
			return err
		}
	}
	from, err := a.province("from", req.From)
	if err != nil {
		return err
	}
	to, err := a.province("to", req.To)
	if err != nil {
		return err
	}
	if from == to {
		return badField("to", "the new province must differ from the old one")
	}
	scheme := req.Scheme
	if scheme == "" {
		scheme = ledger.SchemePension
	}
	if scheme != ledger.SchemePension && scheme != ledger.SchemeMedical {
		return badField("scheme", "want pension or medical")
	}
	ta := &ledger.TransferApply{Worker: wk, Scheme: scheme, From: from, To: to, Approved: req.Approved}
	if req.Evidence != "" {
		h, err := ledger.ParseHash(req.Evidence)
		if err != nil {
			return badField("evidence", "want the hex SHA-256 of the evidence")
		}
		ta.Evidence = h[:]
	}
	// DOMAIN T4: the worker applies at the new place, whose bureau authors the application.
	if m, ok, err := a.b.Member(a.b.Signer().ID()); err != nil {
		return err
	} else if !ok || m.Role != ledger.RoleBureau || m.Province() != to {
		return badField("to", "apply at the bureau of the new province %s; this node is not it", to)
	}
	return a.writeWorkerRecord(w, r, p, wk, ta, "case")
}

type amountJSON struct {
	Individual int64 `json:"individual"`
	Pooled     int64 `json:"pooled"`
	Total      int64 `json:"total"`
}

type stageJSON struct {
	Stage      string  `json:"stage"`
	At         *string `json:"at"`
	Checkpoint uint64  `json:"checkpoint"`
}

type transferJSON struct {
	Case     ledger.Hash `json:"case"`
	Scheme   string      `json:"scheme"`
	Stage    string      `json:"stage"`
	From     string      `json:"from"`
	To       string      `json:"to"`
	Months   uint32      `json:"months"`
	Amount   amountJSON  `json:"amount"`
	Deadline *string     `json:"deadline"`
	Overdue  bool        `json:"overdue"`
	Stages   []stageJSON `json:"stages"`
}

// handleTransfer is public: the case token is the capability, and the answer holds no personal
// data (no worker, no wages), only the stages, deadline and amounts in transit.
func (a *API) handleTransfer(w http.ResponseWriter, r *http.Request, _ *principal) error {
	c, err := parseHash("case", r.PathValue("case"))
	if err != nil {
		return err
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	t, ok, err := ledger.GetTransfer(v, c)
	v.Release()
	if err != nil {
		return fmt.Errorf("transfer %s: %w", c, err)
	}
	if !ok {
		if a.b.Pending(c) {
			return notFound("transfer application %s is not final yet", c)
		}
		return notFound("no transfer case %s", c)
	}
	out := transferJSON{Case: c, Scheme: t.Scheme, Stage: t.Stage, From: t.From, To: t.To, Months: t.Months,
		Amount: amountJSON{Individual: t.IA, Pooled: t.Pooled, Total: t.IA + t.Pooled}, Deadline: dateString(t.Deadline),
		Stages: []stageJSON{}}
	open := t.Stage != "completed" && t.Stage != "rejected"
	out.Overdue = open && t.Deadline != 0 && a.today().Int() > t.Deadline
	for _, s := range t.Stages {
		out.Stages = append(out.Stages, stageJSON{Stage: s.Stage, At: dateString(s.At), Checkpoint: s.Seq})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type gapJSON struct {
	Worker ledger.WorkerID `json:"worker"`
	From   string          `json:"from"` // YYYY-MM
	To     string          `json:"to"`
	Months int             `json:"months"`
}

type complianceJSON struct {
	Employer       string    `json:"employer"`
	Workers        int       `json:"workers"`
	MonthsDeclared int       `json:"months_declared"`
	MonthsPaid     int       `json:"months_paid"`
	Gaps           []gapJSON `json:"gaps"`
	GapsTruncated  bool      `json:"gaps_truncated,omitempty"`
	Through        string    `json:"through"` // the last month counted (YYYY-MM): the month before today
}

const (
	maxComplianceEntries = 1_000_000
	maxGaps              = 1000
)

// handleCompliance compares the months an employer declared employment for (from each
// worker's start to the end or the last finished month) with the months it paid contributions
// for, and lists the unpaid runs.
func (a *API) handleCompliance(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.operator && (p.member == nil || p.member.Role != ledger.RoleSupervisor) {
		return forbidden("employer compliance is read by the operator and market supervisors")
	}
	uscc := ids.NormaliseUSCC(r.PathValue("uscc"))
	if _, err := ids.ParseUSCC(uscc); err != nil {
		if _, err := ids.ParseLegacyUSCC(uscc); err != nil {
			return badField("uscc", "%v", err)
		}
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	defer v.Release()
	var emps []Employment
	for after := (ledger.WorkerID{}); ; {
		page, err := v.EmployerEmployments(uscc, after, 0)
		if err != nil {
			return fmt.Errorf("employments: %w", err)
		}
		if len(page) == 0 || len(emps) > maxComplianceEntries {
			break
		}
		emps = append(emps, page...)
		after = page[len(page)-1].Worker
	}
	paid := map[ledger.WorkerID]map[uint32]bool{}
	months := 0
	for after := (EmployerMonth{}); ; {
		page, err := v.EmployerMonths(uscc, after, 0)
		if err != nil {
			return fmt.Errorf("employer months: %w", err)
		}
		if len(page) == 0 || months > maxComplianceEntries {
			break
		}
		for _, m := range page {
			from, err1 := civil.PeriodFromInt(m.Period)
			to, err2 := civil.PeriodFromInt(max(m.Through, m.Period))
			if err1 != nil || err2 != nil {
				continue
			}
			if paid[m.Worker] == nil {
				paid[m.Worker] = map[uint32]bool{}
			}
			for q := from; q.Compare(to) <= 0 && months <= maxComplianceEntries; q = q.Add(1) {
				if !paid[m.Worker][q.Int()] {
					paid[m.Worker][q.Int()] = true
					months++
				}
			}
		}
		after = page[len(page)-1]
	}
	if len(emps) == 0 && len(paid) == 0 {
		return notFound("no employment or contribution of employer %s", uscc)
	}
	last := a.today().Period().Add(-1)
	out := complianceJSON{Employer: uscc, MonthsPaid: months, Gaps: []gapJSON{}, Through: last.String()}
	workers := map[ledger.WorkerID]bool{}
	for wk := range paid {
		workers[wk] = true
	}
	for _, e := range emps {
		workers[e.Worker] = true
		start, err := civil.DateFromInt(e.Start)
		if err != nil {
			continue
		}
		end := last
		if e.End != 0 {
			if d, err := civil.DateFromInt(e.End); err == nil && d.Period().Compare(last) < 0 {
				end = d.Period()
			}
		}
		var gapFrom civil.Period
		inGap := false
		closeGap := func(to civil.Period) {
			if !inGap {
				return
			}
			inGap = false
			if len(out.Gaps) == maxGaps {
				out.GapsTruncated = true
				return
			}
			out.Gaps = append(out.Gaps, gapJSON{Worker: e.Worker, From: gapFrom.String(), To: to.String(), Months: gapFrom.MonthsThrough(to)})
		}
		for q := start.Period(); q.Compare(end) <= 0; q = q.Add(1) {
			out.MonthsDeclared++
			if paid[e.Worker][q.Int()] {
				closeGap(q.Add(-1))
			} else if !inGap {
				gapFrom, inGap = q, true
			}
		}
		closeGap(end)
	}
	out.Workers = len(workers)
	slices.SortStableFunc(out.Gaps, func(x, y gapJSON) int {
		if c := slices.Compare(x.Worker[:], y.Worker[:]); c != 0 {
			return c
		}
		return 0
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Event is one final checkpoint in the stream of GET /v1/events (its data line).
type Event struct {
	Seq       uint64      `json:"seq"`
	Hash      ledger.Hash `json:"hash"`
	StateRoot ledger.Hash `json:"state_root"`
	Time      uint64      `json:"time"`
	Blocks    int         `json:"blocks"`
}

// handleEvents streams final checkpoints as server-sent events: "event: checkpoint", "id: <seq>",
// data the checkpoint summary. It resumes after Last-Event-ID, or from ?from=<seq> (inclusive);
// without either it starts with the next checkpoint. ?limit=<n> ends the stream after n events.
func (a *API) handleEvents(w http.ResponseWriter, r *http.Request, _ *principal) error {
	q := r.URL.Query()
	var next uint64 // the first seq to send; 0: the one after the latest
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		n, err := parseUint(s)
		if err != nil {
			return badField("Last-Event-ID", "want a checkpoint number")
		}
		next = n + 1
	} else if s := q.Get("from"); s != "" {
		n, err := parseUint(s)
		if err != nil {
			return badField("from", "want a checkpoint number")
		}
		next = max(n, 1)
	}
	limit := uint64(0)
	if s := q.Get("limit"); s != "" {
		n, err := parseUint(s)
		if err != nil || n == 0 {
			return badField("limit", "want a positive number of events")
		}
		limit = n
	}
	st, err := a.b.Status(r.Context())
	if err != nil {
		return err
	}
	if next == 0 {
		next = st.Finalized.Seq + 1
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, ": jaminan events from checkpoint %d\n\n", next); err != nil {
		return nil
	}
	rc.Flush()
	sent := uint64(0)
	ctx := r.Context()
	for {
		latest := st.Finalized.Seq
		if latest < next {
			wctx, cancel := contextWithTimeout(ctx, a.cfg.Heartbeat)
			l, err := a.b.WaitFinal(wctx, next-1)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
			if err != nil { // heartbeat
				if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
					return nil
				}
				rc.Flush()
				continue
			}
			latest = l
		}
		v, err := a.b.View(ctx)
		if err != nil {
			return nil
		}
		for ; next <= latest; next++ {
			cb, cert, err := v.Checkpoint(next)
			if err != nil {
				continue // pruned or not stored: skipped, the client sees the gap in the ids
			}
			ev := Event{Seq: next, Hash: cb.Checkpoint.Hash(), StateRoot: cert.StateRoot, Time: cb.Checkpoint.Time, Blocks: len(cb.Blocks)}
			rc.SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
			if err := writeEvent(w, next, ev); err != nil {
				v.Release()
				return nil
			}
			rc.Flush()
			if sent++; limit != 0 && sent == limit {
				v.Release()
				return nil
			}
		}
		v.Release()
		next = max(next, latest+1)
		st.Finalized.Seq = latest
	}
}

func writeEvent(w io.Writer, seq uint64, ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: checkpoint\ndata: %s\n\n", seq, b)
	return err
}

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
