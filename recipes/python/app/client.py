"""mTLS HTTP client: http.client + ssl, standard library only.

Every call opens a new connection with the context current at that moment:
the server's chain and identity are verified on every call, and a reload
(ours or the server's) applies to the next call. check_hostname is on
(server_hostname = TARGET_HOST); then the server leaf's URI SAN must be
EXPECTED_SERVER_IDENTITY before anything is sent.

Until the first successful call, a server that cannot be reached is still
starting: the call is retried with backoff (start-up retries, not failures)
for up to STARTUP_RETRY_BUDGET_MS. After it, a refused connection fails the
call at once."""

import http.client
import socket
import ssl
import threading
import time

from mtls_common import (ConfigError, Logger, Stats, config_or_exit, contract_env, env, env_int, iso,
                         stop_on_signals)
from mtls_credentials import CredentialWatcher
from mtls_load import normalise_serial, uris_of

RETRY_DELAYS_S = (0.25, 0.5, 1.0)  # up to 3 retries, all within about 3 s
RETRY_BUDGET_S = 3.0
STARTUP_DELAY_S, STARTUP_MAX_DELAY_S = 0.2, 2.0  # start-up retries: 0.2 s, doubling, at most 2 s apart
STARTUP_BUDGET_S = 30.0
MAX_BODY_BYTES = 64 * 1024


def resolve(host, port, timeout):
    """getaddrinfo with a deadline: the resolver ignores socket timeouts, and
    Docker's DNS can take 10 s to give up on a name whose container is gone.
    A lookup that overruns is abandoned to its daemon thread."""
    result = []

    def lookup():
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as e:
            result.append(e)

    t = threading.Thread(target=lookup, name='dns', daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        raise Unreachable(f'dns: no answer for {host} within {timeout:g} s')
    if isinstance(result[0], OSError):
        raise Unreachable(f'dns: {result[0].strerror or result[0]}')
    return result[0]


class Connection(http.client.HTTPSConnection):
    """HTTPSConnection whose connect resolves with a deadline; the TLS
    server_hostname stays TARGET_HOST, so check_hostname verifies the name."""

    def __init__(self, host, port, context, timeout):
        super().__init__(host, port, context=context, timeout=timeout)
        self.tls_context = context

    def connect(self):
        raw, error = None, Unreachable('dns: no address')
        for family, kind, proto, _, address in resolve(self.host, self.port, self.timeout):
            raw = socket.socket(family, kind, proto)
            try:
                raw.settimeout(self.timeout)
                raw.connect(address)
                break
            except OSError as e:  # try the next address, report the last error
                raw.close()
                reason = 'connection: no connection within the timeout' if isinstance(e, TimeoutError) else failure_reason(e)
                raw, error = None, Unreachable(reason, refused=isinstance(e, ConnectionRefusedError))
        if raw is None:
            raise error
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class CallError(Exception):
    def __init__(self, reason, retry=True):
        super().__init__(reason)
        self.reason, self.retry = reason, retry


class Unreachable(CallError):
    """No connection to the server: its name does not resolve (yet), nothing
    listens (refused), or none within the timeout."""

    def __init__(self, reason, refused=False):
        super().__init__(reason)
        self.refused = refused


def unreachable(e):
    """The server could not be reached at all: no connection, or one reset.
    A TLS or identity failure is not this: waiting does not heal it."""
    return isinstance(e, (Unreachable, ConnectionResetError, ConnectionAbortedError))


def failure_reason(e):
    """What went wrong, short: the TLS alert or verify message, a timeout, a refusal."""
    if isinstance(e, CallError):
        return e.reason
    if isinstance(e, socket.gaierror):
        return f'dns: {e.strerror}'
    if isinstance(e, ssl.SSLCertVerificationError):
        return f'tls: {e.verify_message}'
    if isinstance(e, ssl.SSLError):
        return f'tls: {e.reason or e}'
    if isinstance(e, TimeoutError):
        return 'timeout'
    if isinstance(e, OSError):
        return f'connection: {e.strerror or type(e).__name__}'
    if isinstance(e, http.client.HTTPException):
        return f'http: {type(e).__name__}'
    return type(e).__name__


class Caller:
    @staticmethod
    def configured(cfg):
        """The configuration, or ConfigError for what this caller cannot use."""
        return cfg

    def __init__(self, cfg, watcher, stats, log):
        self.cfg, self.watcher, self.stats, self.log = cfg, watcher, stats, log
        self.last_reason = ''     # logs on changes only: first success, each new failure, recovery
        self.last_error, self.last_error_at = None, 0.0
        self.succeeded = False    # any call since the start
        self.startup_retries = 0

    def call_once(self, creds, timeout):
        cfg = self.cfg
        conn = Connection(cfg['host'], cfg['port'], creds.context, timeout)
        try:
            conn.connect()  # handshake: chain to our root, and the name TARGET_HOST
            cert = conn.sock.getpeercert()
            identities = uris_of(cert)
            if cfg['expected'] not in identities:
                raise CallError(f'identity mismatch: server presented {identities}', retry=False)
            conn.request('GET', '/', headers={'Accept': 'application/json'})
            response = conn.getresponse()
            response.read(MAX_BODY_BYTES)
            if response.status != 200:
                raise CallError(f'http {response.status}', retry=response.status >= 500)
            return normalise_serial(cert['serialNumber'])
        finally:
            conn.close()

    def next_retry(self, e, retries, startup_retries, elapsed):
        """(delay in seconds, whether it is a start-up retry), or None: the call failed."""
        if not self.succeeded and unreachable(e):
            delay = min(STARTUP_DELAY_S * 2 ** startup_retries, STARTUP_MAX_DELAY_S)
            return (delay, True) if elapsed + delay <= self.cfg.get('startup_budget', STARTUP_BUDGET_S) else None
        if not getattr(e, 'retry', True) or getattr(e, 'refused', False) or retries >= len(RETRY_DELAYS_S):
            return None
        delay = RETRY_DELAYS_S[retries]
        return (delay, False) if elapsed + delay <= RETRY_BUDGET_S else None

    def call(self, stop):
        """One call with its retries; returns True on success."""
        creds = self.watcher.current
        started = time.monotonic()
        retries = startup_retries = 0
        while True:
            try:
                serial = self.call_once(creds, self.cfg['timeout'])
            except Exception as e:  # noqa: BLE001 - a failed call is counted, never fatal
                reason = failure_reason(e)
                retry = self.next_retry(e, retries, startup_retries, time.monotonic() - started)
                if retry and not stop.is_set():
                    delay, startup = retry
                    if startup:
                        if self.startup_retries == 0:
                            self.log.info('server not answering yet; retrying (start-up)', reason=reason)
                        self.startup_retries += 1
                        startup_retries += 1
                        self.stats.count('startupRetries')
                    else:
                        retries += 1
                        self.stats.count('retries')
                        self.log.debug('retrying', reason=reason, attempt=retries)
                    stop.wait(delay)
                    creds = self.watcher.current  # a reload meanwhile is used by the retry
                    continue
                self.stats.count('failed')
                self.last_error, self.last_error_at = reason, time.time()
                if reason != self.last_reason:
                    self.log.warn('call failed', reason=reason, attempts=retries + startup_retries + 1)
                    self.last_reason = reason
                return False
            self.stats.count('ok')
            self.stats.set(serverSerial=serial, lastOkAt=iso())
            if not self.succeeded:
                self.log.info('calling', server=self.cfg['expected'], serverSerial=serial, startupRetries=self.startup_retries)
            elif self.last_reason is not None:
                self.log.info('calling', server=self.cfg['expected'], serverSerial=serial)
            self.succeeded, self.last_reason = True, None
            return True


def call_loop(caller, interval, stop):
    """A call every `interval` seconds once there are credentials, until stop."""
    while not stop.is_set():
        started = time.monotonic()
        if caller.watcher.current is None:
            stop.wait(0.5)
            continue
        try:
            caller.call(stop)
        except Exception as e:  # noqa: BLE001 - the loop must go on
            caller.log.error('call loop error', error=repr(e))
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


def main(caller_class=Caller, technology='python'):
    """The client role; requests_client.py runs it with its own Caller."""
    log = Logger('client')
    stop = stop_on_signals()

    def config():
        expected = env('EXPECTED_SERVER_IDENTITY')
        if '://' not in expected:
            raise ConfigError('EXPECTED_SERVER_IDENTITY must be a URI (this recipe checks the URI SAN)')
        return {
            **contract_env(),
            'host': env('TARGET_HOST'),
            'port': env_int('TARGET_PORT', 8443, 1, 65535),
            'expected': expected,
            'interval': env_int('REQUEST_INTERVAL_MS', 500, 10, 3_600_000) / 1000,
            'timeout': env_int('REQUEST_TIMEOUT_MS', 2000, 100, 60_000) / 1000,
            'startup_budget': env_int('STARTUP_RETRY_BUDGET_MS', int(STARTUP_BUDGET_S * 1000), 0, 86_400_000) / 1000,
        }

    cfg = config_or_exit(log, lambda: caller_class.configured(config()))
    stats = Stats(cfg['stats_file'], technology, 'client', requests=('ok', 'failed', 'retries', 'startupRetries'))
    watcher = CredentialWatcher('client', cfg['cert_dir'], cfg['pin_file'], log.child('credentials'),
                                own_identity=cfg['identity'])
    caller = caller_class(cfg, watcher, stats, log)

    def write_stats():
        state = 'failing' if watcher.expired() else 'calling' if watcher.current else 'waiting'
        # lastError: the newer of a refused reload and a failed call.
        errors = [e for e in ((watcher.last_error_at, watcher.last_error),
                              (caller.last_error_at, caller.last_error)) if e[1]]
        stats.publish(log, watcher.stats_fields(), state=state, lastError=max(errors)[1] if errors else None)

    watcher.on_change = write_stats
    write_stats()
    log.info('starting', target=f'{cfg["host"]}:{cfg["port"]}', expected=cfg['expected'],
             intervalMs=int(cfg['interval'] * 1000))
    watcher.start(stop)

    # Calls run beside the main thread, which keeps the stats fresh and answers
    # SIGTERM at once even while a call waits on its timeouts.
    threading.Thread(target=call_loop, args=(caller, cfg['interval'], stop), name='caller', daemon=True).start()
    while not stop.wait(2.0):
        write_stats()

    log.info('stopping')
    write_stats()
    log.info('stopped')


if __name__ == '__main__':
    main()
