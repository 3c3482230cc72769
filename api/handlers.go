package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
)

// Handlers of the node's own state, records and the ledger structures.

func (a *API) handleHealthz(w http.ResponseWriter, r *http.Request, _ *principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (a *API) handleReadyz(w http.ResponseWriter, r *http.Request, _ *principal) error {
	s, err := a.b.Status(r.Context())
	if err != nil {
		return err
	}
	if !s.Ready {
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "not ready: %d final checkpoints behind", s.Lag)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "seq": s.Finalized.Seq, "lag": s.Lag})
	return nil
}

func (a *API) handleOpenAPI(w http.ResponseWriter, r *http.Request, _ *principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(openAPIDoc)
	return err
}

func (a *API) handleStatus(w http.ResponseWriter, r *http.Request, _ *principal) error {
	s, err := a.b.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// submitResponse is the body of 202 from POST /v1/records.
type submitResponse struct {
	Accepted []acceptedRecord `json:"accepted"`
	Rejected []rejectedRecord `json:"rejected"`
}

type acceptedRecord struct {
	Index int         `json:"index"`
	ID    ledger.Hash `json:"id"`
}

type rejectedRecord struct {
	Index   int    `json:"index"`
	Line    int    `json:"line,omitempty"` // CSV: the 1-based line of the row
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

type inputRow struct {
	line int
	in   *intake.Input
	err  error
}

func (a *API) handlePostRecords(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.operator {
		return forbidden("only the operator submits records")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Header.Get("Content-Type") == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Content-Type: %v", err)
	}
	var limit int64
	switch mt {
	case "application/json":
		limit = a.cfg.MaxBatchBytes
	case "text/csv":
		limit = a.cfg.MaxCSVBytes
	case "application/cbor":
		return a.postSignedRecord(w, r)
	default:
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "send application/json, text/csv or application/cbor, not %s", truncateText(mt))
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s body exceeds %d bytes", mt, limit)
	}
	var rows []inputRow
	if mt == "application/json" {
		ins, err := intake.DecodeBatch(bytes.NewReader(body))
		if err != nil {
			return badField("records", "%v", err)
		}
		for i := range ins {
			rows = append(rows, inputRow{in: &ins[i]})
		}
	} else {
		err := intake.ReadCSV(bytes.NewReader(body), func(line int, in *intake.Input, err error) error {
			if len(rows) == intake.MaxRecords {
				return fmt.Errorf("more than %d rows", intake.MaxRecords)
			}
			rows = append(rows, inputRow{line: line, in: in, err: err})
			return nil
		})
		if err != nil {
			return badField("csv", "%v", err)
		}
	}
	resp := submitResponse{Accepted: []acceptedRecord{}, Rejected: []rejectedRecord{}}
	today := a.today()
	now := uint64(a.b.Now().UnixMilli())
	author := a.b.Signer().ID()
	var recs []ledger.Record
	var index []int
	for i, row := range rows {
		err := row.err
		var body ledger.Body
		if err == nil {
			body, err = a.conv.Body(row.in, today)
		}
		if err != nil {
			rj := rejectedRecord{Index: i, Line: row.line, Code: intake.Code(err), Message: err.Error()}
			var ie *intake.Error
			if errors.As(err, &ie) {
				rj.Field = ie.Field
			}
			resp.Rejected = append(resp.Rejected, rj)
			continue
		}
		recs = append(recs, ledger.NewRecord(author, now, body))
		index = append(index, i)
	}
	if len(recs) > 0 {
		res, err := a.b.Submit(r.Context(), recs)
		if err != nil {
			return err
		}
		if len(res) != len(recs) {
			return fmt.Errorf("submit: %d results for %d records", len(res), len(recs))
		}
		for j, sr := range res {
			if sr.Code == "" {
				resp.Accepted = append(resp.Accepted, acceptedRecord{Index: index[j], ID: sr.ID})
			} else {
				resp.Rejected = append(resp.Rejected, rejectedRecord{Index: index[j], Line: rows[index[j]].line, Code: sr.Code, Message: sr.Message})
			}
		}
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// postSignedRecord takes one record already built and signed elsewhere (application/cbor, its
// canonical bytes): a governance record signed by the ministry keys (`jaminan gov`), which this
// node carries in its block. It checks what can be checked before the ledger decides: the
// encoding, every signature, the author's (unless the author is this node), and for a
// governance record a quorum of the ministry set in force; the ledger's rules decide the rest.
func (a *API) postSignedRecord(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(body) > ledger.MaxRecordSize {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "record of %d bytes exceeds %d", len(body), ledger.MaxRecordSize)
	}
	rec, rb, err := ledger.DecodeRecord(body)
	if err != nil {
		return badField("record", "%v", err)
	}
	net := a.b.Genesis().Network
	signers, err := rec.VerifySigs(net)
	if err != nil {
		return badField("sigs", "%v", err)
	}
	if rec.Author != a.b.Signer().ID() && !signers[rec.Author] {
		return badField("sigs", "the author %s has not signed the record; this node (%s) can carry only its own records unsigned", rec.Author, a.b.Signer().ID())
	}
	switch rb.(type) {
	case *ledger.GovMember, *ledger.GovRevoke, *ledger.GovParam, *ledger.GovCalendar:
		if err := ledger.ValidateGov(a.b.Genesis(), rb); err != nil {
			return badField("body", "%v", err)
		}
		v, err := a.b.View(r.Context())
		if err != nil {
			return err
		}
		meta, err := ledger.ReadMeta(v)
		var set []ledger.KeyID
		if err == nil {
			set, err = ledger.MinistrySet(v, meta.Time)
		}
		v.Release()
		if err != nil {
			return fmt.Errorf("ministry set: %w", err)
		}
		if n, q := ledger.CountSigners(set, signers), ledger.Quorum(len(set)); n < q {
			return badField("sigs", "%d signatures of the ministry set, a governance record needs %d of %d", n, q, len(set))
		}
	}
	res, err := a.b.Submit(r.Context(), []ledger.Record{rec})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("submit: %d results for 1 record", len(res))
	}
	resp := submitResponse{Accepted: []acceptedRecord{}, Rejected: []rejectedRecord{}}
	if res[0].Code == "" {
		resp.Accepted = append(resp.Accepted, acceptedRecord{ID: res[0].ID})
	} else {
		resp.Rejected = append(resp.Rejected, rejectedRecord{Code: res[0].Code, Message: res[0].Message})
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

func parseHash(field, s string) (ledger.Hash, error) {
	h, err := ledger.ParseHash(s)
	if err != nil {
		return ledger.Hash{}, badField(field, "want 64 hex characters")
	}
	return h, nil
}

type receiptJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type recordStatusJSON struct {
	ID         ledger.Hash  `json:"id"`
	Type       string       `json:"type,omitempty"`
	Status     string       `json:"status"`
	Checkpoint uint64       `json:"checkpoint,omitempty"`
	Receipt    *receiptJSON `json:"receipt,omitempty"`
}

func (a *API) handleRecord(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := parseHash("id", r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	raw, loc, err := v.Record(id)
	v.Release()
	if errors.Is(err, ErrNotFound) {
		if a.b.Pending(id) {
			writeJSON(w, http.StatusOK, recordStatusJSON{ID: id, Status: "pending"})
			return nil
		}
		return notFound("no record %s", id)
	}
	if err != nil {
		return err
	}
	out := recordStatusJSON{ID: id, Type: "unknown", Status: "final", Checkpoint: loc.Seq,
		Receipt: &receiptJSON{Code: loc.Code, Message: loc.Message}}
	if rec, _, err := ledger.DecodeRecord(raw); err == nil {
		out.Type = string(rec.Type)
	}
	if loc.Code != ledger.CodeOK {
		out.Status = "rejected"
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// workerOf returns the worker a record body concerns directly.
func workerOf(b ledger.Body) (ledger.WorkerID, bool) {
	switch x := b.(type) {
	case *ledger.Contribution:
		return x.Worker, true
	case *ledger.Employment:
		return x.Worker, true
	case *ledger.TransferApply:
		return x.Worker, true
	case *ledger.ConsentGrant:
		return x.Worker, true
	case *ledger.ConsentRevoke:
		return x.Worker, true
	case *ledger.WorkerKey:
		return x.Worker, true
	case *ledger.Access:
		return x.Worker, true
	case *ledger.PensionStart:
		return x.Worker, true
	}
	return ledger.WorkerID{}, false
}

type proofJSON struct {
	ID         ledger.Hash         `json:"id"`
	Checkpoint uint64              `json:"checkpoint"`
	Code       string              `json:"code"`
	Proof      *ledger.RecordProof `json:"proof"`
	Encoded    string              `json:"encoded"` // base64 of the canonical CBOR: `jaminan verify` reads it
}

func (a *API) handleProof(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := parseHash("id", r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	proof, g, worker, err := a.proofOf(r, v, p, id)
	v.Release()
	if err != nil {
		return err
	}
	if err := a.logAccess(r.Context(), p, worker, "record", g); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofJSON{ID: id, Checkpoint: proof.Checkpoint.Seq, Code: proof.Code, Proof: proof,
		Encoded: base64.StdEncoding.EncodeToString(proof.Encode())})
	return nil
}

func (a *API) proofOf(r *http.Request, v View, p *principal, id ledger.Hash) (*ledger.RecordProof, readGrant, ledger.WorkerID, error) {
	raw, _, err := v.Record(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) && a.b.Pending(id) {
			return nil, readGrant{}, ledger.WorkerID{}, notFound("record %s is not final yet", id)
		}
		return nil, readGrant{}, ledger.WorkerID{}, err
	}
	var g readGrant
	var worker ledger.WorkerID
	if _, body, err := ledger.DecodeRecord(raw); err == nil {
		if wk, ok := workerOf(body); ok {
			worker = wk
			if g, err = a.authorizeWorkerRead(r.Context(), v, p, wk, "record"); err != nil {
				return nil, g, worker, err
			}
		}
	}
	proof, err := v.RecordProof(id)
	if err != nil {
		return nil, g, worker, err
	}
	// A proof travels alone: it carries the changes of the ministry set before its checkpoint.
	if proof.Ministry, err = MinistryProofs(v, proof.Checkpoint.Seq-1); err != nil {
		return nil, g, worker, err
	}
	return proof, g, worker, nil
}

type checkpointJSON struct {
	Seq         uint64              `json:"seq"`
	Hash        ledger.Hash         `json:"hash"`
	Prev        ledger.Hash         `json:"prev"`
	Time        uint64              `json:"time"`
	Root        ledger.Hash         `json:"root"`
	Blocks      []ledger.Hash       `json:"blocks"`
	StateRoot   ledger.Hash         `json:"state_root"`
	Certificate *ledger.Certificate `json:"certificate"`
	Encoded     string              `json:"encoded"`             // base64 CBOR of the checkpoint body
	CertEncoded string              `json:"certificate_encoded"` // base64 CBOR of the certificate
}

func (a *API) handleCheckpoint(w http.ResponseWriter, r *http.Request, _ *principal) error {
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	defer v.Release()
	var seq uint64
	if s := r.PathValue("seq"); s == "latest" {
		meta, err := ledger.ReadMeta(v)
		if err != nil {
			return err
		}
		if meta.Seq == 0 {
			return notFound("no checkpoint is final yet")
		}
		seq = meta.Seq
	} else {
		n, err := parseUint(s)
		if err != nil || n == 0 {
			return badField("seq", "want a checkpoint number ≥ 1 or latest")
		}
		seq = n
	}
	cb, cert, err := v.Checkpoint(seq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkpointJSON{Seq: seq, Hash: cb.Checkpoint.Hash(), Prev: cb.Checkpoint.Prev, Time: cb.Checkpoint.Time,
		Root: cb.Checkpoint.Root, Blocks: nonNil(cb.Blocks), StateRoot: cert.StateRoot, Certificate: cert,
		Encoded: base64.StdEncoding.EncodeToString(cb.Encode()), CertEncoded: base64.StdEncoding.EncodeToString(cert.Encode())})
	return nil
}

func parseUint(s string) (uint64, error) {
	if s == "" || len(s) > 19 {
		return 0, errors.New("not a number")
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

type blockRecordJSON struct {
	ID   ledger.Hash `json:"id"`
	Type string      `json:"type"`
}

type blockJSON struct {
	Hash       ledger.Hash        `json:"hash"`
	Checkpoint uint64             `json:"checkpoint"`
	Index      uint32             `json:"index"`
	Header     ledger.BlockHeader `json:"header"`
	Records    []blockRecordJSON  `json:"records"`
	Encoded    string             `json:"encoded"`
}

func (a *API) handleBlock(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.operator && (p.member == nil || (p.member.Role != ledger.RoleBureau && p.member.Role != ledger.RoleMinistry)) {
		return forbidden("blocks hold workers' data: the operator, bureaus and ministry read them")
	}
	h, err := parseHash("hash", r.PathValue("hash"))
	if err != nil {
		return err
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return err
	}
	b, place, err := v.Block(h)
	v.Release()
	if err != nil {
		return err
	}
	out := blockJSON{Hash: h, Checkpoint: place.Seq, Index: place.Index, Header: b.Header, Records: []blockRecordJSON{},
		Encoded: base64.StdEncoding.EncodeToString(b.Encode())}
	for _, raw := range b.Records {
		rec, _, err := ledger.DecodeRecord(raw)
		if err != nil {
			out.Records = append(out.Records, blockRecordJSON{ID: ledger.LeafHash(raw), Type: "undecodable"})
			continue
		}
		out.Records = append(out.Records, blockRecordJSON{ID: rec.ID(), Type: string(rec.Type)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decodeJSON decodes a small request body strictly: unknown fields and trailing data are errors
// naming the field when there is one.
func decodeJSON(r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "send application/json")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badField(te.Field, "want %s", te.Type)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badField(strings.Trim(f, `"`), "unknown field")
		}
		return badField("body", "%v", err)
	}
	if dec.More() {
		return badField("body", "trailing data after the JSON object")
	}
	return nil
}

func dateString(v uint32) *string {
	if v == 0 {
		return nil
	}
	d, err := civil.DateFromInt(v)
	if err != nil {
		s := fmt.Sprint(v)
		return &s
	}
	s := d.String()
	return &s
}

type evidenceJSON struct {
	ID       ledger.Hash  `json:"id"`
	Kind     string       `json:"kind"`
	Offender ledger.KeyID `json:"offender"`
	Encoded  string       `json:"encoded"` // base64 of the evidence's encoding
}

// handleEvidence lists the misbehaviour this node holds proof of. It is public: evidence names
// member keys, never workers, and the network's members and auditors should all see it.
func (a *API) handleEvidence(w http.ResponseWriter, r *http.Request, _ *principal) error {
	out := struct {
		Evidence []evidenceJSON `json:"evidence"`
	}{Evidence: []evidenceJSON{}}
	for _, e := range a.b.Evidence() {
		out.Evidence = append(out.Evidence, evidenceJSON{ID: e.ID, Kind: e.Kind, Offender: e.Offender, Encoded: base64.StdEncoding.EncodeToString(e.Encoded)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type adminRequest struct {
	Action string `json:"action"`
	Peer   string `json:"peer,omitempty"`
}

// handleAdmin runs an operator's membership or leadership command on a ministry node.
func (a *API) handleAdmin(w http.ResponseWriter, r *http.Request, p *principal) error {
	if !p.operator {
		return forbidden("only the operator runs admin commands")
	}
	var req adminRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var id ledger.KeyID
	switch req.Action {
	case "add-voter", "remove-voter", "transfer-leadership":
	default:
		return badField("action", "want add-voter, remove-voter or transfer-leadership")
	}
	if req.Peer != "" || req.Action != "transfer-leadership" {
		var err error
		if id, err = ledger.ParseKeyID(req.Peer); err != nil {
			return badField("peer", "want a member's key ID (12D3KooW…)")
		}
	}
	switch err := a.b.Admin(r.Context(), req.Action, id); {
	case errors.Is(err, ErrNotMinistry):
		return errorf(http.StatusConflict, CodeConflict, "%v", err)
	case errors.Is(err, ErrNotLeader):
		return errorf(http.StatusConflict, CodeConflict, "%v", err)
	case err != nil:
		return errorf(http.StatusUnprocessableEntity, CodeRefused, "%v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"action": req.Action, "result": "done"})
	return nil
}
