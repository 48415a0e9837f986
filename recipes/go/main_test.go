package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
	"mtls-reference/recipes/go/internal/testpki"
)

var quiet = report.NewLogger(io.Discard, slog.LevelInfo)

// workload installs a leaf for `name` in its own directory and loads it.
func workload(t *testing.T, root, inter *testpki.CA, name string, usage x509.ExtKeyUsage) *creds.Holder {
	dir := t.TempDir()
	pin := filepath.Join(dir, "pins")
	testpki.Install(t, dir, pin, root, []*testpki.CA{root}, inter.Leaf(t, name, time.Hour))
	h := creds.NewHolder(creds.Options{Dir: dir, PinFile: pin, Usage: usage})
	h.Check(time.Now())
	if h.Current() == nil {
		t.Fatalf("%s: credentials did not load", name)
	}
	return h
}

// startServer runs the recipe's server on a loopback port.
func startServer(t *testing.T, h *creds.Holder, allowed ...string) (*server, int) {
	s := newServer(h, allowed, "spiffe://mesh.internal/go-server", quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.httpServer()
	go hs.Serve(tls.NewListener(ln, s.tlsConfig()))
	t.Cleanup(func() { hs.Close() })
	return s, ln.Addr().(*net.TCPAddr).Port
}

// callOnce: the recipe's client, but aimed at 127.0.0.1 with the mesh name as SNI/hostname.
func callOnce(t *testing.T, h *creds.Holder, port int, expected string) error {
	c := newCaller(h, "go-server.mesh.internal", port, expected, 0, quiet)
	client := c.clientFor(h.Current())
	c.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	return c.attempt(context.Background(), client)
}

func TestIdentityCheck(t *testing.T) {
	root := testpki.NewRoot(t, "Test Root CA")
	inter := root.Intermediate(t, "Test Intermediate CA")
	srv := workload(t, root, inter, "go-server", x509.ExtKeyUsageServerAuth)
	allowed := workload(t, root, inter, "python-client", x509.ExtKeyUsageClientAuth)
	unlisted := workload(t, root, inter, "intruder", x509.ExtKeyUsageClientAuth)
	s, port := startServer(t, srv, "spiffe://mesh.internal/python-client")

	if err := callOnce(t, allowed, port, "spiffe://mesh.internal/go-server"); err != nil {
		t.Fatalf("allowed caller: %v", err)
	}
	err := callOnce(t, unlisted, port, "spiffe://mesh.internal/go-server")
	var se *statusError
	if !errors.As(err, &se) || se.status != http.StatusForbidden {
		t.Fatalf("unlisted caller: want HTTP 403, got %v", err)
	}
	if s.ok.Load() != 1 || s.refused.Load() != 1 {
		t.Fatalf("ok %d refused %d, want 1 and 1", s.ok.Load(), s.refused.Load())
	}
	// The client checks the server's SAN URI too.
	err = callOnce(t, allowed, port, "spiffe://mesh.internal/someone-else")
	if err == nil || !strings.Contains(err.Error(), "is not the expected spiffe://mesh.internal/someone-else") {
		t.Fatalf("wrong server identity: want a refusal, got %v", err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	root := testpki.NewRoot(t, "Test Root CA")
	inter := root.Intermediate(t, "Test Intermediate CA")
	srv := workload(t, root, inter, "go-server", x509.ExtKeyUsageServerAuth)
	_, port := startServer(t, srv, "spiffe://mesh.internal/python-client")
	dial := func(cert *tls.Certificate) error {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{
			ServerName: "go-server.mesh.internal", RootCAs: srv.Current().Roots,
			// Present the certificate even when the server's CA list does not name its issuer.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if cert == nil {
					return &tls.Certificate{}, nil
				}
				return cert, nil
			},
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.3: the server's verdict on our certificate arrives after the handshake.
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		return err
	}
	if err := dial(nil); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("no client certificate: want a handshake refusal, got %v", err)
	}
	rogue := testpki.NewRoot(t, "Rogue Root CA").Leaf(t, "python-client", time.Hour)
	pair, err := tls.X509KeyPair(rogue.ChainPEM, rogue.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(&pair); err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("foreign CA: want a handshake refusal, got %v", err)
	}
}

func TestRotationReachesKeepAliveClients(t *testing.T) {
	root := testpki.NewRoot(t, "Test Root CA")
	inter := root.Intermediate(t, "Test Intermediate CA")
	dir := t.TempDir()
	pin := filepath.Join(dir, "pins")
	testpki.Install(t, dir, pin, root, []*testpki.CA{root}, inter.Leaf(t, "go-server", time.Hour))
	srv := creds.NewHolder(creds.Options{Dir: dir, PinFile: pin, Usage: x509.ExtKeyUsageServerAuth})
	srv.Check(time.Now())
	cli := workload(t, root, inter, "go-client", x509.ExtKeyUsageClientAuth)
	_, port := startServer(t, srv, "spiffe://mesh.internal/go-client")

	c := newCaller(cli, "go-server.mesh.internal", port, "spiffe://mesh.internal/go-server", 0, quiet)
	client := c.clientFor(cli.Current())
	c.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	served := func() string {
		t.Helper()
		if err := c.attempt(context.Background(), client); err != nil {
			t.Fatal(err)
		}
		s, _ := c.serverSerial.Load().(string)
		return s
	}
	before := served()
	time.Sleep(10 * time.Millisecond) // the reload must come after this connection's accept
	next := inter.Leaf(t, "go-server", time.Hour)
	testpki.Write(t, filepath.Join(dir, "site.key"), next.KeyPEM)
	testpki.Write(t, filepath.Join(dir, "site.crt"), next.ChainPEM)
	srv.Check(time.Now())
	served() // answered on the old connection, which the server then closes
	if after := served(); after != creds.SerialOf(next.Cert) || after == before {
		t.Fatalf("served serial %s after the rotation, want %s (before: %s)", after, creds.SerialOf(next.Cert), before)
	}
}
