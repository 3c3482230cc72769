package hostile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SlowClients configures RunSlowClients.
type SlowClients struct {
	BaseURLs []string
	// Conns is the number of connections held open, spread over the base URLs and the kinds
	// (header trickle, body trickle, event streams never read, idle connections).
	Conns int
	// Trickle is the pause between two bytes a slow client sends (0: 1 s).
	Trickle time.Duration
	// ProbeEvery is the period of the probes (0: 1 s); ProbeTimeout bounds each (0: 5 s).
	ProbeEvery, ProbeTimeout time.Duration
}

// Slow client kinds.
const (
	SlowHeaders = "slow_headers" // a request whose headers arrive a byte at a time and never end
	SlowBody    = "slow_body"    // a POST whose announced body arrives a byte at a time
	SlowEvents  = "slow_events"  // an event stream (from checkpoint 1) that is never read
	SlowIdle    = "slow_idle"    // a connection that sends nothing
)

var slowKinds = []string{SlowHeaders, SlowBody, SlowEvents, SlowIdle}

// RunSlowClients holds conns connections open to the nodes until ctx is done (slowloris:
// headers sent a byte at a time, bodies trickled, SSE subscribers of /v1/events that never
// read, idle connections), opening a new one whenever the server closes one, and meanwhile
// checks that an ordinary client gets GET /v1/status from every node within a bound.
// Stats.Errors counts the probes that failed or took longer; Stats.Kinds counts connections by
// kind, "closed_by_server" and "probe_ok".
func RunSlowClients(ctx context.Context, baseURLs []string, conns int, log *slog.Logger) (Stats, error) {
	return SlowClients{BaseURLs: baseURLs, Conns: conns}.Run(ctx, log)
}

// Run holds the connections and probes until ctx is done.
func (sc SlowClients) Run(ctx context.Context, log *slog.Logger) (Stats, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("party", "slow-clients")
	c := newCounter()
	if sc.Trickle <= 0 {
		sc.Trickle = time.Second
	}
	if sc.ProbeEvery <= 0 {
		sc.ProbeEvery = time.Second
	}
	if sc.ProbeTimeout <= 0 {
		sc.ProbeTimeout = 5 * time.Second
	}
	var hosts []string
	for _, b := range sc.BaseURLs {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return c.snapshot(), fmt.Errorf("slow clients: base URL %q: %v", b, err)
		}
		hosts = append(hosts, u.Host)
	}
	if len(hosts) == 0 {
		return c.snapshot(), fmt.Errorf("slow clients: no base URL")
	}
	var wg sync.WaitGroup
	for i := range sc.Conns {
		host, kind := hosts[i%len(hosts)], slowKinds[(i/len(hosts))%len(slowKinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				sc.hold(ctx, host, kind, c, log)
				sleep(ctx, 100*time.Millisecond)
			}
		}()
	}
	// Probes start once the connections had a moment to open.
	sleep(ctx, min(sc.ProbeEvery, time.Second))
	probe := &http.Client{Timeout: sc.ProbeTimeout, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return dialRetry(ctx, addr, c) }}}
	t := time.NewTicker(sc.ProbeEvery)
	defer t.Stop()
	for ctx.Err() == nil {
		var pw sync.WaitGroup
		for _, b := range sc.BaseURLs {
			pw.Add(1)
			go func() {
				defer pw.Done()
				sc.probe(ctx, probe, strings.TrimRight(b, "/")+"/v1/status", c, log)
			}()
		}
		pw.Wait()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wg.Wait()
	return c.snapshot(), nil
}

func (sc SlowClients) probe(ctx context.Context, hc *http.Client, u string, c *counter, log *slog.Logger) {
	c.sent("probe")
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		c.err("probe_failed")
		return
	}
	resp, err := hc.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.err("probe_failed")
		log.Error("probe failed while slow clients hold connections", "url", u, "after", time.Since(start), "err", err)
		return
	}
	c.kind("probe_ok")
}

// dial connects to host within 5 s. The bound is a context derived from ctx, not
// net.Dialer.Timeout: with a deadline of its own, a dial that ctx's end interrupts can fail
// with a timeout while ctx.Err() still reads nil, and would pass for a refusal.
func dial(ctx context.Context, host string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	return d.DialContext(dctx, "tcp", host)
}

// dialRetry is dial with one more attempt after a timeout. With thousands of short
// connections on loopback, a SYN now and then meets a TIME_WAIT entry of the same four-tuple
// that the server's side still holds and is retransmitted after seconds: that is the client's
// kernel reusing a port too early, not a server that stopped accepting, which the second
// attempt (on another port) tells apart.
//
// On a loaded machine (the default test run builds and runs other packages beside this one) a
// connect can also time out twice; the party then tries twice more after a pause. A connect
// that fails four times in about 23 s counts as refused.
func dialRetry(ctx context.Context, host string, c *counter) (net.Conn, error) {
	conn, err := dial(ctx, host)
	for try := 1; try < 4 && err != nil && ctx.Err() == nil && isTimeout(err); try++ {
		c.kind("dial_retried")
		if try > 1 {
			sleep(ctx, time.Second)
		}
		conn, err = dial(ctx, host)
	}
	return conn, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hold opens one connection of kind and keeps it until the server closes it or ctx ends.
func (sc SlowClients) hold(ctx context.Context, host, kind string, c *counter, log *slog.Logger) {
	conn, err := dial(ctx, host)
	if err != nil {
		if ctx.Err() == nil {
			c.kind("dial_refused")
			log.Debug("dial", "host", host, "err", err)
			sleep(ctx, time.Second)
		}
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.sent(kind)
	closed := func(err error) {
		if ctx.Err() == nil {
			c.kind("closed_by_server")
			log.Debug("slow connection closed", "kind", kind, "err", err)
		}
	}
	trickle := func(prefix string, each func(i int) byte) {
		if _, err := io.WriteString(conn, prefix); err != nil {
			closed(err)
			return
		}
		for i := 0; ctx.Err() == nil; i++ {
			sleep(ctx, sc.Trickle)
			if _, err := conn.Write([]byte{each(i)}); err != nil {
				closed(err)
				return
			}
		}
	}
	switch kind {
	case SlowHeaders:
		// Never a blank line: the header section goes on for ever.
		trickle("GET /v1/status HTTP/1.1\r\nHost: "+host+"\r\nX-Slow: ", func(i int) byte {
			if i%20 == 19 {
				return '\n'
			}
			return 'a' + byte(i%26)
		})
	case SlowBody:
		trickle("POST /v1/records HTTP/1.1\r\nHost: "+host+"\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"records\":[",
			func(int) byte { return ' ' })
	case SlowEvents:
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(1024) // the server's writes back up sooner
		}
		if _, err := io.WriteString(conn, "GET /v1/events?from=1 HTTP/1.1\r\nHost: "+host+"\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
			closed(err)
			return
		}
		// Never read. A connection that is never read cannot tell when the server gave up on
		// it, so it is replaced after a while.
		sleep(ctx, 3*time.Minute)
	case SlowIdle:
		// Send nothing; the server's header timeout should close it. Detect the close by a read.
		buf := make([]byte, 1)
		_, err := conn.Read(buf)
		closed(err)
	}
}
