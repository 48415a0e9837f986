// mtls-grpc: a gRPC server and client (google.golang.org/grpc) keeping the
// recipe contract (recipes/README.md), on the Go recipe's credential watcher,
// trust-file rules and stats (../internal). `mtls-grpc server` serves the
// hand-written service mtls.reference.Mesh/Whoami; `mtls-grpc client` calls
// it. The health check is the Go recipe's own binary (mtls-health).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mtls-reference/recipes/go/internal/report"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "server" && os.Args[1] != "client") {
		fmt.Fprintln(os.Stderr, "usage: mtls-grpc server|client")
		os.Exit(2)
	}
	role := os.Args[1]
	level := slog.LevelInfo
	if os.Getenv("LOG_LEVEL") == "debug" {
		level = slog.LevelDebug
	}
	base := report.NewLogger(os.Stdout, level)
	log := base.With("component", role)
	cfg, err := readEnv(role, os.Getenv)
	if err != nil {
		log.Error("configuration refused", "error", err.Error())
		os.Exit(2)
	}
	run := map[string]func(context.Context, settings, *slog.Logger) error{"server": runServer, "client": runClient}[role]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err = run(ctx, cfg, base)
	stop()
	if err != nil {
		log.Error("stopped", "error", err.Error())
		os.Exit(1)
	}
	log.Info("stopped")
}

// settings: the contract's environment (recipes/README.md, "Environment").
type settings struct {
	certDir, pinFile, statsFile, workload, identity string
	// server
	port    int
	allowed []string
	// client
	host, expected   string
	interval, budget time.Duration
}

func readEnv(role string, get func(string) string) (settings, error) {
	or := func(name, def string) string {
		if v := get(name); v != "" {
			return v
		}
		return def
	}
	number := func(name, def string, lo, hi int) (int, error) {
		n, err := strconv.Atoi(or(name, def))
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%s must be a whole number in %d…%d, got %q", name, lo, hi, get(name))
		}
		return n, nil
	}
	s := settings{
		certDir: or("CERT_DIR", "/var/run/step"), pinFile: or("ROOT_PIN_FILE", "/var/run/mtls-trust/root-fingerprints"),
		statsFile: or("STATS_FILE", "/tmp/mtls-stats.json"), workload: get("WORKLOAD_NAME"), identity: get("WORKLOAD_IDENTITY"),
	}
	var err error
	if role == "server" {
		s.port, err = number("LISTEN_PORT", "", 1, 65535)
		for _, id := range strings.Split(get("ALLOWED_IDENTITIES"), ",") {
			if id = strings.TrimSpace(id); id == "" {
				continue
			} else if !strings.Contains(id, "://") {
				return s, fmt.Errorf("ALLOWED_IDENTITIES entry %q is not a URI: this recipe checks the client's SAN URI (spiffe://…)", id)
			}
			s.allowed = append(s.allowed, id)
		}
		return s, err
	}
	if s.host = get("TARGET_HOST"); s.host == "" {
		return s, fmt.Errorf("TARGET_HOST is not set")
	}
	if s.port, err = number("TARGET_PORT", "8443", 1, 65535); err != nil {
		return s, err
	}
	if s.expected = get("EXPECTED_SERVER_IDENTITY"); !strings.Contains(s.expected, "://") {
		return s, fmt.Errorf("EXPECTED_SERVER_IDENTITY must be the server's SAN URI (spiffe://…), got %q", s.expected)
	}
	ms, err := number("REQUEST_INTERVAL_MS", "500", 10, 3_600_000)
	if err != nil {
		return s, err
	}
	s.interval = time.Duration(ms) * time.Millisecond
	ms, err = number("STARTUP_RETRY_BUDGET_MS", "30000", 0, 86_400_000)
	s.budget = time.Duration(ms) * time.Millisecond
	return s, err
}
