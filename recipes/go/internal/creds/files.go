package creds

// Reading the credential directory and the pin file: bounded reads, and a
// refusal that says whether a file is missing (wait for it) or unreadable.

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// maxFileBytes bounds what a garbage file can make us read into memory.
const maxFileBytes = 1 << 20

// Files is one read of the credential directory and the pin file.
type Files struct {
	Root, Cert, Key []byte
	Pins            []byte
}

// ReadFiles reads the three credential files and the pin file.
func ReadFiles(dir, pinFile string) (Files, *Error) {
	var f Files
	var e *Error
	if f.Pins, e = readFile(pinFile, "the root pin file"); e != nil {
		return f, e
	}
	if f.Root, e = readTrustFile(filepath.Join(dir, RootFile), RootFile); e != nil {
		return f, e
	}
	for _, p := range []struct {
		name string
		dst  *[]byte
	}{{CertFile, &f.Cert}, {KeyFile, &f.Key}} {
		if *p.dst, e = readFile(filepath.Join(dir, p.name), p.name); e != nil {
			return f, e
		}
	}
	return f, nil
}

// openError names why a credential file could not be opened: missing (wait
// for it) or unreadable.
func openError(err error, path, name string) *Error {
	if errors.Is(err, os.ErrNotExist) {
		return refuse(Missing, "", "%s does not exist (%s)", name, path)
	}
	return refuse(Unreadable, "", "cannot read %s: %v", name, errors.Unwrap(err))
}

func readFile(path, name string) ([]byte, *Error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, openError(err, path, name)
	}
	defer fh.Close()
	return readAtMost(fh, name, maxFileBytes, refuse(Malformed, "", "%s is larger than %d bytes", name, maxFileBytes))
}

// readAtMost reads r to its end unless it holds more than limit bytes, which
// is refused with tooLarge (one byte past the limit is read to tell).
func readAtMost(r io.Reader, name string, limit int, tooLarge *Error) ([]byte, *Error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, refuse(Unreadable, "", "cannot read %s: %v", name, err)
	}
	if len(data) > limit {
		return nil, tooLarge
	}
	return data, nil
}

// Digest identifies the content of a read: "same files again" versus a change.
func (f Files) Digest() [32]byte {
	h := sha256.New()
	for _, b := range [][]byte{f.Pins, f.Root, f.Cert, f.Key} {
		h.Write(b)
		h.Write([]byte{0})
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}
