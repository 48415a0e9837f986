// Package report writes what the contract asks a recipe to say about itself:
// JSON log lines on stdout and the stats file.
package report

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TimeLayout is the contract's timestamp form: UTC, milliseconds, Z.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// NewLogger writes `{"ts","level","msg","component",…}` lines; slog's JSON
// handler writes each record in one call, so lines never interleave.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("ts", a.Value.Time().UTC().Format(TimeLayout))
			case slog.LevelKey:
				return slog.String("level", strings.ToLower(a.Value.String()))
			}
			return a
		},
	}))
}

// Requests counts what a role can see; nil fields are left out.
type Requests struct {
	OK      *int64 `json:"ok,omitempty"`
	Failed  *int64 `json:"failed,omitempty"`
	Refused *int64 `json:"refused,omitempty"`
	Retries *int64 `json:"retries,omitempty"`
	// Client: retries before the first success while the server could not be reached.
	StartupRetries *int64 `json:"startupRetries,omitempty"`
}

// Stats is the contract's stats file.
type Stats struct {
	Technology    string   `json:"technology"`
	Role          string   `json:"role"`
	Workload      string   `json:"workload,omitempty"`
	State         string   `json:"state"` // waiting | serving | calling | failing
	Serial        string   `json:"serial,omitempty"`
	NotAfter      string   `json:"notAfter,omitempty"`
	Reloads       int64    `json:"reloads"`
	FailedReloads int64    `json:"failedReloads"`
	LastReloadAt  string   `json:"lastReloadAt,omitempty"`
	Requests      Requests `json:"requests"`
	LastError     string   `json:"lastError,omitempty"`
	UpdatedAt     string   `json:"updatedAt"`
}

// Writer rewrites the stats file every interval and whenever Poke is called.
type Writer struct {
	Path     string
	Snapshot func() Stats
	Log      *slog.Logger
	poke     chan struct{}
	once     sync.Once
	failed   bool
}

func (w *Writer) init() { w.once.Do(func() { w.poke = make(chan struct{}, 1) }) }

// Poke asks for a write soon (never blocks).
func (w *Writer) Poke() {
	w.init()
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// Run writes until stop is closed, then writes once more.
func (w *Writer) Run(stop <-chan struct{}, interval time.Duration) {
	w.init()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.Write()
		select {
		case <-stop:
			w.Write()
			return
		case <-t.C:
		case <-w.poke:
		}
	}
}

// Write replaces the file atomically: readers see the old or the new one, whole.
func (w *Writer) Write() {
	s := w.Snapshot()
	s.UpdatedAt = time.Now().UTC().Format(TimeLayout)
	data, _ := json.Marshal(s)
	err := WriteAtomic(w.Path, append(data, '\n'))
	if err != nil && !w.failed && w.Log != nil {
		w.Log.Error("cannot write the stats file", "path", w.Path, "error", err.Error())
	}
	w.failed = err != nil
}

func WriteAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Throttle lets through at most n events per window (log floods from
// handshake scans or a down peer stay readable).
type Throttle struct {
	N      int
	Window time.Duration

	mu         sync.Mutex
	start      time.Time
	count      int
	suppressed int
}

// Allow reports whether to log now, and how many were dropped before it.
func (t *Throttle) Allow(now time.Time) (ok bool, dropped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.start) >= t.Window {
		dropped, t.start, t.count, t.suppressed = t.suppressed, now, 0, 0
	}
	if t.count >= t.N {
		t.suppressed++
		return false, 0
	}
	t.count++
	return true, dropped
}
