package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
)

// server answers GET / for callers whose verified SAN URI is allowed.
type server struct {
	holder  *creds.Holder
	allowed map[string]bool
	self    string // our identity, for the response
	log     *slog.Logger

	ok, refused atomic.Int64
	lastError   atomic.Value // string: the last refusal, for the stats file

	configs atomic.Pointer[serverConfig] // the TLS config built for the current credentials
	refusal report.Throttle
	callers sync.Map // allowed identity -> serial last seen (bounded by the allow-list)
}

func newServer(h *creds.Holder, allowed []string, self string, log *slog.Logger) *server {
	s := &server{holder: h, allowed: map[string]bool{}, self: self, log: log, refusal: report.Throttle{N: 20, Window: 10 * time.Second}}
	for _, id := range allowed {
		s.allowed[id] = true
	}
	return s
}

func (s *server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// HTTP/1.1 only: no h2 upgrade path to harden.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(handshakeLog{s}, "", 0),
		// The handshake follows the accept at once: the accept time tells
		// which credentials a keep-alive connection was made with.
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, acceptedAt{}, time.Now())
		},
	}
}

type acceptedAt struct{}

// madeBeforeReload: the connection was handshaked with credentials older than
// the current ones (our certificate, or the roots its client was checked
// against). It is closed after this response, so a client that keeps its
// connection alive meets the rotated certificate at once.
func (s *server) madeBeforeReload(r *http.Request) bool {
	at, ok := r.Context().Value(acceptedAt{}).(time.Time)
	return ok && at.Before(s.holder.Status().LastReloadAt)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// RequireAndVerifyClientCert already refused unverified peers in the handshake.
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		s.refuse(w, http.StatusUnauthorized, "no verified client certificate", nil)
		return
	}
	peer := r.TLS.PeerCertificates[0]
	if s.madeBeforeReload(r) {
		w.Header().Set("Connection", "close")
	}
	// A keep-alive connection can outlive the client certificate it was made with.
	if now := time.Now(); now.After(peer.NotAfter) || now.Before(peer.NotBefore) {
		w.Header().Set("Connection", "close")
		s.refuse(w, http.StatusUnauthorized, fmt.Sprintf("client certificate %s is not valid now", creds.SerialOf(peer)), peer)
		return
	}
	id, ok := s.allowedIdentity(peer)
	if !ok {
		s.refuse(w, http.StatusForbidden, "no SAN URI of the client certificate is in ALLOWED_IDENTITIES", peer)
		return
	}
	if r.URL.Path != "/" {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed"})
		return
	}
	if serial := creds.SerialOf(peer); s.noteCaller(id, serial) {
		s.log.Info("caller certificate", "identity", id, "serial", serial)
	}
	s.ok.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{"server": s.identity(), "peer": id})
}

// allowedIdentity: the identity is the SAN URI (SPIFFE ID) of the verified
// leaf; one listed URI is enough.
func (s *server) allowedIdentity(peer *x509.Certificate) (string, bool) {
	for _, u := range peer.URIs {
		if id := u.String(); s.allowed[id] {
			return id, true
		}
	}
	return "", false
}

func (s *server) noteCaller(id, serial string) bool {
	prev, loaded := s.callers.Swap(id, serial)
	return !loaded || prev.(string) != serial
}

func (s *server) identity() string {
	if s.self != "" {
		return s.self
	}
	if c := s.holder.Current(); c != nil && len(c.Leaf.URIs) > 0 {
		return c.Leaf.URIs[0].String()
	}
	return ""
}

func (s *server) refuse(w http.ResponseWriter, status int, reason string, peer *x509.Certificate) {
	s.refused.Add(1)
	s.lastError.Store(reason)
	var ids []string
	serial := ""
	if peer != nil {
		for _, u := range peer.URIs {
			ids = append(ids, u.String())
		}
		ids = append(ids, peer.DNSNames...)
		serial = creds.SerialOf(peer)
	}
	if ok, dropped := s.refusal.Allow(time.Now()); ok {
		s.log.Warn("request refused", "status", status, "reason", reason, "identities", ids, "clientSerial", serial, "alsoRefusedUnlogged", dropped)
	}
	writeJSON(w, status, map[string]any{"error": http.StatusText(status), "identity": ids, "reason": reason})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func runServer(ctx context.Context, cfg config, base *slog.Logger) error {
	log, stats, holder := newRole(cfg, base, "server", x509.ExtKeyUsageServerAuth)
	s := newServer(holder, cfg.Allowed, cfg.Identity, log)
	if len(cfg.Allowed) == 0 {
		log.Warn("ALLOWED_IDENTITIES is empty: every caller will be refused")
	}
	stats.Snapshot = func() report.Stats { return s.stats(cfg) }

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.ListenPort))
	if err != nil {
		return err
	}
	hs := s.httpServer()
	stopStats := startStats(stats)
	go holder.Run(ctx)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(tls.NewListener(ln, s.tlsConfig())) }()
	log.Info("listening", "port", cfg.ListenPort, "allowed", cfg.Allowed, "certDir", cfg.CertDir, "pinFile", cfg.PinFile)

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(shutdownCtx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = hs.Close() // connections still busy after 5 s: cut them
		}
	}
	stopStats()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *server) stats(cfg config) report.Stats {
	st := s.holder.Status()
	ok, refused := s.ok.Load(), s.refused.Load()
	out := credentialStats(cfg, "server", st, "serving")
	out.Requests = report.Requests{OK: &ok, Refused: &refused}
	out.LastError = st.LastError
	if e, _ := s.lastError.Load().(string); e != "" && out.LastError == "" {
		out.LastError = e
	}
	return out
}
