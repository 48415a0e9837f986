package creds_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/testpki"
)

// The trust-file contract (recipes/README.md): root.crt is refused as a
// whole, with the contract's reason, unless it is a small regular file of
// exact CERTIFICATE blocks that are all pinned; the credentials in use stay,
// and the peers' pool holds the pinned roots only.

type trustVariant struct {
	name    string
	content func() []byte
	symlink bool
	reason  string // the contract's word
}

func relabel(pem []byte, label string) []byte {
	s := strings.Replace(string(pem), "BEGIN CERTIFICATE", "BEGIN "+label, 1)
	return []byte(strings.Replace(s, "END CERTIFICATE", "END "+label, 1))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestTrustFileContract(t *testing.T) {
	var logs bytes.Buffer
	dir := t.TempDir()
	pinFile := filepath.Join(t.TempDir(), "root-fingerprints")
	root := testpki.NewRoot(t, "Test Root CA")
	next := testpki.NewRoot(t, "Next Root CA")
	foreign := testpki.NewRoot(t, "Foreign Root CA")
	leaf := root.Intermediate(t, "Test Intermediate CA").Leaf(t, "go-server", time.Hour)
	// A foreign CA's leaf with the same, allowed identity.
	intruder := foreign.Intermediate(t, "Foreign Intermediate CA").Leaf(t, "go-client", time.Hour)
	testpki.Install(t, dir, pinFile, root, []*testpki.CA{root, next}, leaf)
	holder := creds.NewHolder(creds.Options{
		Dir: dir, PinFile: pinFile, Usage: x509.ExtKeyUsageServerAuth,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	holder.Check(time.Now())
	if holder.Current() == nil {
		t.Fatalf("the pinned set did not load: %s", holder.Status().LastError)
	}
	wantSerial := creds.SerialOf(leaf.Cert)

	pinned, second, stranger := testpki.PEM(root.Cert), testpki.PEM(next.Cert), testpki.PEM(foreign.Cert)
	hostile := []trustVariant{
		{"foreign root appended as TRUSTED CERTIFICATE", func() []byte { return cat(pinned, relabel(stranger, "TRUSTED CERTIFICATE")) }, false, "foreign_block"},
		{"foreign root appended as X509 CERTIFICATE", func() []byte { return cat(pinned, relabel(stranger, "X509 CERTIFICATE")) }, false, "foreign_block"},
		{"foreign root appended under a label with a trailing space", func() []byte {
			return cat(pinned, bytes.Replace(stranger, []byte("-----BEGIN CERTIFICATE-----"), []byte("-----BEGIN CERTIFICATE----- "), 1))
		}, false, "foreign_block"},
		{"PRIVATE KEY block appended", func() []byte { return cat(pinned, leaf.KeyPEM) }, false, "foreign_block"},
		{"X509 CRL block appended", func() []byte { return cat(pinned, relabel(stranger, "X509 CRL")) }, false, "foreign_block"},
		{"foreign plain root before the pinned ones", func() []byte { return cat(stranger, pinned, second) }, false, "unpinned"},
		{"foreign plain root after the pinned ones", func() []byte { return cat(pinned, second, stranger) }, false, "unpinned"},
		{"foreign plain root between two pinned ones", func() []byte { return cat(pinned, stranger, second) }, false, "unpinned"},
		{"the pinned root as DER", func() []byte { return root.Cert.Raw }, false, "not_pem"},
		{"empty file", func() []byte { return nil }, false, "no_certificate"},
		{"10 MB of pinned roots", func() []byte { return bytes.Repeat(pinned, 10_000_000/len(pinned)+1) }, false, "too_large"},
		{"symlink to a valid pinned file", func() []byte { return pinned }, true, "not_regular_file"},
		{"text outside the blocks", func() []byte { return cat([]byte("subject=CN = Test Root CA\n"), pinned) }, false, "stray_text"},
		{"a body character outside base64", func() []byte {
			return bytes.Replace(pinned, []byte("-----\nM"), []byte("-----\n*"), 1)
		}, false, "bad_base64"},
		{"a body that is not whole base64", func() []byte {
			return bytes.Replace(pinned, []byte("-----\nM"), []byte("-----\nMA"), 1)
		}, false, "bad_base64"},
	}
	accepted := []struct {
		name    string
		content []byte
		roots   []*x509.Certificate
	}{
		{"one pinned root", pinned, []*x509.Certificate{root.Cert}},
		{"two pinned roots", cat(pinned, []byte("\n"), second), []*x509.Certificate{root.Cert, next.Cert}},
		{"CRLF line endings", bytes.ReplaceAll(cat(pinned, second), []byte("\n"), []byte("\r\n")), []*x509.Certificate{root.Cert, next.Cert}},
	}

	rootPath := filepath.Join(dir, "root.crt")
	writeRoot := func(t *testing.T, content []byte, symlink bool) {
		t.Helper()
		if !symlink {
			testpki.Write(t, rootPath, content)
			return
		}
		target := filepath.Join(dir, "elsewhere.crt")
		testpki.Write(t, target, content)
		if err := os.Remove(rootPath); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, rootPath); err != nil {
			t.Fatal(err)
		}
	}

	for _, v := range hostile {
		t.Run("refuses "+v.name, func(t *testing.T) {
			failed := holder.Status().FailedReloads
			logs.Reset()
			writeRoot(t, v.content(), v.symlink)
			holder.Check(time.Now())
			st := holder.Status()
			if !st.Refusing || st.FailedReloads != failed+1 {
				t.Fatalf("refusing %v failedReloads %d, want true and %d", st.Refusing, st.FailedReloads, failed+1)
			}
			if reason, _, _ := strings.Cut(st.LastError, ":"); reason != v.reason {
				t.Fatalf("lastError %q, want the reason %s first", st.LastError, v.reason)
			}
			if !strings.Contains(logs.String(), "problem="+v.reason) {
				t.Fatalf("the log line does not name %s: %s", v.reason, logs.String())
			}
			if st.Current == nil || st.Current.Serial != wantSerial {
				t.Fatal("the credentials in use were not kept")
			}
			// The pool in use is still the pinned root only: a foreign CA's leaf does not verify.
			_, err := intruder.Cert.Verify(x509.VerifyOptions{Roots: st.Current.Roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if !errors.As(err, new(x509.UnknownAuthorityError)) {
				t.Fatalf("a foreign leaf against the pool in use: %v, want unknown authority", err)
			}
			writeRoot(t, pinned, false)
			holder.Check(time.Now())
			if holder.Status().Refusing {
				t.Fatal("back to the file in use, still refusing")
			}
		})
	}
	for _, a := range accepted {
		t.Run("accepts "+a.name, func(t *testing.T) {
			failed := holder.Status().FailedReloads
			writeRoot(t, a.content, false)
			holder.Check(time.Now())
			st := holder.Status()
			if st.Refusing || st.FailedReloads != failed || st.Current.Serial != wantSerial {
				t.Fatalf("refusing %v failedReloads %d (was %d): %s", st.Refusing, st.FailedReloads, failed, st.LastError)
			}
			want := x509.NewCertPool()
			for _, r := range a.roots {
				want.AddCert(r)
			}
			if !st.Current.Roots.Equal(want) {
				t.Fatal("the pool in use is not exactly the pinned roots of the file")
			}
		})
	}
}
