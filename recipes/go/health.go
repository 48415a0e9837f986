package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mtls-reference/recipes/go/internal/creds"
)

// staleAfter: the process rewrites its stats every 2 s; much older means it is stuck.
const staleAfter = 20 * time.Second

// health prints one line in the stack's vocabulary and returns the exit
// code: `ready:` (0) while serving/calling with a valid certificate;
// `waiting:` (1) for the first certificate, which enrollment writes after
// deploy (deployment counts that as up); `starting:` (1) before the process
// has written its stats; `unhealthy:` (1) with the reason otherwise. It reads
// the stats file the process keeps and site.crt: nothing that can block.
func health(statsFile, certDir string) int {
	say := func(code int, format string, args ...any) int {
		// One line, whatever the stats file holds.
		fmt.Println(strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " "))
		return code
	}
	data, err := readSmall(statsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return say(1, "starting: no stats file %s yet", statsFile)
	}
	if err != nil {
		return say(1, "unhealthy: cannot read the stats file (%v)", err)
	}
	var s struct {
		State, Serial, NotAfter, UpdatedAt, LastError string
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return say(1, "unhealthy: the stats file is not JSON (%v)", err)
	}
	now := time.Now()
	updated, err := time.Parse(time.RFC3339Nano, s.UpdatedAt)
	if err != nil || now.Sub(updated) > staleAfter {
		return say(1, "unhealthy: stats not updated since %q: the process is stuck", s.UpdatedAt)
	}
	disk := onDisk(certDir)
	switch s.State {
	case "waiting":
		return say(1, "waiting: no certificate yet: the root pin and the first certificate come after deploy (on disk: %s)", disk)
	case "serving", "calling":
		notAfter, err := time.Parse(time.RFC3339Nano, s.NotAfter)
		if err != nil || now.After(notAfter) {
			return say(1, "unhealthy: %s with certificate %s, which is not valid after %s (on disk: %s)", s.State, s.Serial, s.NotAfter, disk)
		}
		return say(0, "ready: %s with certificate %s valid until %s (on disk: %s)", s.State, s.Serial, s.NotAfter, disk)
	}
	return say(1, "unhealthy: %s with certificate %q (on disk: %s): %s", s.State, s.Serial, disk, s.LastError)
}

// onDisk describes the leaf in site.crt, so a renewal the process did not
// pick up shows next to the serial in use.
func onDisk(certDir string) string {
	data, err := readSmall(filepath.Join(certDir, creds.CertFile))
	if err != nil {
		return "no " + creds.CertFile
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return creds.CertFile + " holds no PEM block"
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return creds.CertFile + " is not a certificate"
	}
	return fmt.Sprintf("%s until %s", creds.SerialOf(leaf), creds.Timestamp(leaf.NotAfter))
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
