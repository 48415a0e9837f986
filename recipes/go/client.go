package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
)

// Retry policy of one call: up to 3 retries, all within about 3 s.
var retryDelays = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}

const (
	callBudget     = 3 * time.Second
	attemptTimeout = 1500 * time.Millisecond
	// Start-up retries: 0.2 s, doubling, at most 2 s apart.
	startupFirstDelay = 200 * time.Millisecond
	startupMaxDelay   = 2 * time.Second
)

// caller makes the calls; only its own goroutine touches it, except the
// counters and the server serial (read by the stats writer).
type caller struct {
	holder   *creds.Holder
	host     string
	url      string
	expected string
	log      *slog.Logger
	// Until the first success, how long one call may keep retrying a server
	// it cannot reach (it is most likely still starting).
	startupBudget time.Duration

	ok, failed, retries, startupRetries atomic.Int64
	mu                                  sync.Mutex
	lastError                           string
	lastFailed                          bool
	called                              bool

	inUse     *creds.Credentials // the credentials the transport was built for
	transport *http.Transport
	client    *http.Client

	serverSerial atomic.Value // string: serial of the server certificate last verified
	failLog      report.Throttle
}

func newCaller(h *creds.Holder, host string, port int, expected string, startupBudget time.Duration, log *slog.Logger) *caller {
	return &caller{
		holder: h, host: host, expected: expected, log: log, startupBudget: startupBudget,
		url:     (&url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/"}).String(),
		failLog: report.Throttle{N: 1, Window: 10 * time.Second},
	}
}

// unreachableError: the attempt failed before a TCP connection to the server
// was made (name lookup, refused, no connection within the deadline).
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// unreachable: the server could not be reached at all, which before the first
// success means it is still starting. A TLS or identity failure is not this.
func unreachable(err error) bool {
	var ue *unreachableError
	return errors.As(err, &ue) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}

// statusError is an HTTP answer other than 200: the server's final word.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

func (c *caller) attempt(ctx context.Context, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				connected.Store(true)
			}
		},
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }, // a kept-alive one too
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the repeated method and URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if !connected.Load() {
				return &unreachableError{fmt.Errorf("no connection to %s within %v (name lookup or connect)", c.host, attemptTimeout)}
			}
			return fmt.Errorf("no answer from %s within %v (handshake or response)", c.host, attemptTimeout)
		}
		if !connected.Load() {
			return &unreachableError{err}
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if len(body) > 200 {
			body = body[:200]
		}
		return &statusError{resp.StatusCode, strings.TrimSpace(string(body))}
	}
	return nil
}

// call is one logical call: retried on transport errors and 5xx, not on a
// 4xx (a refusal does not change by asking again). Before the first success,
// a server that cannot be reached is waited for, within startupBudget; after
// it, a refused connection is a failure at once.
func (c *caller) call(ctx context.Context, cr *creds.Credentials) {
	client := c.clientFor(cr)
	started := time.Now()
	deadline := started.Add(callBudget)
	startupDelay := startupFirstDelay
	for i := 0; ; {
		err := c.attempt(ctx, client)
		if err == nil {
			c.ok.Add(1)
			c.record(nil)
			return
		}
		if ctx.Err() != nil {
			return // shutting down: not a failure of the peer
		}
		var delay time.Duration
		var se *statusError
		switch {
		case c.ok.Load() == 0 && unreachable(err):
			if time.Since(started)+startupDelay > c.startupBudget {
				c.fail(err)
				return
			}
			if c.startupRetries.Add(1) == 1 {
				c.log.Info("server not answering yet; retrying (start-up)", "url", c.url, "reason", err.Error())
			}
			delay, startupDelay = startupDelay, min(2*startupDelay, startupMaxDelay)
		case errors.As(err, &se) && se.status < 500, errors.Is(err, syscall.ECONNREFUSED),
			i >= len(retryDelays), time.Until(deadline) < retryDelays[i]:
			c.fail(err)
			return
		default:
			c.retries.Add(1)
			delay = retryDelays[i]
			i++
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (c *caller) fail(err error) {
	c.failed.Add(1)
	c.record(err)
}

func (c *caller) record(err error) {
	c.mu.Lock()
	wasFailing, first := c.lastFailed, !c.called
	c.called, c.lastFailed = true, err != nil
	if err != nil {
		c.lastError = err.Error()
	}
	c.mu.Unlock()
	switch {
	case err == nil && c.ok.Load() == 1: // the first success since the start
		c.log.Info("call succeeded", "url", c.url, "serial", c.inUse.Serial, "startupRetries", c.startupRetries.Load())
	case err == nil && (first || wasFailing):
		c.log.Info("call succeeded", "url", c.url, "serial", c.inUse.Serial)
	case err != nil:
		if ok, dropped := c.failLog.Allow(time.Now()); ok || !wasFailing {
			c.log.Warn("call failed", "url", c.url, "reason", err.Error(), "failedUnlogged", dropped)
		}
	}
}

// run makes a call every interval, once there are credentials, until ctx ends.
func (c *caller) run(ctx context.Context, interval time.Duration) {
	for ctx.Err() == nil {
		if cr := c.holder.Current(); cr != nil {
			c.call(ctx, cr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

func runClient(ctx context.Context, cfg config, base *slog.Logger) error {
	log, stats, holder := newRole(cfg, base, "client", x509.ExtKeyUsageClientAuth)
	c := newCaller(holder, cfg.TargetHost, cfg.TargetPort, cfg.ExpectedServer, time.Duration(cfg.StartupRetryBudgetMs)*time.Millisecond, log)
	stats.Snapshot = func() report.Stats { return c.stats(cfg) }
	stopStats := startStats(stats)
	go holder.Run(ctx)
	log.Info("calling", "url", c.url, "expectedServer", cfg.ExpectedServer, "intervalMs", cfg.IntervalMs)

	c.run(ctx, time.Duration(cfg.IntervalMs)*time.Millisecond)
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	stopStats()
	return nil
}

func (c *caller) stats(cfg config) report.Stats {
	st := c.holder.Status()
	ok, failed, retries, startupRetries := c.ok.Load(), c.failed.Load(), c.retries.Load(), c.startupRetries.Load()
	c.mu.Lock()
	lastErr, lastFailed := c.lastError, c.lastFailed
	c.mu.Unlock()
	out := credentialStats(cfg, "client", st, "calling")
	out.Requests = report.Requests{OK: &ok, Failed: &failed, Retries: &retries, StartupRetries: &startupRetries}
	out.LastError = lastErr
	if st.LastError != "" && (lastErr == "" || st.Refusing) {
		out.LastError = st.LastError
	}
	if out.State == "calling" && lastFailed {
		out.State = "failing"
	}
	return out
}
