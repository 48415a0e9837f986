"""The trust-file contract (recipes/README.md, "Trust file").

root.crt is written by the renewer, so it is never handed to OpenSSL as it
is: OpenSSL also loads `TRUSTED CERTIFICATE` and `X509 CERTIFICATE` blocks
that a check over `CERTIFICATE` blocks alone never saw. It is accepted only
as a regular file of at most 64 KiB holding nothing but exact CERTIFICATE
blocks of strict base64, at least one, each a pinned root's DER; the TLS
library then gets those DER bytes (cadata), never the file. A refusal
refuses the whole file and names one of the contract's reasons, the same
words in every language; its message starts with the reason."""

import base64
import binascii
import errno
import hashlib
import os
import re
import stat

MAX_BYTES = 64 * 1024
BEGIN, END = '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----'
NOT_PEM_TEXT = re.compile(rb'[^\t\n\r\x20-\x7e]')
BASE64_LINE = re.compile(r'[A-Za-z0-9+/=]+')
BLANK = re.compile(r'[ \t]*')
BOUNDARY = re.compile(r'-----(BEGIN|END)')


class TrustFileError(Exception):
    """problem: not_regular_file, too_large, not_pem, foreign_block,
    stray_text, bad_base64, no_certificate or unpinned."""

    def __init__(self, problem, message):
        super().__init__(f'{problem}: {message}')
        self.problem = problem


def read_trust_file(path, name='root.crt'):
    """The file's bytes, without following a symlink or reading past the
    limit. FileNotFoundError is left to the caller (nothing to trust yet)."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise TrustFileError('not_regular_file', f'{name} is not a regular file')
    # O_NOFOLLOW: a symlink swapped in after the lstat fails here; O_NONBLOCK: a FIFO never blocks the open.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise TrustFileError('not_regular_file', f'{name} is a symbolic link') from None
        raise
    with os.fdopen(fd, 'rb') as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise TrustFileError('not_regular_file', f'{name} is not a regular file')
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TrustFileError('too_large', f'{name} is larger than {MAX_BYTES} bytes')
    return data


def parse_trust_file(data, pins, name='root.crt', pin_file='the pin file'):
    """The accepted certificates' DER, in file order, or TrustFileError."""
    if len(data) > MAX_BYTES:
        raise TrustFileError('too_large', f'{name} is larger than {MAX_BYTES} bytes')
    binary = NOT_PEM_TEXT.search(data)
    if binary:
        raise TrustFileError('not_pem', f'{name} holds bytes that are not PEM text '
                                        f'(0x{binary.group()[0]:02x} at offset {binary.start()})')
    ders, body = [], None
    for number, raw in enumerate(data.decode('ascii').split('\n'), 1):
        line = raw[:-1] if raw.endswith('\r') else raw
        at = f'{name} line {number}'
        if BLANK.fullmatch(line):
            continue
        if body is None and line == BEGIN:
            body = []
        elif body is not None and line == END:
            ders.append(_strict_base64(''.join(body), f'{at} ends a block whose body is not valid base64'))
            body = None
        elif BOUNDARY.search(line):
            # Any other boundary, anywhere on the line: another label, a nested BEGIN, a label with spaces.
            raise TrustFileError('foreign_block', f'{at} is not exactly {BEGIN if body is None else END}: {_shown(line)}')
        elif body is None:
            raise TrustFileError('stray_text', f'{at} is text outside a certificate block')
        elif BASE64_LINE.fullmatch(line):
            body.append(line)
        else:
            raise TrustFileError('bad_base64', f'{at} is not base64')
    if body is not None:
        raise TrustFileError('stray_text', f'{name} ends inside an unterminated certificate block')
    if not ders:
        raise TrustFileError('no_certificate', f'{name} holds no certificate block')
    for index, der in enumerate(ders, 1):
        fp = hashlib.sha256(der).hexdigest()
        if fp not in pins:
            raise TrustFileError('unpinned', f'{name} block {index} holds a root that {pin_file} does not pin: {fp}')
    return ders


def _strict_base64(text, message):
    """b64decode(validate=True) still accepts non-zero trailing bits: the
    re-encoding must give back the same text."""
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        der = b''
    if not der or base64.b64encode(der).decode('ascii') != text:
        raise TrustFileError('bad_base64', message)
    return der


def _shown(line):
    """The offending label, trailing spaces visible, cut short."""
    return repr(line if len(line) <= 80 else line[:80] + '…')
