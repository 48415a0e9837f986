package creds

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Holder; zero durations take the defaults.
type Options struct {
	Dir     string // holds root.crt, site.crt, site.key
	PinFile string // fingerprints of the roots we may trust (read-only for the renewer)
	Usage   x509.ExtKeyUsage
	Logger  *slog.Logger
	// PollInterval: how often the files are stat()ed (default 250 ms). A change
	// is read once the files have been quiet for one more poll (the debounce:
	// a renewal is two renames).
	PollInterval time.Duration
	// RecheckInterval: a full read even without a visible change (default 5 s):
	// catches a not-yet-valid certificate becoming valid and writers that keep mtime.
	RecheckInterval time.Duration
	// SwapGrace: how long a key that does not match the certificate (or a
	// half-written file) is taken for a renewal in progress and retried every
	// poll before it counts as a refusal (default 3 s).
	SwapGrace time.Duration
	// OnUpdate runs after every load or refusal (from the polling goroutine).
	OnUpdate func()
}

// Status is what the stats file reports about the credentials.
type Status struct {
	Current       *Credentials
	Reloads       int64 // rotations picked up (the first load is not counted)
	FailedReloads int64
	LastReloadAt  time.Time
	LastError     string
	// Refusing: the files on disk are refused right now (the current
	// credentials, if any, are the previous good ones).
	Refusing bool
}

// Holder keeps the last good credentials; Current is safe from any goroutine.
type Holder struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[Credentials]

	mu     sync.Mutex
	status Status

	// Below: used by the polling goroutine only.
	rejected      [32]byte // content last refused, so it is not reported again
	haveRejected  bool
	timeDependent bool // the last refusal may pass later without a change (not yet valid)
	pending       [32]byte
	havePending   bool
	pendingSince  time.Time
	waitingFor    string
	sig           string
	dirty         bool
	retry         bool
	lastCheck     time.Time
}

func NewHolder(o Options) *Holder {
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.RecheckInterval <= 0 {
		o.RecheckInterval = 5 * time.Second
	}
	if o.SwapGrace <= 0 {
		o.SwapGrace = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(nopWriter{}, nil))
	}
	return &Holder{opts: o, log: o.Logger}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Current is the credential set in use, nil while waiting for the first one.
func (h *Holder) Current() *Credentials { return h.cur.Load() }

func (h *Holder) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.status
	s.Current = h.cur.Load()
	return s
}

// Run checks now, then polls until ctx ends.
func (h *Holder) Run(ctx context.Context) {
	h.sig = h.signature()
	h.tick(time.Now(), true)
	t := time.NewTicker(h.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sig := h.signature()
			if sig != h.sig {
				h.sig, h.dirty = sig, true
				continue // wait for one quiet poll
			}
			h.tick(now, h.dirty || h.retry || now.Sub(h.lastCheck) >= h.opts.RecheckInterval)
		}
	}
}

func (h *Holder) tick(now time.Time, due bool) {
	if !due {
		return
	}
	h.dirty = false
	h.lastCheck = now
	h.retry = h.Check(now)
}

// signature changes when any of the four files is replaced or rewritten.
func (h *Holder) signature() string {
	s := ""
	for _, p := range []string{h.opts.PinFile, filepath.Join(h.opts.Dir, RootFile), filepath.Join(h.opts.Dir, CertFile), filepath.Join(h.opts.Dir, KeyFile)} {
		fi, err := os.Stat(p)
		if err != nil {
			s += "-|"
			continue
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		s += fmt.Sprintf("%d:%d:%d|", fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	return s
}

// Check reads the files once and loads them if they are new and valid. It
// returns true when it wants to look again at the next poll (a renewal
// caught half-way). It never panics the process: a bug is logged.
func (h *Holder) Check(now time.Time) (retry bool) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("credential check failed unexpectedly", "error", fmt.Sprint(r))
			retry = false
		}
	}()
	cur := h.cur.Load()
	files, e := ReadFiles(h.opts.Dir, h.opts.PinFile)
	if e != nil {
		if cur == nil && e.Problem == Missing {
			h.mu.Lock()
			h.status.Refusing = false
			h.mu.Unlock()
			h.waiting(e.Msg)
			return false
		}
		h.refuse(e, nil)
		return false
	}
	digest := files.Digest()
	if cur != nil && cur.digest == digest {
		h.havePending = false
		h.mu.Lock()
		h.status.Refusing = false // back to the files in use
		h.mu.Unlock()
		return false
	}
	if h.haveRejected && h.rejected == digest && !h.timeDependent {
		return false
	}
	c, e := Validate(files, now, h.opts.Usage)
	if e != nil {
		// The renewer writes the key first, then the certificate; a writer
		// in place can leave a half-written file. Both settle within moments:
		// retry at every poll, keep the current set, and count a refusal only
		// if the same content is still wrong after the grace period.
		if e.Problem == KeyMismatch || e.Problem == Malformed {
			if !h.havePending || h.pending != digest {
				h.pending, h.havePending, h.pendingSince = digest, true, now
				h.log.Debug("files changing; retrying", "problem", string(e.Problem), "reason", e.Msg)
				return true
			}
			if now.Sub(h.pendingSince) < h.opts.SwapGrace {
				return true
			}
		}
		h.havePending = false
		h.refuse(e, &digest)
		return false
	}
	h.havePending, h.haveRejected = false, false
	h.accept(c, cur)
	return false
}

func (h *Holder) waiting(reason string) {
	if reason != h.waitingFor {
		h.waitingFor = reason
		h.log.Info("waiting for certificate", "reason", reason)
	}
}

func (h *Holder) accept(c, prev *Credentials) {
	h.cur.Store(c)
	h.mu.Lock()
	if prev != nil {
		h.status.Reloads++
	}
	// The wall clock AFTER the store: a connection accepted before this
	// instant may have been handshaked with the previous set (see the server).
	h.status.LastReloadAt = time.Now()
	h.status.Refusing = false
	h.mu.Unlock()
	fields := []any{"serial", c.Serial, "notBefore", Timestamp(c.NotBefore), "notAfter", Timestamp(c.NotAfter), "identities", c.Identities()}
	if prev != nil {
		fields = append(fields, "previousSerial", prev.Serial)
	}
	h.log.Info("reloaded", fields...)
	h.updated()
}

// refuse keeps the current credentials and says why, once per content.
func (h *Holder) refuse(e *Error, digest *[32]byte) {
	if digest != nil {
		repeat := h.haveRejected && h.rejected == *digest
		h.rejected, h.haveRejected, h.timeDependent = *digest, true, e.Problem == NotYetValid
		if repeat {
			return // a not-yet-valid set checked again: already reported
		}
	} else {
		// An unreadable or missing file has no content to remember: report
		// each distinct message once.
		h.mu.Lock()
		same := h.status.Refusing && h.status.LastError == e.Msg
		h.mu.Unlock()
		if same {
			return
		}
	}
	cur := h.cur.Load()
	h.mu.Lock()
	h.status.FailedReloads++
	h.status.LastError = e.Msg
	h.status.Refusing = true
	h.mu.Unlock()
	fields := []any{"problem", string(e.Problem), "reason", e.Msg}
	if e.Serial != "" {
		fields = append(fields, "refusedSerial", e.Serial)
	}
	msg := "credentials refused"
	if cur != nil {
		msg = "credentials refused; keeping the current ones"
		fields = append(fields, "currentSerial", cur.Serial)
	}
	h.log.Error(msg, fields...)
	h.updated()
}

func (h *Holder) updated() {
	if h.opts.OnUpdate != nil {
		h.opts.OnUpdate()
	}
}
