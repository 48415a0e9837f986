package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mtls-reference/recipes/go/internal/creds"
)

// runHealth runs the health check on a stats file with the given content
// ("" for none) and returns its exit code and its output.
func runHealth(t *testing.T, stats string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "stats.json")
	if stats != "" {
		if err := os.WriteFile(file, []byte(stats), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	code := health(file, dir)
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	return code, string(out)
}

// TestHealthVocabulary: one line whose first word deployment reads; exit 0 only when ready.
func TestHealthVocabulary(t *testing.T) {
	now := time.Now()
	at := creds.Timestamp
	stats := func(state, notAfter, lastError string) string {
		return `{"technology":"go","role":"server","state":"` + state + `","serial":"4F1A","notAfter":"` + notAfter +
			`","lastError":"` + lastError + `","updatedAt":"` + at(now) + `"}`
	}
	cases := []struct {
		name, stats string
		code        int
		prefix      string
	}{
		{"no stats yet", "", 1, "starting: no stats file "},
		{"before enrollment", stats("waiting", "", ""), 1, "waiting: no certificate yet"},
		{"serving a valid certificate", stats("serving", at(now.Add(time.Hour)), ""), 0, "ready: serving with certificate 4F1A valid until "},
		{"calling with an expired one", stats("calling", at(now.Add(-time.Second)), ""), 1, "unhealthy: calling with certificate 4F1A, which is not valid after "},
		{"credentials refused, none loaded", stats("failing", "", "site.key does not match site.crt"), 1, "unhealthy: failing with certificate \"4F1A\""},
		{"stuck", strings.Replace(stats("serving", at(now.Add(time.Hour)), ""), at(now), at(now.Add(-time.Minute)), 1), 1, "unhealthy: stats not updated since "},
		{"not JSON", "{", 1, "unhealthy: the stats file is not JSON"},
	}
	for _, c := range cases {
		code, out := runHealth(t, c.stats)
		if code != c.code || !strings.HasPrefix(out, c.prefix) || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want exit %d and one line starting %q", c.name, code, out, c.code, c.prefix)
		}
	}
}
