package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
)

var errWaiting = errors.New("no certificate loaded yet (waiting for enrollment)")

// Refusals of an RPC, as the caller reads them (grpc-status, grpc-message).
const (
	reasonUnlisted   = "no SAN URI of the client certificate is in ALLOWED_IDENTITIES"
	reasonUnverified = "no verified client certificate"
)

type server struct {
	holder  *creds.Holder
	allowed map[string]bool
	self    string
	log     *slog.Logger

	ok, refused atomic.Int64
	lastError   atomic.Value // string
	refusal     report.Throttle
	current     atomic.Pointer[handshakeConfig]
}

// handshakeConfig: the tls.Config built for one credential set.
type handshakeConfig struct {
	creds *creds.Credentials
	tls   *tls.Config
}

func newServer(h *creds.Holder, allowed []string, self string, log *slog.Logger) *server {
	s := &server{holder: h, allowed: map[string]bool{}, self: self, log: log, refusal: report.Throttle{N: 20, Window: 10 * time.Second}}
	for _, id := range allowed {
		s.allowed[id] = true
	}
	return s
}

// tlsConfig: each handshake takes the config of the credentials current at
// that moment (its certificate, and the pinned roots as ClientCAs), so a
// rotation applies to the next connection. TLS 1.3 only (gRPC's clients all
// speak it), ALPN h2 (grpc-go refuses a connection without it).
func (s *server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := s.holder.Current()
			if c == nil {
				return nil, errWaiting
			}
			if hc := s.current.Load(); hc != nil && hc.creds == c {
				return hc.tls, nil
			}
			cfg := &tls.Config{
				MinVersion:             tls.VersionTLS13,
				NextProtos:             []string{"h2"},
				GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c.Certificate, nil },
				ClientAuth:             tls.RequireAndVerifyClientCert,
				ClientCAs:              c.Roots, // the pinned private root(s), never the system store
				SessionTicketsDisabled: true,    // every connection verified against the current roots
			}
			s.current.Store(&handshakeConfig{creds: c, tls: cfg})
			return cfg, nil
		},
	}
}

// countingCreds: gRPC's TLS credentials, with failed handshakes counted and
// logged as refusals (grpc-go itself only logs them at its own level).
type countingCreds struct {
	credentials.TransportCredentials
	s *server
}

func (c countingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.s.handshakeRefused(conn.RemoteAddr().String(), err)
	}
	return out, info, err
}

func (s *server) handshakeRefused(remote string, err error) {
	reason := err.Error()
	if errors.Is(err, net.ErrClosed) || reason == "EOF" || errors.Is(err, errWaiting) {
		s.log.Debug("handshake not completed", "remote", remote, "reason", reason)
		return
	}
	s.note("TLS handshake refused: "+reason, "handshake refused", "remote", remote, "reason", reason)
}

// note counts one refusal and logs it, at most 20 lines in 10 s.
func (s *server) note(lastError, msg string, attrs ...any) {
	s.refused.Add(1)
	s.lastError.Store(lastError)
	if ok, dropped := s.refusal.Allow(time.Now()); ok {
		s.log.Warn(msg, append(attrs, "alsoRefusedUnlogged", dropped)...)
	}
}

// authorize runs before every RPC: the identity is the SAN URI of the leaf
// that the handshake verified, read from this RPC's peer.
func (s *server) authorize(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if _, err := s.caller(ctx); err != nil {
		st, _ := status.FromError(err)
		s.note(st.Message(), "rpc refused", "method", info.FullMethod, "code", st.Code().String(), "reason", st.Message())
		return nil, err
	}
	return next(ctx, req)
}

func (s *server) caller(ctx context.Context) (string, error) {
	p, _ := peer.FromContext(ctx)
	var info credentials.TLSInfo
	if p != nil {
		info, _ = p.AuthInfo.(credentials.TLSInfo)
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", status.Error(codes.Unauthenticated, reasonUnverified)
	}
	leaf := info.State.VerifiedChains[0][0]
	// A connection can outlive the client certificate it was made with.
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return "", status.Errorf(codes.Unauthenticated, "client certificate %s is not valid now", creds.SerialOf(leaf))
	}
	if id, ok := s.allowedURI(leaf); ok {
		return id, nil
	}
	return "", status.Error(codes.PermissionDenied, reasonUnlisted)
}

func (s *server) allowedURI(leaf *x509.Certificate) (string, bool) {
	for _, u := range leaf.URIs {
		if s.allowed[u.String()] {
			return u.String(), true
		}
	}
	return "", false
}

func (s *server) whoami(ctx context.Context) whoamiReply {
	id, _ := s.caller(ctx) // authorize has let it through
	s.ok.Add(1)
	self := s.self
	if c := s.holder.Current(); self == "" && c != nil && len(c.Leaf.URIs) > 0 {
		self = c.Leaf.URIs[0].String()
	}
	return whoamiReply{Server: self, Peer: id, TLS: true}
}

func (s *server) grpcServer() *grpc.Server {
	return grpc.NewServer(
		grpc.Creds(countingCreds{credentials.NewTLS(s.tlsConfig()), s}),
		grpc.UnaryInterceptor(s.authorize),
		grpc.ConnectionTimeout(5*time.Second),
		grpc.MaxRecvMsgSize(16<<10),
		grpc.MaxConcurrentStreams(64),
		// A connection made before a rotation is closed gracefully (GOAWAY,
		// in-flight calls finish) within 40 s, so callers meet the new
		// certificate and roots without waiting for their own renewal.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 30 * time.Second, MaxConnectionAgeGrace: 10 * time.Second}),
	)
}

func runServer(ctx context.Context, cfg settings, base *slog.Logger) error {
	log := base.With("component", "server")
	stats := &report.Writer{Path: cfg.statsFile, Log: log}
	holder := creds.NewHolder(creds.Options{
		Dir: cfg.certDir, PinFile: cfg.pinFile, Usage: x509.ExtKeyUsageServerAuth,
		Logger: base.With("component", "credentials"), OnUpdate: stats.Poke,
	})
	s := newServer(holder, cfg.allowed, cfg.identity, log)
	if len(cfg.allowed) == 0 {
		log.Warn("ALLOWED_IDENTITIES is empty: every caller will be refused")
	}
	stats.Snapshot = s.stats(cfg)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.port))
	if err != nil {
		return err
	}
	gs := s.grpcServer()
	gs.RegisterService(&whoamiService, s)
	stopStats := runStats(stats)
	defer stopStats()
	go holder.Run(ctx)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()
	log.Info("listening", "port", cfg.port, "service", serviceName, "allowed", cfg.allowed, "certDir", cfg.certDir, "pinFile", cfg.pinFile)
	select {
	case err = <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	drained := make(chan struct{})
	go func() { gs.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		gs.Stop() // calls still running after 5 s: cut them
	}
	return nil
}

func (s *server) stats(cfg settings) func() report.Stats {
	return func() report.Stats {
		st := s.holder.Status()
		ok, refused := s.ok.Load(), s.refused.Load()
		out := creds.RoleStats("grpc", "server", cfg.workload, st, "serving")
		out.Requests = report.Requests{OK: &ok, Refused: &refused}
		out.LastError = st.LastError
		if e, _ := s.lastError.Load().(string); out.LastError == "" {
			out.LastError = e
		}
		return out
	}
}

// runStats rewrites the stats file every 2 s (and when poked) until stopped.
func runStats(w *report.Writer) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { w.Run(quit, 2*time.Second); close(done) }()
	return func() { close(quit); <-done }
}
