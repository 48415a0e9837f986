package main

// What the server and the client roles share: how they start (a logger, a
// stats writer, the holder of their credentials) and what their stats say
// about those credentials.

import (
	"crypto/x509"
	"log/slog"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/report"
)

// newRole: the role's logger, its stats writer, and the holder of its
// credentials (checked for this key usage), which pokes the writer on every change.
func newRole(cfg config, base *slog.Logger, component string, usage x509.ExtKeyUsage) (*slog.Logger, *report.Writer, *creds.Holder) {
	log := base.With("component", component)
	stats := &report.Writer{Path: cfg.StatsFile, Log: log}
	holder := creds.NewHolder(creds.Options{
		Dir: cfg.CertDir, PinFile: cfg.PinFile, Usage: usage,
		Logger: base.With("component", "credentials"), OnUpdate: stats.Poke,
	})
	return log, stats, holder
}

// startStats rewrites the stats file every 2 s (and when poked) until the
// returned stop is called, which waits for the last write.
func startStats(stats *report.Writer) (stop func()) {
	stopStats := make(chan struct{})
	statsDone := make(chan struct{})
	go func() { stats.Run(stopStats, 2*time.Second); close(statsDone) }()
	return func() { close(stopStats); <-statsDone }
}

// credentialStats: the stats fields a role fills from its credentials
// (creds.RoleStats, shared with the gRPC binary); the role adds its requests
// and its last error.
func credentialStats(cfg config, role string, st creds.Status, working string) report.Stats {
	return creds.RoleStats("go", role, cfg.Workload, st, working)
}
