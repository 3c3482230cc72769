package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/web"
)

// The web page (package web) and the printable statement it shows.

func setPageHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", web.CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (a *API) handleRoot(w http.ResponseWriter, r *http.Request, _ *principal) error {
	setPageHeaders(w, "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(web.Index())
	return err
}

// handleUI serves the page's assets (scripts, styles, icons).
func (a *API) handleUI(w http.ResponseWriter, r *http.Request, _ *principal) error {
	body, ct, ok := web.Asset(r.PathValue("file"))
	if !ok {
		return notFound("no page asset %s", truncateText(r.PathValue("file")))
	}
	setPageHeaders(w, ct)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

type qrCodeJSON struct {
	Index   int    `json:"index"`
	Total   int    `json:"total"`
	Payload string `json:"payload"` // the text the code carries
	PNG     string `json:"png"`     // base64 PNG image of the code
}

type qrJSON struct {
	Codes   []qrCodeJSON `json:"codes"`
	Omitted string       `json:"omitted,omitempty"` // why there are no codes
}

type contributionJSON struct {
	ID             ledger.Hash `json:"id"`
	Checkpoint     uint64      `json:"checkpoint"`
	Code           string      `json:"code"`
	Province       string      `json:"province"`
	Region         string      `json:"region"`
	Period         string      `json:"period"`
	Through        string      `json:"through,omitempty"`
	Scheme         string      `json:"scheme"`
	Employer       string      `json:"employer,omitempty"`
	Base           int64       `json:"base"`
	EmployeeAmount int64       `json:"employee_amount"`
	EmployerAmount int64       `json:"employer_amount"`
}

type employmentJSON struct {
	ID         ledger.Hash `json:"id"`
	Checkpoint uint64      `json:"checkpoint"`
	Employer   string      `json:"employer"`
	Region     string      `json:"region"`
	Start      *string     `json:"start"`
	End        *string     `json:"end"`
}

type transferEntryJSON struct {
	Case       ledger.Hash `json:"case"`
	Checkpoint uint64      `json:"checkpoint"`
	Scheme     string      `json:"scheme"`
	From       string      `json:"from"`
	To         string      `json:"to"`
	Stage      string      `json:"stage"`
	Deadline   *string     `json:"deadline"`
	Overdue    bool        `json:"overdue"`
}

type otherEntryJSON struct {
	ID         ledger.Hash `json:"id"`
	Checkpoint uint64      `json:"checkpoint"`
	Type       string      `json:"type"`
	Code       string      `json:"code"`
	Detail     string      `json:"detail"`
}

type statementAccessJSON struct {
	ID         ledger.Hash `json:"id"`
	Checkpoint uint64      `json:"checkpoint"`
	Reader     string      `json:"reader"`
	What       string      `json:"what"`
	Purpose    string      `json:"purpose,omitempty"`
}

type printableJSON struct {
	Worker        ledger.WorkerID         `json:"worker"`
	Network       string                  `json:"network"`
	Checkpoint    uint64                  `json:"checkpoint"`
	Records       int                     `json:"records"`
	Summary       ledger.StatementSummary `json:"summary"`
	BenefitPlace  string                  `json:"benefit_place"`
	Regions       []regionJSON            `json:"regions"`
	Contributions []contributionJSON      `json:"contributions"`
	Employments   []employmentJSON        `json:"employments"`
	Transfers     []transferEntryJSON     `json:"transfers"`
	Other         []otherEntryJSON        `json:"other"`
	Access        []statementAccessJSON   `json:"access"`
	Encoded       string                  `json:"encoded"` // base64 CBOR of the ledger.Statement
	QR            qrJSON                  `json:"qr"`
}

// handleStatementPrint is the statement as the web page prints it: the verified statement's
// records decoded (contributions by province and month, employment, transfers with their stage,
// consents, who read the data), the balances and benefit place, and the QR codes carrying the
// statement for `jaminan verify`. It is a read of the statement, authorised and logged as one.
func (a *API) handleStatementPrint(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.workerRead(w, r, p, "statement", func(v View, wk ledger.WorkerID) (any, error) {
		st, sum, seq, err := a.statementOf(v, wk)
		if err != nil {
			return nil, err
		}
		enc := st.Encode()
		out := printableJSON{Worker: wk, Network: st.Network, Checkpoint: seq, Records: sum.Records, Summary: *sum,
			Regions: []regionJSON{}, Contributions: []contributionJSON{}, Employments: []employmentJSON{},
			Transfers: []transferEntryJSON{}, Other: []otherEntryJSON{}, Access: []statementAccessJSON{},
			Encoded: base64.StdEncoding.EncodeToString(enc), QR: qrJSON{Codes: []qrCodeJSON{}}}
		accts, err := ledger.WorkerAccounts(v, wk)
		if err != nil {
			return nil, fmt.Errorf("accounts of worker: %w", err)
		}
		for _, acc := range accts {
			out.Regions = append(out.Regions, regionJSON{Region: acc.Province, Scheme: acc.Scheme, Months: acc.Months,
				IA: acc.IA, Pooled: acc.Pooled, Status: acc.Status, Temporary: acc.Temporary,
				First: periodString(acc.First), Last: periodString(acc.Last)})
		}
		// A worker the ledger knows only from other records (an access record of someone's
		// read, a consent) has no account and no benefit place; BenefitPlace would call it an
		// unknown worker (seen: a 500 to the torture suite's HTTP party).
		if len(accts) > 0 {
			if out.BenefitPlace, err = ledger.BenefitPlace(v, wk, a.today()); err != nil {
				return nil, fmt.Errorf("benefit place: %w", err)
			}
		}
		today := a.today().Int()
		for i := range st.Proofs {
			pr := &st.Proofs[i]
			rec, body, err := ledger.DecodeRecord(pr.Record)
			if err != nil {
				return nil, fmt.Errorf("decode a verified record: %w", err)
			}
			id, cp := rec.ID(), pr.Checkpoint.Seq
			switch b := body.(type) {
			case *ledger.Contribution:
				prov := ""
				if len(b.Region) >= 2 {
					prov = b.Region[:2]
				}
				through := ""
				if b.Through != 0 && b.Through != b.Period {
					through = periodString(b.Through)
				}
				out.Contributions = append(out.Contributions, contributionJSON{ID: id, Checkpoint: cp, Code: pr.Code, Province: prov,
					Region: b.Region, Period: periodString(b.Period), Through: through, Scheme: b.Scheme, Employer: b.Employer,
					Base: b.Base, EmployeeAmount: b.EmployeeAmount, EmployerAmount: b.EmployerAmount})
			case *ledger.Employment:
				out.Employments = append(out.Employments, employmentJSON{ID: id, Checkpoint: cp, Employer: b.Employer, Region: b.Region,
					Start: dateString(b.Start), End: dateString(b.End)})
			case *ledger.TransferApply:
				te := transferEntryJSON{Case: id, Checkpoint: cp, Scheme: b.Scheme, From: b.From, To: b.To, Stage: "rejected"}
				if pr.Code == ledger.CodeOK {
					t, ok, err := ledger.GetTransfer(v, id)
					if err != nil {
						return nil, fmt.Errorf("transfer %s: %w", id, err)
					}
					if ok {
						te.Stage, te.Deadline = t.Stage, dateString(t.Deadline)
						te.Overdue = t.Stage != "completed" && t.Stage != "rejected" && t.Deadline != 0 && today > t.Deadline
					}
				}
				out.Transfers = append(out.Transfers, te)
			case *ledger.Access:
				out.Access = append(out.Access, statementAccessJSON{ID: id, Checkpoint: cp, Reader: b.Reader, What: b.What, Purpose: b.Purpose})
			default:
				out.Other = append(out.Other, otherEntryJSON{ID: id, Checkpoint: cp, Type: string(rec.Type), Code: pr.Code, Detail: describe(body)})
			}
		}
		payloads, err := web.QRPayloads(enc)
		if errors.Is(err, web.ErrTooManyCodes) {
			out.QR.Omitted = err.Error() + "; download the statement file instead"
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for i, pl := range payloads {
			png, err := web.QRPNG(pl)
			if err != nil {
				return nil, err
			}
			out.QR.Codes = append(out.QR.Codes, qrCodeJSON{Index: i + 1, Total: len(payloads), Payload: pl,
				PNG: base64.StdEncoding.EncodeToString(png)})
		}
		return out, nil
	})
}

// describe is a short human description of the statement records that have no table of their
// own; it names no resident ID (records carry only the pseudonym).
func describe(body ledger.Body) string {
	switch b := body.(type) {
	case *ledger.Correction:
		if len(b.Replacement) == 0 {
			return fmt.Sprintf("withdraws %s (%s)", b.Target.String()[:12], b.Reason)
		}
		return fmt.Sprintf("corrects %s (%s)", b.Target.String()[:12], b.Reason)
	case *ledger.ConsentGrant:
		until := "until revoked"
		if s := dateString(b.Until); s != nil {
			until = "until " + *s
		}
		from := ""
		if s := dateString(b.From); s != nil {
			from = *s
		}
		return fmt.Sprintf("consent to %s, scope %s, from %s %s", b.Grantee, b.Scope, from, until)
	case *ledger.ConsentRevoke:
		return fmt.Sprintf("revokes consent %s", b.Grant.String()[:12])
	case *ledger.WorkerKey:
		if b.Revoke {
			return "personal key revoked: " + b.Key.String()
		}
		return "personal key registered: " + b.Key.String()
	case *ledger.PensionStart:
		d := ""
		if s := dateString(b.Date); s != nil {
			d = *s
		}
		return fmt.Sprintf("pension starts in province %s on %s", b.Province, d)
	}
	return ""
}
