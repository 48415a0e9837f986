"""The credentials in use: CredentialWatcher polls $CERT_DIR and the pin
file, loads a changed set (mtls_load) and swaps it in atomically. A refused
set leaves the previous context in use, and the reason is logged.

The renewer writes site.key first and site.crt second, so a poll can see a
new key with the old certificate. A refused set is retried every poll for
`settle_s` seconds before it counts as a failed reload, so that window is
neither an error nor a failed reload."""

import os
import threading
import time

from mtls_common import iso
from mtls_load import FILES, CredentialError, load


class CredentialWatcher:
    """Polls the three files and the pin file (stat) every `poll_s`; on a
    change re-reads all of them. `current` is replaced by one assignment, so
    readers never see a half-built set."""

    def __init__(self, role, cert_dir, pin_file, log, own_identity=None,
                 poll_s=1.0, settle_s=3.0, recheck_s=10.0, on_change=None):
        self.role, self.cert_dir, self.pin_file, self.log = role, cert_dir, pin_file, log
        self.own_identity = own_identity
        self.poll_s, self.settle_s, self.recheck_s = poll_s, settle_s, recheck_s
        self.on_change = on_change
        self.current = None
        self.reloads = 0
        self.failed_reloads = 0
        self.last_reload_at = None
        self.last_error, self.last_error_at = None, 0.0
        self._loaded_sig = None
        self._pending = None  # the refused signature: {sig, first, refused, retry_at, msg}
        self._waiting_msg = None

    def _signature(self):
        sig = []
        for path in [os.path.join(self.cert_dir, n) for n in FILES] + [self.pin_file]:
            try:
                st = os.stat(path)
                sig.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def check(self, now=None):
        """One poll; returns True when a new set was swapped in."""
        now = time.monotonic() if now is None else now
        sig = self._signature()
        if sig == self._loaded_sig:
            return False
        pending = self._pending
        if pending and pending['sig'] == sig and pending['refused'] and now < pending['retry_at']:
            return False
        try:
            creds = load(self.role, self.cert_dir, self.pin_file)
        except CredentialError as e:
            self._refused(sig, e, now)
            return False
        self._swap(creds, sig)
        return True

    def _refused(self, sig, e, now):
        msg = str(e)
        if e.problem == 'waiting':
            # Before enrollment this is the normal state, not a failure.
            if msg != self._waiting_msg:
                self._waiting_msg = msg
                if self.current is None:
                    self.log.info('waiting for credentials', reason=msg)
                else:
                    self.log.warn('credentials incomplete, keeping the current ones',
                                  reason=msg, serial=self.current.serial)
            self._pending = None
            return
        pending = self._pending
        if not pending or pending['sig'] != sig:
            pending = self._pending = {'sig': sig, 'first': now, 'refused': False, 'msg': None}
        if not pending['refused'] and now - pending['first'] < self.settle_s:
            # Probably the renewer's key-then-certificate window: look again next poll.
            self.log.debug('credentials not usable yet, retrying', problem=e.problem, reason=msg)
            return
        pending['retry_at'] = now + self.recheck_s
        if pending['refused'] and pending['msg'] == msg:
            return  # the same refusal again on a recheck: already counted and logged
        pending['refused'], pending['msg'] = True, msg
        self.failed_reloads += 1
        self.last_error, self.last_error_at = msg, time.time()
        self.log.warn('reload refused, keeping the current credentials' if self.current
                      else 'credentials refused, still waiting',
                      problem=e.problem, reason=msg,
                      serial=self.current.serial if self.current else None,
                      failedReloads=self.failed_reloads)

    def _swap(self, creds, sig):
        initial = self.current is None
        self.current = creds  # the atomic swap: new connections use it from now on
        self._loaded_sig, self._pending, self._waiting_msg = sig, None, None
        self.reloads += 1
        self.last_reload_at = creds.loaded_at
        self.log.info('reloaded', serial=creds.serial, notAfter=iso(creds.not_after),
                      identities=creds.uris, initial=initial, reloads=self.reloads)
        if self.own_identity and self.own_identity not in creds.uris:
            self.log.warn('the certificate does not name this workload', expected=self.own_identity,
                          identities=creds.uris)
        if self.on_change:
            self.on_change()

    def stats_fields(self):
        c = self.current
        return {
            'serial': c.serial if c else None,
            'notAfter': iso(c.not_after) if c else None,
            'reloads': self.reloads,
            'failedReloads': self.failed_reloads,
            'lastReloadAt': iso(self.last_reload_at) if self.last_reload_at else None,
        }

    def expired(self, now=None):
        c = self.current
        return c is not None and (time.time() if now is None else now) >= c.not_after

    def run(self, stop):
        """The polling loop (a daemon thread); an unexpected error is logged and
        the loop goes on, the current credentials stay."""
        while True:
            try:
                self.check()
            except Exception as e:  # noqa: BLE001 - the watcher must outlive any file content
                self.log.error('credential check failed', error=repr(e))
            if stop.wait(self.poll_s):
                return

    def start(self, stop):
        t = threading.Thread(target=self.run, args=(stop,), name='credentials', daemon=True)
        t.start()
        return t
