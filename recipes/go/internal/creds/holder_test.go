package creds_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mtls-reference/recipes/go/internal/creds"
	"mtls-reference/recipes/go/internal/testpki"
)

type fixture struct {
	dir, pinFile string
	root, inter  *testpki.CA
	holder       *creds.Holder
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, pinFile: filepath.Join(t.TempDir(), "root-fingerprints")}
	f.root = testpki.NewRoot(t, "Test Root CA")
	f.inter = f.root.Intermediate(t, "Test Intermediate CA")
	f.holder = creds.NewHolder(creds.Options{Dir: dir, PinFile: f.pinFile, Usage: x509.ExtKeyUsageServerAuth, SwapGrace: time.Second})
	return f
}

// setupLoaded: a fixture whose holder has loaded a fresh leaf, returned.
func setupLoaded(t *testing.T) (*fixture, *testpki.Leaf) {
	t.Helper()
	f := setup(t)
	leaf := f.inter.Leaf(t, "go-server", time.Hour)
	f.install(t, leaf)
	f.holder.Check(time.Now())
	return f, leaf
}

func (f *fixture) install(t *testing.T, leaf *testpki.Leaf) {
	testpki.Install(t, f.dir, f.pinFile, f.root, []*testpki.CA{f.root}, leaf)
}

func (f *fixture) serial(t *testing.T) string {
	t.Helper()
	c := f.holder.Current()
	if c == nil {
		t.Fatal("no credentials loaded")
	}
	return c.Serial
}

func TestWaitsForFilesAndPin(t *testing.T) {
	f := setup(t)
	f.holder.Check(time.Now())
	if f.holder.Current() != nil || f.holder.Status().Refusing {
		t.Fatal("empty directory must be waiting, not loaded or refusing")
	}
	leaf := f.inter.Leaf(t, "go-server", time.Hour)
	f.install(t, leaf)
	os.Remove(f.pinFile)
	f.holder.Check(time.Now())
	if f.holder.Current() != nil || f.holder.Status().Refusing {
		t.Fatal("absent pin file must mean waiting")
	}
}

func TestReloadPicksUpNewSerial(t *testing.T) {
	f, first := setupLoaded(t)
	if got, want := f.serial(t), creds.SerialOf(first.Cert); got != want {
		t.Fatalf("serial %s, want %s", got, want)
	}
	second := f.inter.Leaf(t, "go-server", time.Hour)
	testpki.Write(t, filepath.Join(f.dir, "site.key"), second.KeyPEM)
	testpki.Write(t, filepath.Join(f.dir, "site.crt"), second.ChainPEM)
	f.holder.Check(time.Now())
	if got, want := f.serial(t), creds.SerialOf(second.Cert); got != want {
		t.Fatalf("after rotation serial %s, want %s", got, want)
	}
	st := f.holder.Status()
	if st.Reloads != 1 || st.FailedReloads != 0 {
		t.Fatalf("reloads %d failed %d, want 1 and 0", st.Reloads, st.FailedReloads)
	}
}

func TestPinRefusalKeepsOldCredentials(t *testing.T) {
	f, good := setupLoaded(t)

	// A foreign CA writes its root and a leaf it signed; the pin still names ours.
	rogue := testpki.NewRoot(t, "Rogue Root CA")
	bad := rogue.Leaf(t, "go-server", time.Hour)
	testpki.Install(t, f.dir, f.pinFile, rogue, []*testpki.CA{f.root}, bad)
	f.holder.Check(time.Now())

	if got, want := f.serial(t), creds.SerialOf(good.Cert); got != want {
		t.Fatalf("serial %s after a pin refusal, want the old %s", got, want)
	}
	st := f.holder.Status()
	if st.FailedReloads != 1 || !st.Refusing {
		t.Fatalf("failedReloads %d refusing %v, want 1 and true", st.FailedReloads, st.Refusing)
	}
	// The same refused content is not counted again.
	f.holder.Check(time.Now())
	if f.holder.Status().FailedReloads != 1 {
		t.Fatal("a refusal of the same files was counted twice")
	}
}

func TestKeyMismatchKeepsOldCredentialsThenLoads(t *testing.T) {
	f, old := setupLoaded(t)

	// The renewer's swap window: new key, old certificate.
	next := f.inter.Leaf(t, "go-server", time.Hour)
	testpki.Write(t, filepath.Join(f.dir, "site.key"), next.KeyPEM)
	now := time.Now()
	if retry := f.holder.Check(now); !retry {
		t.Fatal("a key/certificate mismatch must ask for a retry")
	}
	if f.serial(t) != creds.SerialOf(old.Cert) || f.holder.Status().FailedReloads != 0 {
		t.Fatal("inside the swap window the old credentials stay and nothing is counted")
	}
	// Still mismatched after the grace period: a counted refusal, old set kept.
	f.holder.Check(now.Add(2 * time.Second))
	if f.serial(t) != creds.SerialOf(old.Cert) || f.holder.Status().FailedReloads != 1 {
		t.Fatalf("after the grace period: serial %s failed %d", f.serial(t), f.holder.Status().FailedReloads)
	}
	// The certificate arrives: the new pair loads.
	testpki.Write(t, filepath.Join(f.dir, "site.crt"), next.ChainPEM)
	f.holder.Check(time.Now())
	if f.serial(t) != creds.SerialOf(next.Cert) || f.holder.Status().Refusing {
		t.Fatal("the completed pair did not load")
	}
}

func TestGarbageAndExpiryRefused(t *testing.T) {
	f, good := setupLoaded(t)
	cases := map[string]func(){
		"garbage cert": func() {
			testpki.Write(t, filepath.Join(f.dir, "site.crt"), []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"))
		},
		"garbage key":  func() { testpki.Write(t, filepath.Join(f.dir, "site.key"), []byte("\x00\x01junk")) },
		"garbage root": func() { testpki.Write(t, filepath.Join(f.dir, "root.crt"), []byte("hello")) },
		"garbage pins": func() { testpki.Write(t, f.pinFile, []byte("not-a-fingerprint\n")) },
		"expired leaf": func() {
			l := f.inter.Leaf(t, "go-server", -time.Second)
			testpki.Write(t, filepath.Join(f.dir, "site.key"), l.KeyPEM)
			testpki.Write(t, filepath.Join(f.dir, "site.crt"), l.ChainPEM)
		},
	}
	for name, breakIt := range cases {
		f.install(t, good)
		f.holder.Check(time.Now())
		breakIt()
		f.holder.Check(time.Now())
		f.holder.Check(time.Now().Add(5 * time.Second)) // past the swap grace
		if got := f.serial(t); got != creds.SerialOf(good.Cert) {
			t.Fatalf("%s: serial %s, want the old one", name, got)
		}
		if !f.holder.Status().Refusing {
			t.Fatalf("%s: not refused", name)
		}
	}
}
