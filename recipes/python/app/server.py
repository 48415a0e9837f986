"""mTLS HTTP server: ssl + http.server, standard library only.

Each accepted socket is wrapped, in its own worker thread, with the context
current at that moment, so a reload applies to new connections without a
restart. Callers are authorised by the URI SAN of their verified certificate
against ALLOWED_IDENTITIES (403 otherwise). Connections are bounded by a
semaphore; a reaper closes any connection past its deadline (handshake,
request), so slow or silent peers cannot hold workers."""

import http.client
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mtls_common import (Logger, RateLimitedLog, Stats, config_or_exit, env, env_int, env_uris,
                         stop_on_signals)
from mtls_credentials import CredentialWatcher, normalise_serial, uris_of

HANDSHAKE_TIMEOUT_S = 10
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


def linger(sock, seconds=1.0, limit=65536):
    """After a refused handshake OpenSSL has written its alert; closing now,
    with the caller's first request unread, would make the kernel send a RST
    that can destroy the alert before the caller reads it (it would see a bare
    EOF instead of "certificate required"). So: FIN first, drain briefly, close."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_WR)
        socket.socket.settimeout(sock, seconds)
        deadline, drained = time.monotonic() + seconds, 0
        while drained < limit and time.monotonic() < deadline:
            chunk = socket.socket.recv(sock, 4096)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


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


class MtlsServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer's version asks DNS for our FQDN; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = socket.gethostname(), self.server_address[1]

    def __init__(self, address, watcher, allowed, stats, log, max_connections=64):
        self.watcher, self.allowed, self.stats, self.log = watcher, frozenset(allowed), stats, log
        self.events = RateLimitedLog(log)
        self.slots = threading.BoundedSemaphore(max_connections)
        self.deadlines = {}  # socket -> monotonic deadline
        self.deadline_lock = threading.Lock()
        super().__init__(address, None)

    # -- connection bookkeeping -------------------------------------------------
    def set_deadline(self, sock, seconds):
        with self.deadline_lock:
            self.deadlines[sock] = time.monotonic() + seconds

    def reap(self, everything=False):
        """Shut down connections past their deadline (all of them when stopping).
        socket.shutdown on the descriptor wakes the blocked worker, which then
        cleans up itself."""
        now = time.monotonic()
        with self.deadline_lock:
            due = [s for s, d in self.deadlines.items() if everything or d <= now]
        for sock in due:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    # -- socketserver hooks -------------------------------------------------------
    def process_request(self, sock, address):
        if not self.slots.acquire(blocking=False):
            self.events.event('connection_cap', 'connection refused: too many connections',
                              address=address[0])
            self.shutdown_request(sock)
            return
        try:
            super().process_request(sock, address)  # starts the worker thread
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, sock, address):
        conn = sock
        try:
            conn = self.serve_connection(sock, address)
        except Exception as e:  # noqa: BLE001 - nothing a peer sends may end the process
            self.log.error('connection handler failed', error=repr(e))
        finally:
            with self.deadline_lock:
                self.deadlines.pop(conn, None)
                self.deadlines.pop(sock, None)
            try:
                conn.close()
            except OSError:
                pass
            self.slots.release()

    def serve_connection(self, sock, address):
        creds = self.watcher.current
        if creds is None:
            return sock  # waiting for enrollment: nothing to present yet
        self.set_deadline(sock, HANDSHAKE_TIMEOUT_S)
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        tls = creds.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.deadline_lock:
            self.deadlines[tls] = self.deadlines.pop(sock)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as e:
            reason = tls_reason(e)
            self.stats.count('refused')
            self.stats.tally('handshakeFailures')
            self.events.event(f'handshake:{reason}', 'handshake refused', reason=reason, address=address[0])
            linger(tls)
            return tls
        Handler(creds, tls, address, self)
        return tls


def main():
    log = Logger('server')
    stop = stop_on_signals()

    def config():
        return {
            'cert_dir': env('CERT_DIR', '/var/run/step'),
            'pin_file': env('ROOT_PIN_FILE', '/var/run/mtls-trust/root-fingerprints'),
            'stats_file': env('STATS_FILE', '/tmp/mtls-stats.json'),
            'identity': env('WORKLOAD_IDENTITY', '-'),
            'port': env_int('LISTEN_PORT', 8443, 1, 65535),
            'allowed': env_uris('ALLOWED_IDENTITIES'),
            'max_connections': env_int('MAX_CONNECTIONS', 64, 1, 1024),
        }

    cfg = config_or_exit(log, config)
    identity = None if cfg['identity'] == '-' else cfg['identity']
    stats = Stats(cfg['stats_file'], 'python', 'server', requests=('ok', 'refused'), tallies=('handshakeFailures',))
    watcher = CredentialWatcher('server', cfg['cert_dir'], cfg['pin_file'], log.child('credentials'),
                                own_identity=identity)
    server = None
    listener_error = None

    def write_stats():
        state = 'waiting'
        if listener_error or watcher.expired():
            state = 'failing'
        elif watcher.current:
            state = 'serving'
        stats.set(state=state, lastError=listener_error or watcher.last_error)
        try:
            stats.write(watcher.stats_fields())
        except OSError as e:
            log.warn('cannot write the stats file', error=str(e))

    watcher.on_change = write_stats
    write_stats()
    try:
        server = MtlsServer(('0.0.0.0', cfg['port']), watcher, cfg['allowed'], stats, log,
                            cfg['max_connections'])
    except OSError as e:
        listener_error = f'cannot listen on port {cfg["port"]}: {e.strerror}'
        log.error('listener failed', error=listener_error)
        write_stats()
        sys.exit(1)
    log.info('listening', port=cfg['port'], allowed=cfg['allowed'], identity=identity)
    watcher.start(stop)
    serving = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.5},
                               name='accept', daemon=True)
    serving.start()

    last_stats = 0.0
    while not stop.wait(1.0):
        server.reap()
        if time.monotonic() - last_stats >= 2.0:
            server.events.flush()
            write_stats()
            last_stats = time.monotonic()

    log.info('stopping')
    server.shutdown()       # the accept loop returns within its poll interval
    server.server_close()
    server.reap(everything=True)
    write_stats()
    log.info('stopped')


if __name__ == '__main__':
    main()
