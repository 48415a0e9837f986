"""mTLS HTTP client: http.client + ssl, standard library only.

Every call opens a new connection with the context current at that moment:
the server's chain and identity are verified on every call, and a reload
(ours or the server's) applies to the next call. check_hostname is on
(server_hostname = TARGET_HOST); then the server leaf's URI SAN must be
EXPECTED_SERVER_IDENTITY before anything is sent."""

import http.client
import ssl
import time

from mtls_common import ConfigError, Logger, Stats, config_or_exit, env, env_int, iso, stop_on_signals
from mtls_credentials import CredentialWatcher, normalise_serial, uris_of

RETRY_DELAYS_S = (0.25, 0.5, 1.0)  # up to 3 retries, all within about 3 s
RETRY_BUDGET_S = 3.0
MAX_BODY_BYTES = 64 * 1024


class CallError(Exception):
    def __init__(self, reason, retry=True):
        super().__init__(reason)
        self.reason, self.retry = reason, retry


def failure_reason(e):
    """What went wrong, short: the TLS alert or verify message, a timeout, a refusal."""
    if isinstance(e, CallError):
        return e.reason
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
    def __init__(self, cfg, watcher, stats, log):
        self.cfg, self.watcher, self.stats, self.log = cfg, watcher, stats, log
        self.last_reason = ''     # logs on changes only: first success, each new failure, recovery
        self.last_error, self.last_error_at = None, 0.0

    def call_once(self, creds, timeout):
        cfg = self.cfg
        conn = http.client.HTTPSConnection(cfg['host'], cfg['port'], context=creds.context, timeout=timeout)
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

    def call(self, stop):
        """One call with its retries; returns True on success."""
        creds = self.watcher.current
        started = time.monotonic()
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                serial = self.call_once(creds, self.cfg['timeout'])
            except Exception as e:  # noqa: BLE001 - a failed call is counted, never fatal
                reason = failure_reason(e)
                retry = getattr(e, 'retry', True) and attempt < len(RETRY_DELAYS_S)
                delay = RETRY_DELAYS_S[attempt] if retry else 0
                if retry and time.monotonic() - started + delay <= RETRY_BUDGET_S and not stop.is_set():
                    self.stats.count('retries')
                    self.log.debug('retrying', reason=reason, attempt=attempt + 1)
                    stop.wait(delay)
                    creds = self.watcher.current  # a reload meanwhile is used by the retry
                    continue
                self.stats.count('failed')
                self.last_error, self.last_error_at = reason, time.time()
                if reason != self.last_reason:
                    self.log.warn('call failed', reason=reason, attempts=attempt + 1)
                    self.last_reason = reason
                return False
            self.stats.count('ok')
            self.stats.set(serverSerial=serial, lastOkAt=iso())
            if self.last_reason is not None:
                self.log.info('calling', server=self.cfg['expected'], serverSerial=serial)
                self.last_reason = None
            return True
        return False


def main():
    log = Logger('client')
    stop = stop_on_signals()

    def config():
        expected = env('EXPECTED_SERVER_IDENTITY')
        if '://' not in expected:
            raise ConfigError('EXPECTED_SERVER_IDENTITY must be a URI (this recipe checks the URI SAN)')
        return {
            'cert_dir': env('CERT_DIR', '/var/run/step'),
            'pin_file': env('ROOT_PIN_FILE', '/var/run/mtls-trust/root-fingerprints'),
            'stats_file': env('STATS_FILE', '/tmp/mtls-stats.json'),
            'identity': env('WORKLOAD_IDENTITY', '-'),
            'host': env('TARGET_HOST'),
            'port': env_int('TARGET_PORT', 8443, 1, 65535),
            'expected': expected,
            'interval': env_int('REQUEST_INTERVAL_MS', 500, 10, 3_600_000) / 1000,
            'timeout': env_int('REQUEST_TIMEOUT_MS', 2000, 100, 60_000) / 1000,
        }

    cfg = config_or_exit(log, config)
    stats = Stats(cfg['stats_file'], 'python', 'client', requests=('ok', 'failed', 'retries'))
    watcher = CredentialWatcher('client', cfg['cert_dir'], cfg['pin_file'], log.child('credentials'),
                                own_identity=None if cfg['identity'] == '-' else cfg['identity'])
    caller = Caller(cfg, watcher, stats, log)

    def write_stats():
        state = 'failing' if watcher.expired() else 'calling' if watcher.current else 'waiting'
        # lastError: the newer of a refused reload and a failed call.
        errors = [e for e in ((watcher.last_error_at, watcher.last_error),
                              (caller.last_error_at, caller.last_error)) if e[1]]
        stats.set(state=state, lastError=max(errors)[1] if errors else None)
        try:
            stats.write(watcher.stats_fields())
        except OSError as e:
            log.warn('cannot write the stats file', error=str(e))

    watcher.on_change = write_stats
    write_stats()
    log.info('starting', target=f'{cfg["host"]}:{cfg["port"]}', expected=cfg['expected'],
             intervalMs=int(cfg['interval'] * 1000))
    watcher.start(stop)

    last_stats = 0.0
    while not stop.is_set():
        started = time.monotonic()
        if watcher.current is not None:
            caller.call(stop)
        if time.monotonic() - last_stats >= 2.0:
            write_stats()
            last_stats = time.monotonic()
        stop.wait(max(0.0, cfg['interval'] - (time.monotonic() - started)) if watcher.current else 0.5)

    log.info('stopping')
    write_stats()
    log.info('stopped')


if __name__ == '__main__':
    main()
