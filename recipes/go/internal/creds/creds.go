// Package creds reads and validates the three files the renewer writes
// (root.crt, site.crt, site.key) and the root pin, and keeps the last good
// set in a holder that TLS callbacks read without locks.
//
// Validation happens BEFORE a set is used: the renewer installs key and
// certificate by two renames, so a reader can catch the new key next to the
// old certificate, and a bad bundle must be refused at reload instead of
// breaking every later handshake.
package creds

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"mtls-reference/recipes/go/internal/report"
)

// Fixed names (the autocert convention): the renewer writes them, we read them.
const (
	RootFile = "root.crt"
	CertFile = "site.crt"
	KeyFile  = "site.key"
)

// Problem names why a set of files was refused (logged and shown in stats).
type Problem string

const (
	Missing     Problem = "missing"
	Unreadable  Problem = "unreadable"
	Malformed   Problem = "malformed"
	KeyMismatch Problem = "key_mismatch"
	NoIdentity  Problem = "no_identity"
	Untrusted   Problem = "untrusted"
	Unpinned    Problem = "unpinned"
	NotYetValid Problem = "not_yet_valid"
	Expired     Problem = "expired"

	// The refusal reasons of the trust-file contract (trustfile.go), the same
	// words in every language; Unpinned above is one of them. A trust-file
	// refusal's message starts with its reason.
	NotRegularFile Problem = "not_regular_file"
	TooLarge       Problem = "too_large"
	NotPEM         Problem = "not_pem"
	ForeignBlock   Problem = "foreign_block"
	StrayText      Problem = "stray_text"
	BadBase64      Problem = "bad_base64"
	NoCertificate  Problem = "no_certificate"
)

// Error is a refusal; Serial is the refused leaf's serial when it parsed.
type Error struct {
	Problem Problem
	Msg     string
	Serial  string
}

func (e *Error) Error() string { return e.Msg }

func refuse(p Problem, serial, format string, args ...any) *Error {
	return &Error{Problem: p, Msg: fmt.Sprintf(format, args...), Serial: serial}
}

// Credentials is a validated set, immutable once built.
type Credentials struct {
	Certificate tls.Certificate // leaf + intermediates and the key, Leaf set
	Leaf        *x509.Certificate
	Roots       *x509.CertPool // what peers are verified against
	Serial      string         // upper-case hex, no leading zeros
	NotBefore   time.Time
	NotAfter    time.Time
	digest      [32]byte
}

// SerialOf prints a serial the way OpenSSL does: upper-case hex, no leading zeros.
func SerialOf(c *x509.Certificate) string {
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// Fingerprint is the SHA-256 of a certificate's DER, lower-case hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ParsePins reads one fingerprint per line; `#` starts a comment. Colons and
// upper case are tolerated (as `openssl x509 -fingerprint` prints them).
func ParsePins(text []byte) (map[string]bool, error) {
	pins := map[string]bool{}
	for i, raw := range strings.Split(string(text), "\n") {
		line := raw
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(line), ":", ""))
		if line == "" {
			continue
		}
		if b, err := hex.DecodeString(line); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("the root pin file line %d is not a SHA-256 fingerprint (64 hex digits)", i+1)
		}
		pins[line] = true
	}
	if len(pins) == 0 {
		return nil, errors.New("the root pin file pins no root")
	}
	return pins, nil
}

// parseCerts decodes every PEM block; any non-certificate block or a BEGIN
// without its END (the signature of a file caught mid-write) is refused.
func parseCerts(data []byte, name string) ([]*x509.Certificate, *Error) {
	begins := bytes.Count(data, []byte("-----BEGIN "))
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, refuse(Malformed, "", "%s block %d is a %s, not a CERTIFICATE", name, len(certs)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, refuse(Malformed, "", "%s block %d is not a valid certificate: %v", name, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) != begins {
		return nil, refuse(Malformed, "", "%s ends in a truncated PEM block", name)
	}
	if len(certs) == 0 {
		return nil, refuse(Malformed, "", "%s holds no PEM certificate", name)
	}
	return certs, nil
}

// Validate accepts a set only if root.crt keeps the trust-file contract
// (pinned CERTIFICATE blocks and nothing else: root.crt is also what peers
// are verified against, so one extra root in any form would let a foreign
// CA's peers in), the key matches the leaf, the leaf has an identity, it is
// valid now, and it chains to those roots for `usage`.
func Validate(f Files, now time.Time, usage x509.ExtKeyUsage) (*Credentials, *Error) {
	pins, err := ParsePins(f.Pins)
	if err != nil {
		return nil, refuse(Malformed, "", "%v", err)
	}
	roots, trustErr := ParseTrustFile(f.Root, pins)
	chain, e := parseCerts(f.Cert, CertFile)
	if trustErr != nil {
		if e == nil {
			trustErr.Serial = SerialOf(chain[0]) // the leaf that came with the refused root.crt
		}
		return nil, trustErr
	}
	if e != nil {
		return nil, e
	}
	leaf := chain[0]
	serial := SerialOf(leaf)

	// The peers' pool holds the accepted certificates, parsed from their DER.
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}

	pair, err := tls.X509KeyPair(f.Cert, f.Key)
	if err != nil {
		// The library's messages name the problem, never key bytes.
		if strings.Contains(err.Error(), "does not match") {
			return nil, refuse(KeyMismatch, serial, "%s does not match the certificate %s in %s", KeyFile, serial, CertFile)
		}
		return nil, refuse(Malformed, serial, "%s is not a usable private key: %v", KeyFile, err)
	}
	pair.Leaf = leaf

	if len(leaf.URIs) == 0 && len(leaf.DNSNames) == 0 {
		return nil, refuse(NoIdentity, serial, "certificate %s has no URI or DNS subject alternative name", serial)
	}
	if now.Before(leaf.NotBefore) {
		return nil, refuse(NotYetValid, serial, "certificate %s is not valid before %s", serial, Timestamp(leaf.NotBefore))
	}
	if now.After(leaf.NotAfter) {
		return nil, refuse(Expired, serial, "certificate %s expired at %s", serial, Timestamp(leaf.NotAfter))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	// The same walk happens in every handshake of our peers; doing it here
	// refuses a bundle that would fail there.
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			return nil, refuse(Expired, serial, "the chain of certificate %s is outside its validity: %v", serial, err)
		}
		return nil, refuse(Untrusted, serial, "certificate %s does not chain to %s: %v", serial, RootFile, err)
	}
	return &Credentials{
		Certificate: pair, Leaf: leaf, Roots: pool, Serial: serial,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, digest: f.Digest(),
	}, nil
}

// Identities lists the leaf's URI and DNS names (for logs).
func (c *Credentials) Identities() []string {
	var ids []string
	for _, u := range c.Leaf.URIs {
		ids = append(ids, u.String())
	}
	return append(ids, c.Leaf.DNSNames...)
}

// Timestamp is the contract's form: UTC, milliseconds, Z.
func Timestamp(t time.Time) string { return t.UTC().Format(report.TimeLayout) }
