package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// The Backend's sentinels, wrapped as a backend wraps them, reach the client as their statuses:
// a full disk is 507 (nothing stored, retry later), not an internal error.
func TestBackendErrorsMapToStatuses(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("record: %w", ErrNotFound), http.StatusNotFound, CodeNotFound},
		{fmt.Errorf("submit: %w: shutting down", ErrUnavailable), http.StatusServiceUnavailable, CodeUnavailable},
		{fmt.Errorf("submit: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, CodeUnavailable},
		{fmt.Errorf("submit: data has 0 MiB free: %w", ErrNoSpace), http.StatusInsufficientStorage, CodeNoSpace},
		{errors.New("anything else"), http.StatusInternalServerError, CodeInternal},
	} {
		he, _ := toHTTPError(c.err)
		if he.status != c.status || he.code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, he.status, he.code, c.status, c.code)
		}
	}
}
