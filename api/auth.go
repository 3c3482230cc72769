package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/jaminan/jaminan/ledger"
	"github.com/jaminan/jaminan/ledger/civil"
	"github.com/jaminan/jaminan/ledger/ids"
)

// LoadOrCreateToken reads the operator token from path, or creates the file (mode 0600) with a
// new random token (32 bytes, hex) if it does not exist.
func LoadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("operator token %s: shorter than 32 characters", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("operator token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("operator token %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("operator token %s: %w", path, err)
	}
	return tok, nil
}

// principal is who made a request: the node's operator, or the holder of a key that signed it.
type principal struct {
	operator bool
	key      ledger.KeyID    // the signing key
	member   *ledger.Member  // the key's registry entry, for members
	worker   ledger.WorkerID // the worker a personal key belongs to
	isWorker bool
}

func (p *principal) role() string {
	switch {
	case p == nil:
		return "anonymous"
	case p.operator:
		return "operator"
	case p.isWorker:
		return "worker"
	}
	return p.member.Role
}

// authenticate establishes the principal of r: a Bearer token must be the operator token; an
// RFC 9421 signature must verify, be fresh and new, and its key must be an active member or a
// registered worker key. optional is true on public routes, where credentials are checked only
// if present.
func (a *API) authenticate(r *http.Request, optional bool) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || a.cfg.Token == "" || !tokenEqual(strings.TrimSpace(tok), a.cfg.Token) {
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "invalid operator token")
		}
		return &principal{operator: true, key: a.b.Signer().ID()}, nil
	}
	if r.Header.Get("Signature-Input") == "" {
		if optional {
			return nil, nil
		}
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "send the operator token or sign the request (RFC 9421)")
	}
	var body []byte
	if r.Body != nil {
		b, err := readBody(r)
		if err != nil {
			return nil, err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	now := a.b.Now()
	sr, err := verifySignature(r, body, now, a.cfg.SignatureWindow)
	if err != nil {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "%v", err)
	}
	if a.replay.check(sr.sig, sr.created, now) {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "%v: replayed signature", ErrSignature)
	}
	p := &principal{key: sr.key}
	m, ok, err := a.b.Member(sr.key)
	if err != nil {
		return nil, fmt.Errorf("look up member: %w", err)
	}
	if ok {
		if !m.ActiveAt(uint64(now.UnixMilli())) {
			return nil, forbidden("key %s is a revoked or expired member", sr.key.Short())
		}
		p.member = &m
		return p, nil
	}
	v, err := a.b.View(r.Context())
	if err != nil {
		return nil, err
	}
	w, ok, err := v.WorkerOfKey(sr.key)
	v.Release()
	if err != nil {
		return nil, fmt.Errorf("look up worker key: %w", err)
	}
	if !ok {
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "key %s is neither a member nor a registered worker key", sr.key.Short())
	}
	p.worker, p.isWorker = w, true
	return p, nil
}

// tokenEqual compares in constant time, whatever the lengths.
func tokenEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// today is the node's current date in the network's time zone.
func (a *API) today() civil.Date {
	return civil.DateOfUnixMilli(a.b.Now().UnixMilli(), int(a.b.Genesis().UTCOffset))
}

// parseWorker reads a {worker} path value or worker_id field: a resident ID number (from the
// operator only; it is pseudonymised with the pepper) or the 64-hex pseudonym.
func (a *API) parseWorker(field, s string, p *principal) (ledger.WorkerID, error) {
	if len(s) == 64 {
		w, err := ledger.ParseWorkerID(s)
		if err != nil {
			return ledger.WorkerID{}, badField(field, "not a 64-hex worker pseudonym")
		}
		return w, nil
	}
	if len(s) != 18 {
		return ledger.WorkerID{}, badField(field, "want an 18-character resident ID number or a 64-hex pseudonym")
	}
	if p == nil || !p.operator {
		return ledger.WorkerID{}, forbidden("only the operator may name a worker by resident ID number; use the pseudonym")
	}
	id, err := ids.ParseResidentID(ids.NormaliseResidentID(s), a.today())
	if err != nil {
		return ledger.WorkerID{}, badField(field, "%v", err)
	}
	return ledger.Pseudonym(a.b.Pepper(), id.String()), nil
}

// readGrant says how a worker-data read was allowed: log it or not, and the consent relied on.
type readGrant struct {
	log     bool
	consent ledger.Hash
}

// authorizeWorkerRead decides whether p may read worker w's data of kind what ("account",
// "statement", "history", "access", "record"): the worker themselves always, without a log; the
// operator always, logged unless this node is a bureau of a province where the worker has an
// account (the worker's own bureau); an employer with a current consent of a fitting scope,
// logged with the consent; nobody else.
func (a *API) authorizeWorkerRead(ctx context.Context, v View, p *principal, w ledger.WorkerID, what string) (readGrant, error) {
	switch {
	case p == nil:
		return readGrant{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "authentication required")
	case p.isWorker:
		if p.worker != w {
			return readGrant{}, forbidden("a worker key reads only its own worker's data")
		}
		return readGrant{}, nil
	case p.operator:
		own, err := a.ownBureau(v, w)
		if err != nil {
			return readGrant{}, err
		}
		return readGrant{log: !own}, nil
	case p.member != nil && p.member.Role == ledger.RoleEmployer:
		scopes := []string{"history"}
		if what == "account" {
			scopes = append(scopes, "account")
		}
		grant, ok, err := a.findConsent(v, w, p, scopes)
		if err != nil {
			return readGrant{}, err
		}
		if !ok {
			return readGrant{}, forbidden("no current consent of this worker for %s", p.key)
		}
		return readGrant{log: true, consent: grant}, nil
	}
	return readGrant{}, forbidden("role %s may not read workers' data", p.role())
}

// ownBureau reports whether this node is a bureau of a province where w has an account.
func (a *API) ownBureau(v View, w ledger.WorkerID) (bool, error) {
	m, ok, err := a.b.Member(a.b.Signer().ID())
	if err != nil || !ok || m.Role != ledger.RoleBureau {
		return false, err
	}
	accts, err := ledger.WorkerAccounts(v, w)
	if err != nil {
		return false, fmt.Errorf("accounts of worker: %w", err)
	}
	for _, acc := range accts {
		if acc.Province == m.Province() {
			return true, nil
		}
	}
	return false, nil
}

// findConsent looks for a current consent.grant of worker w to the employer p (granted to its
// key ID text, or to its USCC when its registry name is one) with one of scopes.
func (a *API) findConsent(v View, w ledger.WorkerID, p *principal, scopes []string) (ledger.Hash, bool, error) {
	grantees := []string{p.key.String()}
	if u := ids.NormaliseUSCC(p.member.Name); len(u) == 18 {
		if _, err := ids.ParseUSCC(u); err == nil {
			grantees = append(grantees, u)
		}
	}
	day := a.today().Int()
	var after Pos
	for {
		refs, err := v.WorkerRecords(w, after, 0)
		if err != nil {
			return ledger.Hash{}, false, fmt.Errorf("records of worker: %w", err)
		}
		for _, ref := range refs {
			if ref.Type != ledger.TypeConsentGrant {
				continue
			}
			raw, _, err := v.Record(ref.ID)
			if err != nil {
				return ledger.Hash{}, false, fmt.Errorf("consent record: %w", err)
			}
			_, body, err := ledger.DecodeRecord(raw)
			if err != nil {
				continue
			}
			g, ok := body.(*ledger.ConsentGrant)
			if !ok || !containsStr(scopes, g.Scope) || !containsStr(grantees, g.Grantee) {
				continue
			}
			active, err := ledger.ConsentActive(v, w, ref.ID, g.Grantee, day)
			if err != nil {
				return ledger.Hash{}, false, fmt.Errorf("consent state: %w", err)
			}
			if active {
				return ref.ID, true, nil
			}
		}
		if len(refs) == 0 {
			return ledger.Hash{}, false, nil
		}
		after = refs[len(refs)-1].Pos
	}
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// logAccess writes the access record of a read through the submit path. The read fails if the
// log cannot be written: nobody reads a worker's data unlogged.
func (a *API) logAccess(ctx context.Context, p *principal, w ledger.WorkerID, what string, g readGrant) error {
	if !g.log {
		return nil
	}
	reader := p.key.String()
	purpose := ""
	if p.operator {
		purpose = "operator"
	}
	rec := ledger.NewRecord(a.b.Signer().ID(), uint64(a.b.Now().UnixMilli()),
		&ledger.Access{Worker: w, Reader: reader, What: what, Purpose: purpose, Consent: g.consent})
	rec.Sign(a.b.Genesis().Network, a.b.Signer())
	res, err := a.b.Submit(ctx, []ledger.Record{rec})
	if err != nil {
		return fmt.Errorf("log access: %w", err)
	}
	if len(res) != 1 || res[0].Code != "" {
		return fmt.Errorf("log access: %w: refused", ErrUnavailable)
	}
	return nil
}
