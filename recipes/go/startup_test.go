package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mtls-reference/recipes/go/internal/report"
	"mtls-reference/recipes/go/internal/testpki"
)

// logBuffer collects the client's JSON log lines (written from its goroutine).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(msg string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), `"msg":"`+msg+`"`)
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveOn runs the recipe's server on a given loopback port; the returned
// function closes its listener and connections (connections are then refused).
func serveOn(t *testing.T, s *server, port int) func() {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	hs := s.httpServer()
	go hs.Serve(tls.NewListener(ln, s.tlsConfig()))
	t.Cleanup(func() { hs.Close() })
	return func() { hs.Close() }
}

type startupFixture struct {
	server *server
	caller *caller
	logs   *logBuffer
	port   int
}

// startupCaller makes a client of 127.0.0.1:port, where nothing listens yet,
// and a server that could.
func startupCaller(t *testing.T, budget time.Duration) *startupFixture {
	root := testpki.NewRoot(t, "Test Root CA")
	inter := root.Intermediate(t, "Test Intermediate CA")
	srv := workload(t, root, inter, "go-server", x509.ExtKeyUsageServerAuth)
	cli := workload(t, root, inter, "go-client", x509.ExtKeyUsageClientAuth)
	f := &startupFixture{server: newServer(srv, []string{"spiffe://mesh.internal/go-client"}, "spiffe://mesh.internal/go-server", quiet), logs: &logBuffer{}, port: freePort(t)}
	f.caller = newCaller(cli, "go-server.mesh.internal", f.port, "spiffe://mesh.internal/go-server", budget, report.NewLogger(f.logs, slog.LevelInfo))
	f.caller.clientFor(cli.Current())
	f.caller.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port)))
	}
	return f
}

// run starts the client's loop, a call every 50 ms.
func (f *startupFixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.caller.run(ctx, 50*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// stats is the stats file's content as JSON reads it.
func (f *startupFixture) stats(t *testing.T) (requests map[string]int64, lastError string) {
	data, err := json.Marshal(f.caller.stats(config{}))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Requests  map[string]int64 `json:"requests"`
		LastError string           `json:"lastError"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Requests, doc.LastError
}

func waitUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestServerStartingAfterTheClientIsWaitedFor(t *testing.T) {
	f := startupCaller(t, 20*time.Second)
	f.run(t)
	waitUntil(t, "start-up retries while nothing listens", 5*time.Second, func() bool { return f.caller.startupRetries.Load() >= 2 })
	serveOn(t, f.server, f.port)
	waitUntil(t, "a successful call", 10*time.Second, func() bool { return f.caller.ok.Load() >= 2 })
	req, lastError := f.stats(t)
	if req["failed"] != 0 || req["ok"] < 2 || req["startupRetries"] < 2 || req["retries"] != 0 {
		t.Fatalf("requests %v, want no failed call, ok > 0, startupRetries > 0, no other retries (lastError %q)", req, lastError)
	}
	if n := f.logs.count("server not answering yet; retrying (start-up)"); n != 1 {
		t.Fatalf("%d start-up log lines, want 1", n)
	}
}

func TestRefusedAfterTheFirstSuccessIsAFailedCallAtOnce(t *testing.T) {
	f := startupCaller(t, 20*time.Second)
	stop := serveOn(t, f.server, f.port)
	f.run(t)
	waitUntil(t, "a successful call", 5*time.Second, func() bool { return f.caller.ok.Load() >= 1 })
	stop()
	stopped := time.Now()
	waitUntil(t, "a failed call", 5*time.Second, func() bool { return f.caller.failed.Load() >= 1 })
	if elapsed := time.Since(stopped); elapsed > 1500*time.Millisecond {
		t.Fatalf("the failure came %v after the server stopped", elapsed)
	}
	// A call in flight as the listener closed may have met a reset and
	// retried; the next one meets only refusals: no retry at all.
	retries := f.caller.retries.Load()
	waitUntil(t, "a second failed call", 5*time.Second, func() bool { return f.caller.failed.Load() >= 2 })
	req, lastError := f.stats(t)
	if req["startupRetries"] != 0 || req["retries"] != retries || !strings.Contains(lastError, "connection refused") {
		t.Fatalf("requests %v, lastError %q: want a refused connection, neither retried nor a start-up retry", req, lastError)
	}
}

func TestStartupBudgetSpentIsOneFailedCall(t *testing.T) {
	f := startupCaller(t, time.Second) // retries after 0.2 and 0.4 s; 0.8 s more would overrun it
	f.run(t)
	waitUntil(t, "a failed call", 5*time.Second, func() bool { return f.caller.failed.Load() >= 1 })
	req, lastError := f.stats(t)
	if req["ok"] != 0 || req["startupRetries"] < 2 || !strings.Contains(lastError, "connection refused") {
		t.Fatalf("requests %v, lastError %q: want start-up retries, then the refused connection as the failure", req, lastError)
	}
}

func TestStartupRetryBudgetConfig(t *testing.T) {
	t.Setenv("TARGET_HOST", "go-server.mesh.internal")
	t.Setenv("EXPECTED_SERVER_IDENTITY", "spiffe://mesh.internal/go-server")
	if cfg, err := loadConfig("client"); err != nil || cfg.StartupRetryBudgetMs != 30_000 {
		t.Fatalf("default: %d, %v; want 30000", cfg.StartupRetryBudgetMs, err)
	}
	t.Setenv("STARTUP_RETRY_BUDGET_MS", "0")
	if cfg, err := loadConfig("client"); err != nil || cfg.StartupRetryBudgetMs != 0 {
		t.Fatalf("0: %d, %v", cfg.StartupRetryBudgetMs, err)
	}
	for _, bad := range []string{"-1", "soon", "1.5"} {
		t.Setenv("STARTUP_RETRY_BUDGET_MS", bad)
		if _, err := loadConfig("client"); err == nil || !strings.Contains(err.Error(), "STARTUP_RETRY_BUDGET_MS") {
			t.Fatalf("%q: want a configuration error naming the variable, got %v", bad, err)
		}
	}
}
