package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
)

const (
	attemptTimeout = 1500 * time.Millisecond
	callBudget     = 3 * time.Second
)

// In-call retries (transient errors after the first success) and start-up
// retries (0.2 s doubling to 2 s, while the server has never answered).
var (
	inCallDelays      = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	startupFirst      = 200 * time.Millisecond
	startupMax        = 2 * time.Second
	errServerIdentity = errors.New("server identity")
)

type caller struct {
	holder   *creds.Holder
	target   string // host:port
	host     string
	expected string
	budget   time.Duration
	log      *slog.Logger

	ok, failed, retries, startupRetries atomic.Int64

	mu        sync.Mutex
	lastError string
	failing   bool

	conn    *grpc.ClientConn
	connFor *creds.Credentials
	seen    atomic.Value // string: the server serial last verified
	failLog report.Throttle
}

// connFor: one ClientConn per credential set. A new set (certificate or
// root.crt) gets a new connection; the old one is closed, its calls done.
func (c *caller) connection(cr *creds.Credentials) (*grpc.ClientConn, error) {
	if cr == c.connFor {
		return c.conn, nil
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    cr.Roots, // the pinned private root(s) only
		ServerName: c.host,   // hostname verification against the SAN DNS
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cr.Certificate, nil
		},
		VerifyConnection: c.verifyServer,
	}
	conn, err := grpc.NewClient("passthrough:///"+c.target,
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(jsonCodec{}.Name()), grpc.MaxCallRecvMsgSize(64<<10)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: startupFirst, Multiplier: 2, Jitter: 0.1, MaxDelay: startupMax},
			MinConnectTimeout: attemptTimeout,
		}),
	)
	if err != nil {
		return nil, err
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.conn, c.connFor = conn, cr
	return conn, nil
}

// verifyServer runs after the chain and hostname checks: the leaf must carry
// EXPECTED_SERVER_IDENTITY as a SAN URI.
func (c *caller) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	uris := make([]string, len(leaf.URIs))
	for i, u := range leaf.URIs {
		uris[i] = u.String()
	}
	if !slices.Contains(uris, c.expected) {
		return fmt.Errorf("%w %v is not the expected %s", errServerIdentity, uris, c.expected)
	}
	if serial := creds.SerialOf(leaf); c.seen.Swap(serial) != serial {
		c.log.Info("server certificate", "identity", c.expected, "serial", serial, "notAfter", creds.Timestamp(leaf.NotAfter))
	}
	return nil
}

// kind sorts a failed attempt: "unreachable" (no connection: refused,
// reset, no name, no answer in time), "transient" (worth another attempt),
// or "final" (a refusal, a TLS or identity failure: asking again will not help).
func kind(err error) string {
	st, _ := status.FromError(err)
	msg := st.Message()
	switch {
	case st.Code() == codes.DeadlineExceeded:
		return "transient"
	case st.Code() != codes.Unavailable, strings.Contains(msg, "authentication handshake failed"), strings.Contains(msg, errServerIdentity.Error()):
		return "final"
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"),
		strings.Contains(msg, "connection reset"), strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "server misbehaving"):
		return "unreachable"
	}
	return "transient"
}

// call is one logical call with the contract's retries.
func (c *caller) call(ctx context.Context, cr *creds.Credentials) {
	conn, err := c.connection(cr)
	if err != nil {
		c.done(err)
		return
	}
	start, wait, inCall := time.Now(), startupFirst, 0
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		var reply whoamiReply
		err = conn.Invoke(actx, whoamiMethod, map[string]any{}, &reply)
		cancel()
		if err == nil || ctx.Err() != nil {
			c.done(err)
			return
		}
		var delay time.Duration
		switch k := kind(err); {
		case k == "unreachable" && c.ok.Load() == 0:
			if time.Since(start)+wait > c.budget {
				c.done(err)
				return
			}
			if c.startupRetries.Add(1) == 1 {
				c.log.Info("server not answering yet; retrying (start-up)", "target", c.target, "reason", status.Convert(err).Message())
			}
			delay, wait = wait, min(2*wait, startupMax)
		case k == "final", strings.Contains(err.Error(), "connection refused"),
			inCall >= len(inCallDelays), time.Since(start)+inCallDelays[inCall] > callBudget:
			c.done(err)
			return
		default:
			c.retries.Add(1)
			delay = inCallDelays[inCall]
			inCall++
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// done records the call's outcome; shutting down is nobody's failure.
func (c *caller) done(err error) {
	if err != nil && status.Code(err) == codes.Canceled {
		return
	}
	c.mu.Lock()
	wasFailing := c.failing
	c.failing = err != nil
	if err != nil {
		c.lastError = status.Convert(err).Message()
	}
	c.mu.Unlock()
	if err == nil {
		if n := c.ok.Add(1); n == 1 {
			c.log.Info("call succeeded", "target", c.target, "serial", c.connFor.Serial, "startupRetries", c.startupRetries.Load())
		} else if wasFailing {
			c.log.Info("call succeeded", "target", c.target, "serial", c.connFor.Serial)
		}
		return
	}
	c.failed.Add(1)
	if ok, dropped := c.failLog.Allow(time.Now()); ok || !wasFailing {
		st := status.Convert(err)
		c.log.Warn("call failed", "target", c.target, "code", st.Code().String(), "reason", st.Message(), "failedUnlogged", dropped)
	}
}

func runClient(ctx context.Context, cfg settings, base *slog.Logger) error {
	log := base.With("component", "client")
	stats := &report.Writer{Path: cfg.statsFile, Log: log}
	holder := creds.NewHolder(creds.Options{
		Dir: cfg.certDir, PinFile: cfg.pinFile, Usage: x509.ExtKeyUsageClientAuth,
		Logger: base.With("component", "credentials"), OnUpdate: stats.Poke,
	})
	c := &caller{
		holder: holder, target: net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)), host: cfg.host,
		expected: cfg.expected, budget: cfg.budget, log: log, failLog: report.Throttle{N: 1, Window: 10 * time.Second},
	}
	stats.Snapshot = c.stats(cfg)
	stopStats := runStats(stats)
	defer stopStats()
	go holder.Run(ctx)
	log.Info("calling", "target", c.target, "method", whoamiMethod, "expectedServer", cfg.expected, "intervalMs", cfg.interval.Milliseconds())
	for ctx.Err() == nil {
		if cr := holder.Current(); cr != nil {
			c.call(ctx, cr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.interval):
		}
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	return nil
}

func (c *caller) stats(cfg settings) func() report.Stats {
	return func() report.Stats {
		st := c.holder.Status()
		ok, failed, retries, startup := c.ok.Load(), c.failed.Load(), c.retries.Load(), c.startupRetries.Load()
		c.mu.Lock()
		lastError, failing := c.lastError, c.failing
		c.mu.Unlock()
		out := creds.RoleStats("grpc", "client", cfg.workload, st, "calling")
		out.Requests = report.Requests{OK: &ok, Failed: &failed, Retries: &retries, StartupRetries: &startup}
		out.LastError = lastError
		if st.LastError != "" && (lastError == "" || st.Refusing) {
			out.LastError = st.LastError
		}
		if out.State == "calling" && failing {
			out.State = "failing"
		}
		return out
	}
}
