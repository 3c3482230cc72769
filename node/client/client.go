// Package client is the Go client of a node's HTTP API (DESIGN.md §5): the one that
// `jaminan submit`, `jaminan query`, the devnet's workload and the end-to-end tests use.
// Requests carry the operator token, or are signed (RFC 9421) with a party's key.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jaminan/jaminan/api"
	"github.com/jaminan/jaminan/intake"
	"github.com/jaminan/jaminan/ledger"
)

// Client talks to one node.
type Client struct {
	// Base is the node's URL, such as http://127.0.0.1:8080.
	Base string
	// Token is the operator token (sent as a bearer token), or empty.
	Token string
	// Signer, if set and Token is empty, signs every request (RFC 9421).
	Signer *ledger.Signer
	// HTTP is the HTTP client (nil: one with a 60 s timeout).
	HTTP *http.Client
}

// New returns a client of the node at base with the operator token.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token}
}

// Error is an error answer of the API: {"error":{"code","message","field"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// StatusOf returns the HTTP status of an API error, 0 for other errors.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

var defaultHTTP = &http.Client{Timeout: 60 * time.Second}

// Do sends a request and decodes a JSON answer into out (if not nil). A non-2xx answer is an
// *Error.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	raw, err := c.DoRaw(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// DoRaw sends a request and returns the answer's body.
func (c *Client) DoRaw(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.Signer != nil:
		if err := api.SignRequest(req, c.Signer); err != nil {
			return nil, fmt.Errorf("%s %s: sign request: %w", method, path, err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			e.Error = Error{Code: "http", Message: strings.TrimSpace(string(raw))}
		}
		e.Error.Status = resp.StatusCode
		return nil, fmt.Errorf("%s %s: %w", method, path, &e.Error)
	}
	return raw, nil
}

// Get sends a GET request and decodes the JSON answer.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, "", nil, out)
}

// Post sends a JSON body.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("POST %s: encode: %w", path, err)
	}
	return c.Do(ctx, http.MethodPost, path, "application/json", body, out)
}

// Finalized is the "finalized" object of GET /v1/status.
type Finalized struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	StateRoot string `json:"state_root"`
	Time      uint64 `json:"time"`
}

// Status is GET /v1/status.
type Status struct {
	NodeID    string    `json:"node_id"`
	Role      string    `json:"role"`
	Region    string    `json:"region"`
	Network   string    `json:"network"`
	Finalized Finalized `json:"finalized"`
	Peers     int       `json:"peers"`
	Lag       uint64    `json:"lag"`
	Ready     bool      `json:"ready"`
	// HistoryStart is the checkpoint the node's history starts after (0: the whole history).
	HistoryStart uint64 `json:"history_start,omitempty"`
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.Get(ctx, "/v1/status", &s)
	return s, err
}

// Accepted and Rejected are the entries of a POST /v1/records answer.
type Accepted struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
}

// Rejected is a record refused before it reached a block.
type Rejected struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// SubmitResult is the answer of POST /v1/records.
type SubmitResult struct {
	Accepted []Accepted `json:"accepted"`
	Rejected []Rejected `json:"rejected"`
}

// Submit posts records as JSON.
func (c *Client) Submit(ctx context.Context, recs []intake.Input) (SubmitResult, error) {
	var out SubmitResult
	err := c.Post(ctx, "/v1/records", map[string]any{"records": recs}, &out)
	return out, err
}

// SubmitCSV posts a CSV document.
func (c *Client) SubmitCSV(ctx context.Context, csv []byte) (SubmitResult, error) {
	var out SubmitResult
	err := c.Do(ctx, http.MethodPost, "/v1/records", "text/csv", csv, &out)
	return out, err
}

// RecordStatus is GET /v1/records/{id}.
type RecordStatus struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Checkpoint uint64 `json:"checkpoint"`
	Receipt    *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"receipt,omitempty"`
}

// Record returns a record's status.
func (c *Client) Record(ctx context.Context, id string) (RecordStatus, error) {
	var out RecordStatus
	err := c.Get(ctx, "/v1/records/"+url.PathEscape(id), &out)
	return out, err
}

// ApplyTransfer posts a transfer application at the bureau of the new place.
func (c *Client) ApplyTransfer(ctx context.Context, workerID, from, to string) (string, error) {
	var out struct {
		Case string `json:"case"`
	}
	err := c.Post(ctx, "/v1/transfers", map[string]string{"worker_id": workerID, "from": from, "to": to}, &out)
	return out.Case, err
}
