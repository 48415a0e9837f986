// mtls-go: an mTLS server and client in Go's standard library, keeping the
// recipe contract (recipes/README.md). One binary: `mtls-go server`,
// `mtls-go client`, `mtls-go health`; invoked as `mtls-health` it is the
// health check.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"mtls-reference/recipes/go/internal/report"
)

func main() {
	cmd := ""
	if filepath.Base(os.Args[0]) == "mtls-health" {
		cmd = "health"
	} else if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	if cmd == "health" {
		os.Exit(health(envOr("STATS_FILE", "/tmp/mtls-stats.json"), envOr("CERT_DIR", "/var/run/step")))
	}
	if cmd != "server" && cmd != "client" {
		fmt.Fprintln(os.Stderr, "usage: mtls-go server|client|health")
		os.Exit(2)
	}

	base := report.NewLogger(os.Stdout, logLevel())
	log := base.With("component", cmd)
	cfg, err := loadConfig(cmd)
	if err != nil {
		log.Error("configuration refused", "error", err.Error())
		os.Exit(2)
	}
	// Docker's init forwards SIGTERM to us; every loop ends on ctx.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cmd == "server" {
		err = runServer(ctx, cfg, base)
	} else {
		err = runClient(ctx, cfg, base)
	}
	if err != nil {
		log.Error("stopped", "error", err.Error())
		os.Exit(1)
	}
	log.Info("stopped")
}

type config struct {
	CertDir, PinFile, StatsFile string
	Workload, Identity          string
	// server
	ListenPort int
	Allowed    []string
	// client
	TargetHost           string
	TargetPort           int
	ExpectedServer       string
	IntervalMs           int
	StartupRetryBudgetMs int
}

func loadConfig(role string) (config, error) {
	c := config{
		CertDir:   envOr("CERT_DIR", "/var/run/step"),
		PinFile:   envOr("ROOT_PIN_FILE", "/var/run/mtls-trust/root-fingerprints"),
		StatsFile: envOr("STATS_FILE", "/tmp/mtls-stats.json"),
		Workload:  os.Getenv("WORKLOAD_NAME"),
		Identity:  os.Getenv("WORKLOAD_IDENTITY"),
	}
	var err error
	if role == "server" {
		if c.ListenPort, err = port("LISTEN_PORT", ""); err != nil {
			return c, err
		}
		for _, id := range strings.Split(os.Getenv("ALLOWED_IDENTITIES"), ",") {
			if id = strings.TrimSpace(id); id != "" {
				if !strings.Contains(id, "://") {
					return c, fmt.Errorf("ALLOWED_IDENTITIES entry %q is not a URI: this recipe checks the client's SAN URI (spiffe://…)", id)
				}
				c.Allowed = append(c.Allowed, id)
			}
		}
		return c, nil
	}
	if c.TargetHost = os.Getenv("TARGET_HOST"); c.TargetHost == "" {
		return c, fmt.Errorf("TARGET_HOST is not set")
	}
	if c.TargetPort, err = port("TARGET_PORT", "8443"); err != nil {
		return c, err
	}
	// No expected identity would mean no identity check: refuse to start.
	if c.ExpectedServer = os.Getenv("EXPECTED_SERVER_IDENTITY"); !strings.Contains(c.ExpectedServer, "://") {
		return c, fmt.Errorf("EXPECTED_SERVER_IDENTITY must be the server's SAN URI (spiffe://…), got %q", c.ExpectedServer)
	}
	c.IntervalMs, err = strconv.Atoi(envOr("REQUEST_INTERVAL_MS", "500"))
	if err != nil || c.IntervalMs < 10 || c.IntervalMs > 3_600_000 {
		return c, fmt.Errorf("REQUEST_INTERVAL_MS must be a number of milliseconds (10…3600000)")
	}
	c.StartupRetryBudgetMs, err = strconv.Atoi(envOr("STARTUP_RETRY_BUDGET_MS", "30000"))
	if err != nil || c.StartupRetryBudgetMs < 0 || c.StartupRetryBudgetMs > 86_400_000 {
		return c, fmt.Errorf("STARTUP_RETRY_BUDGET_MS must be a number of milliseconds (0…86400000), got %q", os.Getenv("STARTUP_RETRY_BUDGET_MS"))
	}
	return c, nil
}

func port(name, def string) (int, error) {
	p, err := strconv.Atoi(envOr(name, def))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s must be a TCP port (1…65535)", name)
	}
	return p, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func logLevel() slog.Level {
	if os.Getenv("LOG_LEVEL") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
