package main

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
	"mtls-reference/recipes/go/internal/testpki"
)

var quiet = report.NewLogger(io.Discard, slog.LevelInfo)

const serverID = "spiffe://mesh.internal/grpc-server"

type mesh struct {
	root, inter *testpki.CA
}

func newMesh(t *testing.T) mesh {
	root := testpki.NewRoot(t, "Test Root CA")
	return mesh{root: root, inter: root.Intermediate(t, "Test Intermediate CA")}
}

// workload: a loaded holder for `name`, and its directory and pin file.
func (m mesh) workload(t *testing.T, name string, usage x509.ExtKeyUsage) (*creds.Holder, string, string) {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pins")
	testpki.Install(t, dir, pin, m.root, []*testpki.CA{m.root}, m.inter.Leaf(t, name, time.Hour))
	h := creds.NewHolder(creds.Options{Dir: dir, PinFile: pin, Usage: usage, Logger: quiet})
	h.Check(time.Now())
	if h.Current() == nil {
		t.Fatalf("%s: credentials did not load", name)
	}
	return h, dir, pin
}

// serve runs the recipe's gRPC server on a loopback port.
func serve(t *testing.T, h *creds.Holder, allowed ...string) (*server, int) {
	s := newServer(h, allowed, serverID, quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := s.grpcServer()
	gs.RegisterService(&whoamiService, s)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return s, ln.Addr().(*net.TCPAddr).Port
}

// client: the recipe's caller, aimed at 127.0.0.1 with the mesh name as SNI and hostname.
func client(t *testing.T, h *creds.Holder, port int) *caller {
	c := &caller{holder: h, target: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), host: "grpc-server.mesh.internal",
		expected: serverID, log: quiet, failLog: report.Throttle{N: 1, Window: time.Second}}
	t.Cleanup(func() {
		if c.conn != nil {
			c.conn.Close()
		}
	})
	return c
}

func (c *caller) once(t *testing.T) (whoamiReply, error) {
	conn, err := c.connection(c.holder.Current())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var r whoamiReply
	err = conn.Invoke(ctx, whoamiMethod, map[string]any{}, &r)
	return r, err
}

func TestAllowedIdentityIsAnsweredAndAnUnlistedOneRefused(t *testing.T) {
	m := newMesh(t)
	srvCreds, _, _ := m.workload(t, "grpc-server", x509.ExtKeyUsageServerAuth)
	s, port := serve(t, srvCreds, "spiffe://mesh.internal/grpc-client")
	allowed, _, _ := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	got, err := client(t, allowed, port).once(t)
	if err != nil || got != (whoamiReply{Server: serverID, Peer: "spiffe://mesh.internal/grpc-client", TLS: true}) {
		t.Fatalf("allowed caller: got %+v, %v", got, err)
	}
	intruder, _, _ := m.workload(t, "intruder", x509.ExtKeyUsageClientAuth)
	_, err = client(t, intruder, port).once(t)
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != reasonUnlisted {
		t.Fatalf("unlisted caller: want PermissionDenied %q, got %v", reasonUnlisted, err)
	}
	if kind(err) != "final" {
		t.Fatalf("a refusal must not be retried, kind %q", kind(err))
	}
	if s.ok.Load() != 1 || s.refused.Load() != 1 {
		t.Fatalf("server counted ok=%d refused=%d, want 1 and 1", s.ok.Load(), s.refused.Load())
	}
}

func TestHandshakeRefusesNoCertificateAndAForeignCA(t *testing.T) {
	m := newMesh(t)
	srvCreds, _, _ := m.workload(t, "grpc-server", x509.ExtKeyUsageServerAuth)
	s, port := serve(t, srvCreds, "spiffe://mesh.internal/grpc-client")
	c, _, _ := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)

	none := client(t, c, port)
	cr := *c.Current()
	cr.Certificate.Certificate = nil // no client certificate to send
	conn, err := none.connection(&cr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = conn.Invoke(ctx, whoamiMethod, map[string]any{}, &whoamiReply{})
	// TLS 1.3: the client's handshake is over before the server's verdict, so
	// the caller sees the alert or a broken pipe; the server says why.
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("no client certificate: want Unavailable, got %v", err)
	}
	waitFor(t, "the refusal counted", func() bool { return s.refused.Load() == 1 })
	if e, _ := s.lastError.Load().(string); !strings.Contains(e, "client didn't provide a certificate") {
		t.Fatalf("no client certificate: server says %q", e)
	}

	rogue := newMesh(t) // the allowed identity, from a CA nobody pinned
	foreign, _, _ := rogue.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	f := client(t, foreign, port)
	fcr := *foreign.Current()
	fcr.Roots = c.Current().Roots // trusts the server, which does not trust it
	conn, err = f.connection(&fcr)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Invoke(ctx, whoamiMethod, map[string]any{}, &whoamiReply{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("foreign CA: want Unavailable, got %v", err)
	}
	waitFor(t, "two refused handshakes counted", func() bool { return s.refused.Load() == 2 })
	if e, _ := s.lastError.Load().(string); !strings.Contains(e, "certificate signed by unknown authority") {
		t.Fatalf("foreign CA: server says %q", e)
	}
}

func TestWrongServerIdentityIsAFinalFailure(t *testing.T) {
	m := newMesh(t)
	other, _, _ := m.workload(t, "go-server", x509.ExtKeyUsageServerAuth)
	_, port := serve(t, other, "spiffe://mesh.internal/grpc-client")
	c, _, _ := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	cl := client(t, c, port)
	cl.host = "go-server.mesh.internal" // the name matches, the SAN URI does not
	_, err := cl.once(t)
	if err == nil || !strings.Contains(err.Error(), "is not the expected "+serverID) || kind(err) != "final" {
		t.Fatalf("want the identity refusal, got %v (kind %s)", err, kind(err))
	}
}

// A renewal on both sides is used without a restart: the client's next call
// uses a new connection with its new certificate, the server presents its new one.
func TestRenewalsArePickedUpWithoutRestart(t *testing.T) {
	m := newMesh(t)
	srvCreds, srvDir, srvPin := m.workload(t, "grpc-server", x509.ExtKeyUsageServerAuth)
	_, port := serve(t, srvCreds, "spiffe://mesh.internal/grpc-client")
	cliCreds, cliDir, cliPin := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	c := client(t, cliCreds, port)
	ctx := context.Background()
	c.call(ctx, cliCreds.Current())
	before := c.seen.Load()
	for _, w := range []struct {
		h        *creds.Holder
		dir, pin string
		name     string
	}{{srvCreds, srvDir, srvPin, "grpc-server"}, {cliCreds, cliDir, cliPin, "grpc-client"}} {
		old := w.h.Current().Serial
		testpki.Install(t, w.dir, w.pin, m.root, []*testpki.CA{m.root}, m.inter.Leaf(t, w.name, time.Hour))
		w.h.Check(time.Now())
		if w.h.Current().Serial == old {
			t.Fatalf("%s: the renewal was not loaded", w.name)
		}
	}
	c.call(ctx, cliCreds.Current()) // new client credentials: a new connection
	if c.ok.Load() != 2 || c.failed.Load() != 0 {
		t.Fatalf("calls ok=%d failed=%d, want 2 and 0", c.ok.Load(), c.failed.Load())
	}
	if after := c.seen.Load(); after == before || after != srvCreds.Current().Serial {
		t.Fatalf("server serial seen %v then %v, want the renewed %s", before, after, srvCreds.Current().Serial)
	}
}

// A hostile root.crt is refused with the contract's reason; the old trust stays in use.
func TestHostileRootKeepsTheOldTrust(t *testing.T) {
	m := newMesh(t)
	srvCreds, srvDir, _ := m.workload(t, "grpc-server", x509.ExtKeyUsageServerAuth)
	_, port := serve(t, srvCreds, "spiffe://mesh.internal/grpc-client")
	testpki.Write(t, filepath.Join(srvDir, creds.RootFile), []byte("-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n"))
	srvCreds.Check(time.Now())
	if st := srvCreds.Status(); !st.Refusing || !strings.Contains(st.LastError, string(creds.ForeignBlock)) {
		t.Fatalf("want a foreign_block refusal, got %+v", st)
	}
	c, _, _ := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	if _, err := client(t, c, port).once(t); err != nil {
		t.Fatalf("the old trust must still serve: %v", err)
	}
}

func TestStartupRetriesUntilTheServerComes(t *testing.T) {
	m := newMesh(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens yet: connection refused
	cliCreds, _, _ := m.workload(t, "grpc-client", x509.ExtKeyUsageClientAuth)
	c := client(t, cliCreds, port)
	c.budget = 10 * time.Second
	go func() {
		// The server comes up once the client has started retrying.
		deadline := time.Now().Add(5 * time.Second)
		for c.startupRetries.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		srvCreds, _, _ := m.workload(t, "grpc-server", x509.ExtKeyUsageServerAuth)
		s := newServer(srvCreds, []string{"spiffe://mesh.internal/grpc-client"}, serverID, quiet)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return
		}
		gs := s.grpcServer()
		gs.RegisterService(&whoamiService, s)
		t.Cleanup(gs.Stop)
		go gs.Serve(l)
	}()
	c.call(context.Background(), cliCreds.Current())
	if c.ok.Load() != 1 || c.failed.Load() != 0 || c.startupRetries.Load() == 0 {
		t.Fatalf("want 1 ok after start-up retries, got ok=%d failed=%d startupRetries=%d (%s)", c.ok.Load(), c.failed.Load(), c.startupRetries.Load(), c.lastError)
	}
}

func TestConfiguration(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if _, err := readEnv("server", env("LISTEN_PORT", "8443", "ALLOWED_IDENTITIES", "grpc-client")); err == nil || !strings.Contains(err.Error(), "is not a URI") {
		t.Fatalf("a DNS name in ALLOWED_IDENTITIES must be refused, got %v", err)
	}
	if _, err := readEnv("client", env("TARGET_HOST", "h", "EXPECTED_SERVER_IDENTITY", "h")); err == nil || !strings.Contains(err.Error(), "SAN URI") {
		t.Fatalf("a client without an expected SAN URI must be refused, got %v", err)
	}
	s, err := readEnv("client", env("TARGET_HOST", "h", "EXPECTED_SERVER_IDENTITY", serverID))
	if err != nil || s.port != 8443 || s.interval != 500*time.Millisecond || s.budget != 30*time.Second {
		t.Fatalf("defaults: %+v %v", s, err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
