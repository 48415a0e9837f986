// Package testpki makes throw-away CAs and leaves for the tests (crypto/x509,
// in memory): no key file is ever committed.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

type Leaf struct {
	Cert     *x509.Certificate
	KeyPEM   []byte
	ChainPEM []byte // leaf, then intermediate
}

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewRoot is a self-signed root CA.
func NewRoot(t testing.TB, name string) *CA {
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &CA{Cert: sign(t, tmpl, tmpl, k.Public(), k), Key: k}
}

// Intermediate is a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, name string) *CA {
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return &CA{Cert: sign(t, tmpl, ca.Cert, k.Public(), ca.Key), Key: k}
}

// Leaf is a workload certificate like step-ca's: CN and SAN DNS
// <name>.mesh.internal, SAN URI spiffe://mesh.internal/<name>, server and
// client auth, valid for `validity` from a minute ago.
func (ca *CA) Leaf(t testing.TB, name string, validity time.Duration) *Leaf {
	k := key(t)
	u, _ := url.Parse("spiffe://mesh.internal/" + name)
	dns := name + ".mesh.internal"
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: dns},
		DNSNames: []string{dns}, URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	c := sign(t, tmpl, ca.Cert, k.Public(), ca.Key)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		Cert:     c,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		ChainPEM: append(PEM(c), PEM(ca.Cert)...),
	}
}

func PEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func Pin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Write replaces a file by rename, as the renewer does.
func Write(t testing.TB, path string, data []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Install writes root.crt, the pin of `pinned`, then key and certificate.
func Install(t testing.TB, dir, pinFile string, root *CA, pinned []*CA, leaf *Leaf) {
	pins := "# test pins\n"
	for _, p := range pinned {
		pins += Pin(p.Cert) + "\n"
	}
	Write(t, pinFile, []byte(pins))
	Write(t, filepath.Join(dir, "root.crt"), PEM(root.Cert))
	Write(t, filepath.Join(dir, "site.key"), leaf.KeyPEM)
	Write(t, filepath.Join(dir, "site.crt"), leaf.ChainPEM)
}
