package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the JSON error body {"error":{"code","message","field"}}.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeUnsupportedType  = "unsupported_media_type"
	CodeUnavailable      = "unavailable"
	CodeNoSpace          = "insufficient_storage" // the node's disk is (nearly) full
	CodeInternal         = "internal"
	CodeConflict         = "conflict"       // the command needs another node (the leader, a ministry node)
	CodeRefused          = "refused"        // the command was understood and refused
	CodeBeforeHistory    = "before_history" // 404: the node's history starts after what was asked
)

// httpError is an error with the status and body a handler answers with.
type httpError struct {
	status  int
	code    string
	field   string
	message string
}

func (e *httpError) Error() string {
	if e.field != "" {
		return e.field + ": " + e.message
	}
	return e.message
}

func errorf(status int, code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// badField is a 400 naming the request field at fault.
func badField(field, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, code: CodeBadRequest, field: field, message: field + ": " + fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *httpError {
	return errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

func forbidden(format string, args ...any) *httpError {
	return errorf(http.StatusForbidden, CodeForbidden, format, args...)
}

// errorBody is the JSON error shape of DESIGN.md §5.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// toHTTPError maps any handler error to its response: httpError as is, the Backend's sentinels
// to 404, 503 and 507, everything else to 500 (internal reports the detail only to the log).
func toHTTPError(err error) (*httpError, bool) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he, false
	case errors.Is(err, ErrBeforeHistory):
		return errorf(http.StatusNotFound, CodeBeforeHistory, "%v", err), false
	case errors.Is(err, ErrNotFound):
		return notFound("%v", err), false
	case errors.Is(err, ErrNoSpace):
		return errorf(http.StatusInsufficientStorage, CodeNoSpace, "the node's disk is full; nothing was stored; retry later"), true
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the node cannot serve this now; retry later"), true
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error"), true
}

func writeError(w http.ResponseWriter, e *httpError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jaminan", Signature`)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.message, Field: e.field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the response"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
