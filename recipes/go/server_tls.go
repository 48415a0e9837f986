package main

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"mtls-reference/recipes/go/internal/creds"
)

// tls12Suites: for TLS 1.2, forward-secret AEAD suites only (TLS 1.3 suites
// are not configurable and all fine). Explicit, so the go.mod language
// version's GODEBUG defaults cannot widen the list.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
}

var errWaiting = errors.New("no certificate loaded yet (waiting for enrollment)")

type serverConfig struct {
	creds *creds.Credentials
	tls   *tls.Config
}

// tlsConfig is handed to the listener: every handshake asks for the config of
// the credentials current at that moment, so a rotated certificate and a
// rotated root.crt (ClientCAs) apply to the next handshake.
func (s *server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := s.holder.Current()
			if c == nil {
				return nil, errWaiting
			}
			if sc := s.configs.Load(); sc != nil && sc.creds == c {
				return sc.tls, nil
			}
			cfg := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				CipherSuites: tls12Suites,
				NextProtos:   []string{"http/1.1"},
				Certificates: []tls.Certificate{c.Certificate},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    c.Roots, // the pinned private root(s) only, never the system store
				// Every connection gets a full handshake against the current
				// roots: a resumed session would skip that check.
				SessionTicketsDisabled: true,
			}
			s.configs.Store(&serverConfig{creds: c, tls: cfg})
			return cfg, nil
		},
	}
}

// handshakeLog receives net/http's own error lines. A failed TLS handshake
// (no client certificate, an unknown CA, a bad certificate) is a refusal:
// counted and logged as JSON. A peer that just went away is not.
type handshakeLog struct{ s *server }

func (h handshakeLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	const prefix = "http: TLS handshake error from "
	if rest, ok := strings.CutPrefix(line, prefix); ok {
		remote, reason, _ := strings.Cut(rest, ": ")
		if reason == "EOF" || strings.Contains(reason, "connection reset") || strings.Contains(reason, errWaiting.Error()) {
			h.s.log.Debug("handshake not completed", "remote", remote, "reason", reason)
			return len(p), nil
		}
		h.s.refused.Add(1)
		h.s.lastError.Store("TLS handshake refused: " + reason)
		if ok, dropped := h.s.refusal.Allow(time.Now()); ok {
			h.s.log.Warn("handshake refused", "remote", remote, "reason", reason, "alsoRefusedUnlogged", dropped)
		}
		return len(p), nil
	}
	h.s.log.Warn("http server", "error", line)
	return len(p), nil
}
