package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/jaminan/jaminan/ledger"
)

// HTTP Message Signatures (RFC 9421) with ed25519 keys, and Content-Digest (RFC 9530).

// SignatureLabel is the label SignRequest gives its signature.
const SignatureLabel = "sig1"

// maxSignedBody bounds the body SignRequest reads to compute its digest.
const maxSignedBody = 256 << 20

// ErrSignature is returned (wrapped) when a request's signature is missing, malformed, does not
// verify, is outside the time window or was seen before.
var ErrSignature = errors.New("invalid request signature")

// SignRequest signs req with s following RFC 9421: the covered components are @method,
// @authority, @path, @query and, when the request has a body, content-digest (RFC 9530,
// sha-256), which it sets. The signature parameters are created (now), keyid (the signer's key
// ID text, a libp2p peer ID), alg "ed25519" and a random nonce. The body, if any, is read and replaced so that
// the request can still be sent (and GetBody is set for redirects).
func SignRequest(req *http.Request, s *ledger.Signer) error {
	return SignRequestAt(req, s, time.Now())
}

// SignRequestAt is SignRequest with the creation time given.
func SignRequestAt(req *http.Request, s *ledger.Signer, created time.Time) error {
	components := []string{"@method", "@authority", "@path", "@query"}
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(req.Body, maxSignedBody+1))
		req.Body.Close()
		if err != nil {
			return fmt.Errorf("sign request: read body: %w", err)
		}
		if len(body) > maxSignedBody {
			return fmt.Errorf("sign request: body exceeds %d bytes", maxSignedBody)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Digest", ContentDigest(body))
		components = append(components, "content-digest")
	}
	params := httpsfv.NewParams()
	params.Add("created", created.Unix())
	params.Add("keyid", s.ID().String())
	params.Add("alg", "ed25519")
	// Ed25519 is deterministic: without a nonce two identical requests in one second would carry
	// the same signature and the second would be refused as a replay.
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	params.Add("nonce", base64.RawURLEncoding.EncodeToString(nonce[:]))
	items := make([]httpsfv.Item, len(components))
	for i, c := range components {
		items[i] = httpsfv.NewItem(c)
	}
	il := httpsfv.InnerList{Items: items, Params: params}
	base, err := signatureBase(req, il)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	sig := ed25519.Sign(s.PrivateKey(), []byte(base))
	in := httpsfv.NewDictionary()
	in.Add(SignatureLabel, il)
	out := httpsfv.NewDictionary()
	out.Add(SignatureLabel, httpsfv.NewItem(sig))
	inHdr, err := httpsfv.Marshal(in)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	sigHdr, err := httpsfv.Marshal(out)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	req.Header.Set("Signature-Input", inHdr)
	req.Header.Set("Signature", sigHdr)
	return nil
}

// ContentDigest returns the Content-Digest field value of body with sha-256 (RFC 9530).
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// checkContentDigest verifies a Content-Digest field against body: every sha-256 or sha-512
// digest it holds must match, and there must be at least one.
func checkContentDigest(field []string, body []byte) error {
	d, err := httpsfv.UnmarshalDictionary(field)
	if err != nil {
		return fmt.Errorf("content-digest: %w", err)
	}
	n := 0
	for _, alg := range d.Names() {
		m, _ := d.Get(alg)
		item, ok := m.(httpsfv.Item)
		if !ok {
			return errors.New("content-digest: not a byte sequence")
		}
		got, ok := item.Value.([]byte)
		if !ok {
			return errors.New("content-digest: not a byte sequence")
		}
		var want []byte
		switch alg {
		case "sha-256":
			s := sha256.Sum256(body)
			want = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			want = s[:]
		default:
			continue
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("content-digest: %s does not match the body", alg)
		}
		n++
	}
	if n == 0 {
		return errors.New("content-digest: no sha-256 or sha-512 digest")
	}
	return nil
}

// signatureBase builds the signature base of RFC 9421 §2.5 for the covered components of il
// (which carries the signature parameters).
func signatureBase(r *http.Request, il httpsfv.InnerList) (string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	for _, it := range il.Items {
		name, ok := it.Value.(string)
		if !ok {
			return "", errors.New("covered component is not a string")
		}
		if it.Params != nil && len(it.Params.Names()) > 0 {
			return "", fmt.Errorf("component %q: parameters are not supported", truncateText(name))
		}
		if seen[name] {
			return "", fmt.Errorf("component %q is covered twice", truncateText(name))
		}
		seen[name] = true
		v, err := componentValue(r, name)
		if err != nil {
			return "", err
		}
		b.WriteString(`"` + name + `": ` + v + "\n")
	}
	params, err := httpsfv.Marshal(httpsfv.List{il})
	if err != nil {
		return "", fmt.Errorf("signature parameters: %w", err)
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return b.String(), nil
}

// componentValue returns the canonical value of one covered component (RFC 9421 §2.1, §2.2).
func componentValue(r *http.Request, name string) (string, error) {
	switch name {
	case "@method":
		return strings.ToUpper(r.Method), nil
	case "@authority":
		return strings.ToLower(hostOf(r)), nil
	case "@target-uri":
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if r.URL.IsAbs() {
			return r.URL.String(), nil
		}
		return scheme + "://" + strings.ToLower(hostOf(r)) + r.URL.RequestURI(), nil
	case "@path":
		p := r.URL.EscapedPath()
		if p == "" {
			p = "/"
		}
		return p, nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	case "@scheme":
		if r.TLS != nil {
			return "https", nil
		}
		return "http", nil
	}
	if strings.HasPrefix(name, "@") || name == "" || strings.ToLower(name) != name {
		return "", fmt.Errorf("component %q is not supported", truncateText(name))
	}
	vals := r.Header.Values(name)
	if name == "host" && len(vals) == 0 && r.Host != "" {
		vals = []string{r.Host}
	}
	if len(vals) == 0 {
		return "", fmt.Errorf("covered field %q is absent", truncateText(name))
	}
	for i, v := range vals {
		vals[i] = strings.TrimSpace(v)
	}
	v := strings.Join(vals, ", ")
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("covered field %q holds a line break", truncateText(name))
	}
	return v, nil
}

func hostOf(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// signedRequest is what a verified signature tells about a request.
type signedRequest struct {
	key     ledger.KeyID
	created time.Time
	sig     []byte
}

// verifySignature checks the RFC 9421 signature of r (whose body, already read, is body) at time
// now: one signature label is used (the first of Signature-Input); the covered components must
// include @method, @target-uri or @path (and @query when the URL has one) and, for a request
// with a body, content-digest, which must match; created must lie within window of now and
// expires, if present, must not have passed; keyid must name an ed25519 key; alg, if present,
// must be ed25519.
func verifySignature(r *http.Request, body []byte, now time.Time, window time.Duration) (*signedRequest, error) {
	fail := func(format string, args ...any) (*signedRequest, error) {
		return nil, fmt.Errorf("%w: %s", ErrSignature, fmt.Sprintf(format, args...))
	}
	inputs, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil {
		return fail("Signature-Input: %v", err)
	}
	sigs, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature"))
	if err != nil {
		return fail("Signature: %v", err)
	}
	names := inputs.Names()
	if len(names) == 0 {
		return fail("Signature-Input holds no signature")
	}
	label := names[0]
	m, _ := inputs.Get(label)
	il, ok := m.(httpsfv.InnerList)
	if !ok {
		return fail("Signature-Input %q is not an inner list", truncateText(label))
	}
	sm, ok := sigs.Get(label)
	if !ok {
		return fail("no Signature for label %q", truncateText(label))
	}
	sitem, ok := sm.(httpsfv.Item)
	if !ok {
		return fail("Signature %q is not a byte sequence", truncateText(label))
	}
	sig, ok := sitem.Value.([]byte)
	if !ok || len(sig) != ed25519.SignatureSize {
		return fail("Signature %q is not a 64-byte ed25519 signature", truncateText(label))
	}
	covered := map[string]bool{}
	for _, it := range il.Items {
		if s, ok := it.Value.(string); ok {
			covered[s] = true
		}
	}
	switch {
	case !covered["@method"]:
		return fail("@method is not covered")
	case !covered["@target-uri"] && !covered["@path"]:
		return fail("neither @target-uri nor @path is covered")
	case !covered["@target-uri"] && r.URL.RawQuery != "" && !covered["@query"]:
		return fail("@query is not covered")
	case len(body) > 0 && !covered["content-digest"]:
		return fail("content-digest is not covered")
	}
	if covered["content-digest"] {
		if err := checkContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
			return fail("%v", err)
		}
	}
	if il.Params == nil {
		return fail("no signature parameters")
	}
	cv, ok := il.Params.Get("created")
	created, isInt := cv.(int64)
	if !ok || !isInt {
		return fail("created is missing or not an integer")
	}
	t := time.Unix(created, 0)
	if t.Before(now.Add(-window)) || t.After(now.Add(window)) {
		return fail("created %s is outside ±%s of the server's time", t.UTC().Format(time.RFC3339), window)
	}
	if ev, ok := il.Params.Get("expires"); ok {
		exp, isInt := ev.(int64)
		if !isInt || time.Unix(exp, 0).Before(now) {
			return fail("signature expired")
		}
	}
	if av, ok := il.Params.Get("alg"); ok {
		if a, _ := av.(string); a != "ed25519" {
			return fail("alg must be ed25519")
		}
	}
	kv, _ := il.Params.Get("keyid")
	keyText, ok := kv.(string)
	if !ok {
		return fail("keyid is missing or not a string")
	}
	key, err := ledger.ParseKeyID(keyText)
	if err != nil {
		return fail("keyid: %v", err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return fail("keyid: %v", err)
	}
	base, err := signatureBase(r, il)
	if err != nil {
		return fail("%v", err)
	}
	if !ed25519.Verify(pub, []byte(base), sig) {
		return fail("signature does not verify")
	}
	return &signedRequest{key: key, created: t, sig: sig}, nil
}

// replayCache remembers the signatures seen within the time window, so that a captured request
// cannot be sent again. It is bounded: when full, the oldest entry is forgotten first (a replay
// of it inside its window would then pass; the bound is sized so that this needs a flood of
// valid signed requests).
type replayCache struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[[32]byte]time.Time // signature hash → created
	order  [][32]byte             // insertion order, for eviction
	head   int
}

func newReplayCache(window time.Duration, max int) *replayCache {
	return &replayCache{window: window, max: max, seen: map[[32]byte]time.Time{}}
}

// check records sig and reports whether it was seen before (a replay).
func (c *replayCache) check(sig []byte, created, now time.Time) bool {
	k := sha256.Sum256(sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[k]; dup {
		return true
	}
	// Forget entries whose created time left the window: they would be refused anyway.
	for c.head < len(c.order) {
		old := c.order[c.head]
		if t, ok := c.seen[old]; ok && now.Sub(t) <= c.window && len(c.seen) < c.max {
			break
		}
		delete(c.seen, old)
		c.head++
	}
	if c.head > len(c.order)/2 && c.head > 1024 {
		c.order = append(c.order[:0:0], c.order[c.head:]...)
		c.head = 0
	}
	c.seen[k] = created
	c.order = append(c.order, k)
	return false
}

func truncateText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
