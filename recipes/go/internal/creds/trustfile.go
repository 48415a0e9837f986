package creds

// The trust-file contract (recipes/README.md, "Trust file"): root.crt is
// written by the renewer, so it is accepted only as a regular file of at most
// 64 KiB holding nothing but exact CERTIFICATE PEM blocks of strict base64,
// at least one, each a pinned root's DER. The peers' verification pool is
// built from those certificates alone; any refusal refuses the whole file.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MaxTrustFileBytes: a larger root.crt is refused without reading further.
const MaxTrustFileBytes = 64 << 10

const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
)

func refuseTrust(p Problem, name, format string, args ...any) *Error {
	return refuse(p, "", "%s: %s "+format, append([]any{p, name}, args...)...)
}

// readTrustFile reads root.crt without following a symlink and without
// reading past the limit.
func readTrustFile(path, name string) ([]byte, *Error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, openError(err, path, name)
	}
	if !fi.Mode().IsRegular() {
		return nil, refuseTrust(NotRegularFile, name, "is not a regular file (%s)", fi.Mode().Type())
	}
	// O_NOFOLLOW: a symlink swapped in after the Lstat fails here; O_NONBLOCK: a FIFO never blocks the open.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, refuseTrust(NotRegularFile, name, "is a symbolic link")
	}
	if err != nil {
		return nil, refuse(Unreadable, "", "cannot read %s: %v", name, errors.Unwrap(err))
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, refuseTrust(NotRegularFile, name, "is not a regular file")
	}
	return readAtMost(fh, name, MaxTrustFileBytes, refuseTrust(TooLarge, name, "is larger than %d bytes", MaxTrustFileBytes))
}

// ParseTrustFile checks root.crt's content against the contract and returns
// the accepted certificates, in file order.
func ParseTrustFile(data []byte, pins map[string]bool) ([]*x509.Certificate, *Error) {
	name := RootFile
	if len(data) > MaxTrustFileBytes {
		return nil, refuseTrust(TooLarge, name, "is larger than %d bytes", MaxTrustFileBytes)
	}
	for i, b := range data {
		if b != '\t' && b != '\n' && b != '\r' && (b < 0x20 || b > 0x7e) {
			return nil, refuseTrust(NotPEM, name, "holds bytes that are not PEM text (0x%02x at offset %d)", b, i)
		}
	}
	var ders [][]byte
	var body []string
	inBlock := false
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSuffix(raw, "\r")
		at := "line " + strconv.Itoa(i+1)
		switch {
		case strings.Trim(line, " \t") == "":
			continue
		case !inBlock && line == pemBegin:
			inBlock, body = true, nil
		case inBlock && line == pemEnd:
			der, err := strictBase64(strings.Join(body, ""))
			if err != nil {
				return nil, refuseTrust(BadBase64, name, "%s ends a block whose body is not valid base64", at)
			}
			ders, inBlock = append(ders, der), false
		case strings.Contains(line, "-----BEGIN") || strings.Contains(line, "-----END"):
			// Any other boundary, anywhere on the line: another label, a nested BEGIN, a label with spaces.
			want := pemBegin
			if inBlock {
				want = pemEnd
			}
			return nil, refuseTrust(ForeignBlock, name, "%s is not exactly %s: %s", at, want, quoted(line))
		case !inBlock:
			return nil, refuseTrust(StrayText, name, "%s is text outside a certificate block", at)
		case isBase64Line(line):
			body = append(body, line)
		default:
			return nil, refuseTrust(BadBase64, name, "%s is not base64", at)
		}
	}
	if inBlock {
		return nil, refuseTrust(StrayText, name, "ends inside an unterminated certificate block")
	}
	if len(ders) == 0 {
		return nil, refuseTrust(NoCertificate, name, "holds no certificate block")
	}
	for i, der := range ders {
		sum := sha256.Sum256(der)
		if fp := hex.EncodeToString(sum[:]); !pins[fp] {
			return nil, refuseTrust(Unpinned, name, "block %d (SHA-256 %s) is not a pinned root", i+1, fp)
		}
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, refuseTrust(BadBase64, name, "block %d does not decode to a certificate: %v", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func isBase64Line(line string) bool {
	for _, r := range line {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			return false
		}
	}
	return true
}

// strictBase64 refuses what a lenient decoder would accept: missing padding,
// padding inside the text, non-zero trailing bits, an empty body.
func strictBase64(text string) ([]byte, error) {
	der, err := base64.StdEncoding.Strict().DecodeString(text)
	if err == nil && (len(der) == 0 || base64.StdEncoding.EncodeToString(der) != text) {
		err = errors.New("not canonical base64")
	}
	return der, err
}

// quoted shows a label with its trailing spaces visible, cut short.
func quoted(line string) string {
	if len(line) > 80 {
		line = line[:80] + "…"
	}
	return strconv.Quote(line)
}
