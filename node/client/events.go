package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jaminan/jaminan/api"
)

// Event is one final checkpoint of a node's event stream (GET /v1/events).
type Event = api.Event

// streamHTTP serves event streams when the client has no HTTP client of its own: a stream
// lasts as long as its context, so it has no overall timeout.
var streamHTTP = &http.Client{}

// Events follows the node's stream of final checkpoints from checkpoint from (0: the next one
// to become final), for at most limit events (0: no limit), and calls f with each as it
// arrives. It returns when the stream ends (nil), when ctx ends, or with the first error of f.
// The node skips a checkpoint it cannot read: the caller sees a gap in the sequences.
func (c *Client) Events(ctx context.Context, from, limit uint64, f func(Event) error) error {
	q := url.Values{}
	if from > 0 {
		q.Set("from", strconv.FormatUint(from, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.FormatUint(limit, 10))
	}
	path := "/v1/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = streamHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue // id, event, comments and heartbeats
		}
		var ev Event
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			return fmt.Errorf("GET %s: event: %w", path, err)
		}
		if err := f(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
