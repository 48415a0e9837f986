"""One mTLS connection's HTTP side: the requests on a socket whose handshake
MtlsServer has done. GET / only, a bounded request head, a deadline per
request; the caller is authorised by the URI SAN of its verified certificate
against the server's ALLOWED_IDENTITIES (403 otherwise)."""

import http.client
import json
import ssl
import time
from http.server import BaseHTTPRequestHandler

from mtls_load import normalise_serial, uris_of

REQUEST_TIMEOUT_S = 10      # from waiting for a request to its response (keep-alive idle included)
MAX_CONNECTION_AGE_S = 60   # keep-alive callers re-handshake onto a rotated certificate
MAX_HEAD_BYTES = 8192       # request line and headers together
MAX_HEADERS = 64


class HeadTooLarge(http.client.LineTooLong):
    """Raised inside parse_headers, which answers LineTooLong with 431."""


class HeadLimit:
    """Wraps the request handler's rfile so the request line and headers of
    one request cannot exceed MAX_HEAD_BYTES (the stdlib allows 100 x 64 KiB)."""

    def __init__(self, raw):
        self.raw, self.used = raw, 0

    def readline(self, size=-1):
        room = MAX_HEAD_BYTES - self.used
        if room <= 0:
            raise HeadTooLarge('request head')
        line = self.raw.readline(room + 1 if size < 0 else min(size, room + 1))
        self.used += len(line)
        if self.used > MAX_HEAD_BYTES:
            raise HeadTooLarge('request head')
        return line

    def __getattr__(self, name):
        return getattr(self.raw, name)


def tls_reason(error):
    """A short name for a failed handshake: the verify message or the TLS alert."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f'{error.reason}: {error.verify_message}'
    if isinstance(error, ssl.SSLError):
        return error.reason or type(error).__name__
    if isinstance(error, TimeoutError):
        return 'timeout'
    return type(error).__name__


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    default_request_version = 'HTTP/1.1'  # so even an answer to garbage has a status line
    server_version = 'mtls-python'
    sys_version = ''
    timeout = REQUEST_TIMEOUT_S

    def __init__(self, creds, *args):
        self.creds = creds  # the credentials this connection was handshaked with
        super().__init__(*args)

    def setup(self):
        super().setup()
        self.rfile = HeadLimit(self.rfile)
        self.opened = time.monotonic()

    def handle(self):
        try:
            super().handle()
        except (OSError, ValueError) as e:
            # An idle keep-alive timing out, a peer hanging up, the reaper: not errors.
            self.server.log.debug('connection closed', reason=tls_reason(e))

    def handle_one_request(self):
        # The stdlib's version, with a bounded head and deadlines, and GET only.
        self.server.set_deadline(self.connection, REQUEST_TIMEOUT_S)
        self.rfile.used = 0
        try:
            self.raw_requestline = self.rfile.readline()
        except HeadTooLarge:
            self.requestline, self.request_version, self.command = '', 'HTTP/1.1', None
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():  # answers 400/431/505 itself
            return
        if len(self.requestline.split()) != 3:
            self.send_error(400, 'HTTP/0.9 is not served')
            return
        if len(self.headers) > MAX_HEADERS:
            self.send_error(431, 'Too many headers')
            return
        if self.command != 'GET':
            self.send_error(405)
            return
        if self.headers.get('Content-Length') or self.headers.get('Transfer-Encoding'):
            self.close_connection = True  # a body we will not read cannot be left on the stream
        if time.monotonic() - self.opened > MAX_CONNECTION_AGE_S:
            self.close_connection = True
        self.do_GET()
        self.wfile.flush()

    def do_GET(self):
        srv = self.server
        cert = self.connection.getpeercert()
        peer = uris_of(cert)
        allowed = [u for u in peer if u in srv.allowed]
        if not allowed:
            srv.stats.count('refused')
            srv.events.event('forbidden', 'caller refused: identity not allowed', peer=peer,
                             address=self.client_address[0])
            self.send_json(403, {'error': 'forbidden', 'peer': peer,
                                 'reason': 'no URI SAN of the client certificate is in ALLOWED_IDENTITIES'})
            return
        if self.path.split('?', 1)[0] != '/':
            self.send_json(404, {'error': 'not found'})
            return
        srv.stats.count('ok')
        peer_serial = normalise_serial(cert['serialNumber'])
        srv.log.debug('request ok', peer=allowed[0], peerSerial=peer_serial, serial=self.creds.serial)
        self.send_json(200, {'server': self.creds.uris[0], 'peer': allowed[0],
                             'serial': self.creds.serial, 'peerSerial': peer_serial})

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        if code >= 400:
            self.close_connection = True
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        # JSON instead of the stdlib's HTML page; the connection always closes.
        self.close_connection = True
        self.server.events.event(f'http_{code}', 'bad request', status=code,
                                 address=self.client_address[0], level='info')
        try:
            self.send_json(code, {'error': message or self.responses.get(code, ('',))[0]})
        except OSError:
            pass

    def log_request(self, code='-', size='-'):
        pass  # counted in stats; one line per request would drown the log at 2 req/s

    def log_message(self, fmt, *args):
        self.server.log.debug('http', detail=fmt % args)
