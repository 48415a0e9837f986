"""What server and client share besides credentials: JSON-line logs, the
stats file, rate-limited logging, configuration from the environment and a
stop flag set by SIGTERM. Standard library only."""

import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone


def iso(epoch=None):
    """2026-12-01T10:00:00.000Z, the contract's timestamp form."""
    dt = datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc)
    return dt.strftime('%Y-%m-%dT%H:%M:%S.') + f'{dt.microsecond // 1000:03d}Z'


_LEVELS = ('debug', 'info', 'warn', 'error')
_write_lock = threading.Lock()


class Logger:
    """One JSON object per line on stdout: {"ts","level","component","msg",...}.
    Callers pass structured fields, never key material."""

    def __init__(self, component, level=None, stream=None):
        self.component = component
        level = level or os.environ.get('LOG_LEVEL', 'info')
        self.threshold = _LEVELS.index(level if level in _LEVELS else 'info')
        self.stream = stream

    def child(self, component):
        return Logger(component, _LEVELS[self.threshold], self.stream)

    def log(self, level, msg, **fields):
        if _LEVELS.index(level) < self.threshold:
            return
        line = json.dumps({'ts': iso(), 'level': level, 'component': self.component, 'msg': msg, **fields},
                          default=str)
        with _write_lock:
            stream = self.stream or sys.stdout
            try:
                stream.write(line + '\n')
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must not take the process down

    def debug(self, msg, **f): self.log('debug', msg, **f)
    def info(self, msg, **f): self.log('info', msg, **f)
    def warn(self, msg, **f): self.log('warn', msg, **f)
    def error(self, msg, **f): self.log('error', msg, **f)


class RateLimitedLog:
    """Peer-caused events (refused handshakes, bad requests): the first of each
    kind is logged, repeats within the window are only counted, and the count
    is logged as one summary line once the window has passed. A flood of bad
    callers cannot flood the log."""

    def __init__(self, log, window_s=60.0):
        self.log, self.window = log, window_s
        self.kinds = {}  # kind -> [window start, suppressed count]
        self.lock = threading.Lock()

    def event(self, kind, msg, level='warn', **fields):
        now = time.monotonic()
        with self.lock:
            entry = self.kinds.get(kind)
            if entry is not None and now - entry[0] < self.window:
                entry[1] += 1
                return
            suppressed = entry[1] if entry else 0
            self.kinds[kind] = [now, 0]
        if suppressed:
            fields['suppressedSinceLast'] = suppressed
        self.log.log(level, msg, kind=kind, **fields)

    def flush(self):
        """Summaries for windows that have closed; called from the stats tick."""
        now = time.monotonic()
        with self.lock:
            due = [(k, e[1]) for k, e in self.kinds.items() if e[1] and now - e[0] >= self.window]
            for k, _ in due:
                self.kinds[k] = [now, 0]
        for kind, count in due:
            self.log.warn('repeated events', kind=kind, count=count, windowSeconds=self.window)


class Stats:
    """The contract's $STATS_FILE, rewritten atomically (temporary file in the
    same directory, then rename) so a reader never sees half a file."""

    def __init__(self, path, technology, role, requests=(), tallies=()):
        self.path = path
        self.base = {'technology': technology, 'role': role}
        self.counters = dict.fromkeys(requests, 0)  # the contract's `requests` object
        self.fields = dict.fromkeys(tallies, 0)     # counters beside it (e.g. handshakeFailures)
        self.lock = threading.Lock()

    def count(self, name, n=1):
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def tally(self, name, n=1):
        with self.lock:
            self.fields[name] = self.fields.get(name, 0) + n

    def set(self, **fields):
        with self.lock:
            self.fields.update(fields)

    def snapshot(self, credential_fields):
        with self.lock:
            doc = {**self.base, **credential_fields, **self.fields, 'requests': dict(self.counters)}
        doc['updatedAt'] = iso()
        return {k: v for k, v in doc.items() if v is not None}

    def write(self, credential_fields):
        doc = self.snapshot(credential_fields)
        tmp = f'{self.path}.{os.getpid()}.{threading.get_ident()}.tmp'
        try:
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(doc, f)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return doc

    def publish(self, log, credential_fields, **fields):
        """set(**fields), then write(): a file that cannot be written is logged,
        and the process goes on (the next tick tries again)."""
        self.set(**fields)
        try:
            self.write(credential_fields)
        except OSError as e:
            log.warn('cannot write the stats file', error=str(e))


class ConfigError(Exception):
    pass


def env(name, default=None):
    value = os.environ.get(name, '').strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f'{name} is required')
    return default


def env_int(name, default, low, high):
    raw = env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f'{name} must be an integer, got {raw!r}') from None
    if not low <= value <= high:
        raise ConfigError(f'{name} must be between {low} and {high}, got {value}')
    return value


def contract_env():
    """What every role reads (recipes/README.md, "Environment"); identity is
    None when WORKLOAD_IDENTITY is unset or '-'."""
    identity = env('WORKLOAD_IDENTITY', '-')
    return {
        'cert_dir': env('CERT_DIR', '/var/run/step'),
        'pin_file': env('ROOT_PIN_FILE', '/var/run/mtls-trust/root-fingerprints'),
        'stats_file': env('STATS_FILE', '/tmp/mtls-stats.json'),
        'identity': None if identity == '-' else identity,
    }


def env_uris(name):
    """Identities in the form this recipe checks: URI SANs."""
    values = [v.strip() for v in env(name).split(',') if v.strip()]
    bad = [v for v in values if '://' not in v]
    if not values or bad:
        raise ConfigError(f'{name} must be comma-separated URIs (this recipe checks the URI SAN), '
                          f'got {bad or values!r}')
    return values


def stop_on_signals():
    """A threading.Event set by SIGTERM/SIGINT. The handler only sets the flag:
    the main loop notices it within a second and shuts down in order."""
    stop = threading.Event()

    def handler(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def config_or_exit(log, build):
    """Bad configuration exits with status 2 and one log line naming the variable."""
    try:
        return build()
    except ConfigError as e:
        log.error('bad configuration', error=str(e))
        sys.exit(2)
