"""mTLS HTTP server: ssl + http.server, standard library only.

Each accepted socket is wrapped, in its own worker thread, with the context
current at that moment, so a reload applies to new connections without a
restart. Callers are authorised by the URI SAN of their verified certificate
against ALLOWED_IDENTITIES (403 otherwise). Connections are bounded by a
semaphore; a reaper closes any connection past its deadline (handshake,
request), so slow or silent peers cannot hold workers."""

import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import ThreadingHTTPServer

from http_handler import Handler, tls_reason
from mtls_common import (Logger, RateLimitedLog, Stats, config_or_exit, contract_env, env_int, env_uris,
                         stop_on_signals)
from mtls_credentials import CredentialWatcher

HANDSHAKE_TIMEOUT_S = 10


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
            **contract_env(),
            'port': env_int('LISTEN_PORT', 8443, 1, 65535),
            'allowed': env_uris('ALLOWED_IDENTITIES'),
            'max_connections': env_int('MAX_CONNECTIONS', 64, 1, 1024),
        }

    cfg = config_or_exit(log, config)
    identity = cfg['identity']
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
        stats.publish(log, watcher.stats_fields(), state=state, lastError=listener_error or watcher.last_error)

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
