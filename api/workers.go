package api

import (
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
)

// Handlers of a worker's data: account, statement, access log, consents and personal key.

// maxStatementRecords bounds a statement: 40 years of four schemes is under 2,000 records, so a
// worker beyond this is an anomaly to look at, not to serve in one response.
const maxStatementRecords = 20_000

type regionJSON struct {
	Region    string `json:"region"`
	Scheme    string `json:"scheme"`
	Months    uint32 `json:"months"`
	IA        int64  `json:"individual_balance"`
	Pooled    int64  `json:"pooled_transferable"`
	Status    string `json:"status"`
	Temporary bool   `json:"temporary"`
	First     string `json:"first,omitempty"` // YYYY-MM
	Last      string `json:"last,omitempty"`
}

type accountJSON struct {
	Worker       ledger.WorkerID `json:"worker"`
	Regions      []regionJSON    `json:"regions"`
	BenefitPlace string          `json:"benefit_place"`
	Checkpoint   uint64          `json:"checkpoint"`
}

func periodString(v uint32) string {
	p, err := civil.PeriodFromInt(v)
	if err != nil || v == 0 {
		return ""
	}
	return p.String()
}

// workerRead opens a view, resolves {worker}, authorises the read and runs fn; it releases the
// view and writes the access record (when the read is logged) before the response is sent.
func (a *API) workerRead(w http.ResponseWriter, r *http.Request, p *principal, what string, fn func(v View, wk ledger.WorkerID) (any, error)) error {
	wk, err := a.parseWorker("worker", r.PathValue("worker"), p)
	if err != nil {
		return err
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	out, g, err := func() (any, readGrant, error) {
		defer v.Release()
		g, err := a.authorizeWorkerRead(r.Context(), v, p, wk, what)
		if err != nil {
			return nil, g, err
		}
		out, err := fn(v, wk)
		return out, g, err
	}()
	if err != nil {
		return err
	}
	if err := a.logAccess(r.Context(), p, wk, what, g); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) handleAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.workerRead(w, r, p, "account", func(v View, wk ledger.WorkerID) (any, error) {
		accts, err := ledger.WorkerAccounts(v, wk)
		if err != nil {
			return nil, fmt.Errorf("accounts of worker: %w", err)
		}
		if len(accts) == 0 {
			return nil, notFound("no account of worker %s", wk)
		}
		meta, err := ledger.ReadMeta(v)
		if err != nil {
			return nil, err
		}
		bp, err := ledger.BenefitPlace(v, wk, a.today())
		if err != nil {
			return nil, fmt.Errorf("benefit place: %w", err)
		}
		out := accountJSON{Worker: wk, BenefitPlace: bp, Regions: []regionJSON{}, Checkpoint: meta.Seq}
		for _, acc := range accts {
			out.Regions = append(out.Regions, regionJSON{Region: acc.Province, Scheme: acc.Scheme, Months: acc.Months,
				IA: acc.IA, Pooled: acc.Pooled, Status: acc.Status, Temporary: acc.Temporary,
				First: periodString(acc.First), Last: periodString(acc.Last)})
		}
		return out, nil
	})
}

type statementJSON struct {
	Worker     ledger.WorkerID         `json:"worker"`
	Network    string                  `json:"network"`
	Checkpoint uint64                  `json:"checkpoint"`
	Records    int                     `json:"records"`
	Summary    ledger.StatementSummary `json:"summary"`
	Encoded    string                  `json:"encoded"` // base64 CBOR of the ledger.Statement
}

// statementTypes are the record types a statement carries: those concerning the worker
// (ledger.Statement.Verify checks that every record does), corrections included, so that the
// summary counts a corrected contribution as the ledger applied it.
var statementTypes = map[ledger.RecordType]bool{
	ledger.TypeContribution: true, ledger.TypeCorrection: true, ledger.TypeEmployment: true, ledger.TypeTransferApply: true,
	ledger.TypeConsentGrant: true, ledger.TypeConsentRevoke: true, ledger.TypeWorkerKey: true,
	ledger.TypeAccess: true, ledger.TypePensionStart: true,
}

func (a *API) handleStatement(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.workerRead(w, r, p, "statement", func(v View, wk ledger.WorkerID) (any, error) {
		st, sum, seq, err := a.statementOf(v, wk)
		if err != nil {
			return nil, err
		}
		return statementJSON{Worker: wk, Network: st.Network, Checkpoint: seq, Records: sum.Records, Summary: *sum,
			Encoded: base64.StdEncoding.EncodeToString(st.Encode())}, nil
	})
}

// statementOf builds and verifies the statement of worker wk at view v's checkpoint.
func (a *API) statementOf(v View, wk ledger.WorkerID) (*ledger.Statement, *ledger.StatementSummary, uint64, error) {
	meta, err := ledger.ReadMeta(v)
	if err != nil {
		return nil, nil, 0, err
	}
	st := &ledger.Statement{Network: a.b.Genesis().Network, Worker: wk, Proofs: []ledger.RecordProof{}}
	var after Pos
	n := 0
	for {
		refs, err := v.WorkerRecords(wk, after, 0)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("records of worker: %w", err)
		}
		if len(refs) == 0 {
			break
		}
		for _, ref := range refs {
			if n++; n > maxStatementRecords {
				return nil, nil, 0, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "worker has more than %d records", maxStatementRecords)
			}
			if !statementTypes[ref.Type] || ref.Seq > meta.Seq {
				continue
			}
			proof, err := v.RecordProof(ref.ID)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("proof of %s: %w", ref.ID, err)
			}
			st.Proofs = append(st.Proofs, *proof)
		}
		after = refs[len(refs)-1].Pos
	}
	if len(st.Proofs) == 0 {
		return nil, nil, 0, notFound("no records of worker %s", wk)
	}
	// The changes of the ministry set since genesis, so that certificates of a later set verify.
	if st.Ministry, err = MinistryProofs(v, meta.Seq); err != nil {
		return nil, nil, 0, err
	}
	// Verify before serving: the summary is what the statement proves, and a statement that
	// does not verify is a bug of this node that no client should receive.
	sum, err := st.Verify(a.b.Genesis())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("statement of %s does not verify: %w", wk, err)
	}
	return st, sum, meta.Seq, nil
}

// MinistryProofs returns the proofs of the governance records that changed the ministry set in
// checkpoints up to upTo, in ledger order: what a statement or a proof carries so that it
// verifies after the set changed (ledger.MinistryHistory), and what a node serves a peer that
// joins from a snapshot.
func MinistryProofs(v View, upTo uint64) ([]ledger.RecordProof, error) {
	var out []ledger.RecordProof
	var after Pos
	for {
		refs, err := v.MinistryChanges(after, 0)
		if err != nil {
			return nil, fmt.Errorf("changes of the ministry set: %w", err)
		}
		for _, ref := range refs {
			if ref.Seq > upTo {
				return out, nil
			}
			if len(out) == ledger.MaxMinistryChanges {
				return nil, fmt.Errorf("the ministry set changed more than %d times: proofs cannot carry the changes", ledger.MaxMinistryChanges)
			}
			proof, err := v.RecordProof(ref.ID)
			if err != nil {
				return nil, fmt.Errorf("proof of ministry change %s: %w", ref.ID, err)
			}
			out = append(out, *proof)
		}
		if len(refs) == 0 {
			return out, nil
		}
		after = refs[len(refs)-1].Pos
	}
}

type accessEntryJSON struct {
	ID         ledger.Hash `json:"id"`
	Reader     string      `json:"reader"`
	What       string      `json:"what"`
	Checkpoint uint64      `json:"checkpoint"`
}

type accessListJSON struct {
	Worker ledger.WorkerID   `json:"worker"`
	Access []accessEntryJSON `json:"access"`
}

func (a *API) handleAccessList(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.workerRead(w, r, p, "access", func(v View, wk ledger.WorkerID) (any, error) {
		out := accessListJSON{Worker: wk, Access: []accessEntryJSON{}}
		var after Pos
		for {
			refs, err := v.WorkerAccess(wk, after, 0)
			if err != nil {
				return nil, fmt.Errorf("access records: %w", err)
			}
			if len(refs) == 0 {
				return out, nil
			}
			for _, ref := range refs {
				out.Access = append(out.Access, accessEntryJSON{ID: ref.ID, Reader: ref.Reader, What: ref.What, Checkpoint: ref.Seq})
			}
			after = refs[len(refs)-1].Pos
			if len(out.Access) >= maxStatementRecords {
				return out, nil
			}
		}
	})
}

// writeWorkerRecord authorises a write about worker wk (the operator, or the worker's own key),
// submits the record built by mk and answers 202 {"id"}.
func (a *API) writeWorkerRecord(w http.ResponseWriter, r *http.Request, p *principal, wk ledger.WorkerID, body ledger.Body, key string) error {
	if !p.operator && !(p.isWorker && p.worker == wk) {
		return forbidden("only the operator or the worker may do this")
	}
	rec := ledger.NewRecord(a.b.Signer().ID(), uint64(a.b.Now().UnixMilli()), body)
	res, err := a.b.Submit(r.Context(), []ledger.Record{rec})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("submit: %d results for 1 record", len(res))
	}
	if res[0].Code != "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "record refused: %s: %s", res[0].Code, res[0].Message)
	}
	writeJSON(w, http.StatusAccepted, map[string]ledger.Hash{key: res[0].ID})
	return nil
}

type consentRequest struct {
	Grantee string `json:"grantee"`
	Scope   string `json:"scope"`
	From    string `json:"from,omitempty"`  // YYYY-MM-DD; default today
	Until   string `json:"until,omitempty"` // YYYY-MM-DD; default until revoked
}

func (a *API) handleGrantConsent(w http.ResponseWriter, r *http.Request, p *principal) error {
	wk, err := a.parseWorker("worker", r.PathValue("worker"), p)
	if err != nil {
		return err
	}
	var req consentRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Grantee == "" || len(req.Grantee) > 128 {
		return badField("grantee", "want the grantee's key ID or USCC")
	}
	if req.Scope != "history" && req.Scope != "account" {
		return badField("scope", "want history or account")
	}
	from := a.today()
	if req.From != "" {
		if from, err = civil.ParseDate(req.From); err != nil {
			return badField("from", "want YYYY-MM-DD")
		}
	}
	g := &ledger.ConsentGrant{Worker: wk, Grantee: req.Grantee, Scope: req.Scope, From: from.Int()}
	if req.Until != "" {
		until, err := civil.ParseDate(req.Until)
		if err != nil || until.Before(from) {
			return badField("until", "want YYYY-MM-DD, not before from")
		}
		g.Until = until.Int()
	}
	return a.writeWorkerRecord(w, r, p, wk, g, "id")
}

func (a *API) handleRevokeConsent(w http.ResponseWriter, r *http.Request, p *principal) error {
	wk, err := a.parseWorker("worker", r.PathValue("worker"), p)
	if err != nil {
		return err
	}
	grant, err := parseHash("grant", r.PathValue("grant"))
	if err != nil {
		return err
	}
	return a.writeWorkerRecord(w, r, p, wk, &ledger.ConsentRevoke{Worker: wk, Grant: grant}, "id")
}

type workerKeyRequest struct {
	Key    string `json:"key"`
	Revoke bool   `json:"revoke,omitempty"`
}

func (a *API) handleWorkerKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.operator {
		return forbidden("only the operator registers a worker's key, after checking the worker's identity")
	}
	wk, err := a.parseWorker("worker", r.PathValue("worker"), p)
	if err != nil {
		return err
	}
	var req workerKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	k, err := ledger.ParseKeyID(req.Key)
	if err != nil {
		return badField("key", "want an ed25519 key ID (12D3KooW…)")
	}
	if _, isMember, err := a.b.Member(k); err != nil {
		return err
	} else if isMember {
		return badField("key", "a member key cannot be a worker key")
	}
	return a.writeWorkerRecord(w, r, p, wk, &ledger.WorkerKey{Worker: wk, Key: k, Revoke: req.Revoke}, "id")
}
