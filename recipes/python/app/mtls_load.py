"""One credential set from $CERT_DIR (root.crt, site.crt, site.key), checked
against the root pin and turned into an ssl.SSLContext, or CredentialError.

A set is usable only if:
  - the pin file exists and root.crt keeps the trust-file contract
    (mtls_trust: exact CERTIFICATE blocks only, each pinned by the SHA-256 of
    its DER); OpenSSL is given those DER bytes as its only trust store, never
    root.crt itself;
  - OpenSSL accepts site.crt/site.key as a chain whose key matches its leaf
    (load_cert_chain raises otherwise);
  - a loopback handshake in memory (ssl.MemoryBIO, no socket) between a
    context presenting the new chain and one trusting only the accepted roots
    succeeds: the leaf chains to the root through the bundled intermediate,
    is within its validity period and fits the role (serverAuth/clientAuth),
    checked by the same OpenSSL code that peers will run. The leaf fields
    (serial, notAfter, URI SANs) come from that verified handshake;
  - the three files did not change while they were being read."""

import hashlib
import os
import re
import ssl
import time

from mtls_trust import TrustFileError, parse_trust_file, read_trust_file

FILES = ('root.crt', 'site.crt', 'site.key')
MAX_FILE_BYTES = 1 << 20
HEX64 = re.compile(r'^[0-9a-f]{64}$')


class CredentialError(Exception):
    """problem: waiting (a file or the pin is absent), unreadable,
    pin-malformed, mismatch (key and certificate differ), invalid, changed,
    or a trust-file reason for root.crt (see mtls_trust)."""

    def __init__(self, problem, message):
        super().__init__(message)
        self.problem = problem


class Credentials:
    """One loaded set; never modified after it is built."""

    def __init__(self, context, peer_view, roots):
        self.context = context
        self.serial = normalise_serial(peer_view['serialNumber'])
        self.not_before = ssl.cert_time_to_seconds(peer_view['notBefore'])
        self.not_after = ssl.cert_time_to_seconds(peer_view['notAfter'])
        self.uris = uris_of(peer_view)
        self.roots = roots
        self.loaded_at = time.time()


def normalise_serial(text):
    """Upper-case hex without leading zeros, as the contract wants it."""
    return format(int(text, 16), 'X')


def uris_of(peercert):
    return [value for kind, value in (peercert or {}).get('subjectAltName', ()) if kind == 'URI']


def parse_pins(text, path='the pin file'):
    pins = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split('#', 1)[0].strip().replace(':', '').lower()
        if not line:
            continue
        if not HEX64.match(line):
            raise CredentialError('pin-malformed', f'{path} line {number} is not a SHA-256 fingerprint')
        pins.add(line)
    if not pins:
        raise CredentialError('pin-malformed', f'{path} pins no root')
    return frozenset(pins)


def _read(path, name):
    try:
        if name == 'root.crt':
            return read_trust_file(path, name)
        with open(path, 'rb') as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CredentialError('waiting', f'{name} is absent') from None
    except TrustFileError as e:
        raise CredentialError(e.problem, str(e)) from None
    except OSError as e:
        raise CredentialError('unreadable', f'cannot read {name}: {e.strerror}') from None
    if len(data) > MAX_FILE_BYTES:
        raise CredentialError('invalid', f'{name} is larger than {MAX_FILE_BYTES} bytes')
    return data


def read_files(cert_dir):
    return {name: _read(os.path.join(cert_dir, name), name) for name in FILES}


def _no_password():
    # An encrypted key would otherwise make OpenSSL prompt on a terminal.
    raise CredentialError('invalid', 'site.key is encrypted')


def new_context(role, roots_der, crt_path, key_path):
    """The context the role really uses. Only the accepted roots (their DER,
    concatenated) are trusted: load_default_certs is never called."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if role == 'server' else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED  # PROTOCOL_TLS_CLIENT also keeps check_hostname on
    if role == 'server':
        ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.load_verify_locations(cadata=roots_der)
    ctx.load_cert_chain(crt_path, key_path, password=_no_password)
    return ctx


def _loopback(server_ctx, client_ctx):
    """Handshake two contexts over memory BIOs; returns (server, client) SSLObjects."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    done = set()
    for _ in range(16):
        for side in (client, server):
            if side not in done:
                try:
                    side.do_handshake()
                    done.add(side)
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if len(done) == 2:
            return server, client
    raise CredentialError('invalid', 'the loopback handshake did not complete')


def verify_by_handshake(role, roots_der, crt_path, key_path):
    """Verify the chain the way this role's peers will, and return the leaf
    as the verifying side decoded it (ssl's getpeercert dict)."""
    if role == 'server':
        # Callers verify our leaf as a server certificate.
        presenter = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        presenter.load_cert_chain(crt_path, key_path, password=_no_password)
        verifier = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        verifier.check_hostname = False  # the names are checked by callers; here the chain
        verifier.load_verify_locations(cadata=roots_der)
        _, client = _loopback(presenter, verifier)
        return client.getpeercert()
    # Servers verify our leaf as a client certificate.
    presenter = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    presenter.check_hostname = False
    presenter.verify_mode = ssl.CERT_NONE
    presenter.load_cert_chain(crt_path, key_path, password=_no_password)
    verifier = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    verifier.verify_mode = ssl.CERT_REQUIRED
    verifier.load_verify_locations(cadata=roots_der)
    verifier.load_cert_chain(crt_path, key_path, password=_no_password)  # a server must present one
    server, _ = _loopback(verifier, presenter)
    return server.getpeercert()


def load(role, cert_dir, pin_file):
    """Build and validate one credential set, or raise CredentialError."""
    try:
        with open(pin_file, encoding='utf-8') as f:
            pins = parse_pins(f.read(MAX_FILE_BYTES), pin_file)
    except FileNotFoundError:
        raise CredentialError('waiting', f'the root pin {pin_file} is absent') from None
    except (OSError, UnicodeDecodeError) as e:
        raise CredentialError('unreadable', f'cannot read the root pin {pin_file}: {e}') from None

    before = read_files(cert_dir)
    try:
        ders = parse_trust_file(before['root.crt'], pins, pin_file=pin_file)
    except TrustFileError as e:
        raise CredentialError(e.problem, str(e)) from None
    roots_der = b''.join(ders)
    fingerprints = [hashlib.sha256(der).hexdigest() for der in ders]

    crt_path, key_path = os.path.join(cert_dir, 'site.crt'), os.path.join(cert_dir, 'site.key')
    try:
        context = new_context(role, roots_der, crt_path, key_path)
        leaf = verify_by_handshake(role, roots_der, crt_path, key_path)
    except ssl.SSLCertVerificationError as e:
        raise CredentialError('invalid', f'site.crt does not verify against root.crt: {e.verify_message}') from None
    except ssl.SSLError as e:
        if e.reason == 'KEY_VALUES_MISMATCH':
            raise CredentialError('mismatch', 'site.key does not match the certificate in site.crt') from None
        raise CredentialError('invalid', f'OpenSSL refused the files: {e.reason or e}') from None
    except FileNotFoundError as e:
        raise CredentialError('waiting', f'{os.path.basename(e.filename or "a file")} is absent') from None
    except OSError as e:
        raise CredentialError('unreadable', f'cannot read the credentials: {e.strerror}') from None

    # load_cert_chain reads by path: make sure it read the files we checked.
    if read_files(cert_dir) != before:
        raise CredentialError('changed', 'the files changed while they were being loaded')
    try:
        creds = Credentials(context, leaf, fingerprints)
    except (KeyError, ValueError, TypeError) as e:
        raise CredentialError('invalid', f'the leaf lacks a field: {e}') from None
    if not creds.uris:
        raise CredentialError('invalid', 'the leaf has no URI SAN (the identity this recipe checks)')
    return creds
