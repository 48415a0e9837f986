"""Start-up: a client that starts before its server waits for it (start-up
retries, not failures); once a call has succeeded, a refused connection is a
failed call at once."""

import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import client as client_mod
from mtls_common import Stats
from mtls_credentials import CredentialWatcher
from server import MtlsServer
from tests.support import PKITestCase, Quiet

CALLER = 'spiffe://mesh.internal/python-client'
SERVER = 'spiffe://mesh.internal/python-server'
APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'app')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(what, probe, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.02)


class StartupTests(PKITestCase):
    def setUp(self):
        # The server's leaf names localhost so check_hostname works on 127.0.0.1.
        self.server_dir = self.cert_dir('server')
        self.install(self.server_dir, 'python-server', dns='localhost')
        self.server_watcher = CredentialWatcher('server', self.server_dir, self.pin_file, Quiet(), settle_s=0)
        self.server_watcher.check()
        client_dir = self.cert_dir('python-client')
        self.install(client_dir, 'python-client')
        self.client_watcher = CredentialWatcher('client', client_dir, self.pin_file, Quiet(), settle_s=0)
        self.client_watcher.check()
        self.port = free_port()
        self.stop = threading.Event()
        self.threads = []

    def tearDown(self):
        self.stop.set()
        for stop in reversed(self.threads):
            stop()

    def start_server(self):
        """The recipe's server on self.port; returns a function that closes its
        listener (connections are then refused)."""
        stats = Stats(os.path.join(self.tmp, 'server-stats.json'), 'python', 'server', ('ok', 'refused'))
        server = MtlsServer(('127.0.0.1', self.port), self.server_watcher, [CALLER], stats, Quiet())
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05})
        thread.start()
        stopped = []

        def stop():
            if not stopped:
                stopped.append(True)
                server.shutdown()
                server.server_close()
                thread.join()
        self.threads.append(stop)
        return stop

    def start_client(self, startup_budget_s):
        """The recipe's call loop, a call every 50 ms, with its stats and logs."""
        self.stats = Stats(os.path.join(self.tmp, 'client-stats.json'), 'python', 'client',
                           ('ok', 'failed', 'retries', 'startupRetries'))
        self.log = Quiet()
        cfg = {'host': 'localhost', 'port': self.port, 'expected': SERVER, 'timeout': 2,
               'startup_budget': startup_budget_s}
        self.caller = client_mod.Caller(cfg, self.client_watcher, self.stats, self.log)
        thread = threading.Thread(target=client_mod.call_loop, args=(self.caller, 0.05, self.stop), daemon=True)
        thread.start()
        self.threads.insert(0, lambda: (self.stop.set(), thread.join(10)))

    def requests(self):
        return self.stats.write(self.client_watcher.stats_fields())['requests']

    def messages(self, msg):
        return [line for line in self.log.lines if line['msg'] == msg]

    def test_a_server_that_starts_later_is_waited_for(self):
        self.start_client(startup_budget_s=20)
        wait_for('start-up retries while nothing listens', lambda: self.requests()['startupRetries'] >= 2)
        self.start_server()
        wait_for('successful calls', lambda: self.requests()['ok'] >= 2)
        requests = self.requests()
        self.assertEqual((requests['failed'], requests['retries']), (0, 0), requests)
        self.assertGreaterEqual(requests['startupRetries'], 2)
        self.assertEqual(len(self.messages('server not answering yet; retrying (start-up)')), 1)
        first = self.messages('calling')[0]
        self.assertGreaterEqual(first['startupRetries'], 2)

    def test_after_a_success_a_refused_connection_fails_the_call_at_once(self):
        stop_server = self.start_server()
        self.start_client(startup_budget_s=20)
        wait_for('a successful call', lambda: self.requests()['ok'] >= 1)
        stop_server()
        stopped = time.monotonic()
        wait_for('a failed call', lambda: self.requests()['failed'] >= 1, timeout=5)
        self.assertLess(time.monotonic() - stopped, 1.5)
        # A call in flight as the listener closed may have met a reset and
        # retried; the next one meets only refusals: no retry at all.
        retries = self.requests()['retries']
        wait_for('a second failed call', lambda: self.requests()['failed'] >= 2, timeout=5)
        requests = self.requests()
        self.assertEqual((requests['retries'], requests['startupRetries']), (retries, 0), requests)
        self.assertEqual(self.caller.last_error, 'connection: Connection refused')

    def test_a_call_that_spends_its_start_up_budget_is_one_failed_call(self):
        self.start_client(startup_budget_s=1.0)  # retries after 0.2 and 0.4 s; 0.8 s more would overrun it
        wait_for('a failed call', lambda: self.requests()['failed'] >= 1, timeout=5)
        requests = self.requests()
        self.assertEqual(requests['ok'], 0)
        self.assertGreaterEqual(requests['startupRetries'], 2)
        self.assertEqual(self.caller.last_error, 'connection: Connection refused')

    def test_startup_retry_budget_must_be_a_non_negative_integer(self):
        env = {'PATH': os.environ.get('PATH', ''), 'TARGET_HOST': 'localhost',
               'EXPECTED_SERVER_IDENTITY': SERVER, 'STATS_FILE': os.path.join(self.tmp, 'bad-config-stats.json')}
        for value in ('-1', 'soon', '1.5'):
            done = subprocess.run([sys.executable, os.path.join(APP, 'client.py')], capture_output=True, text=True,
                                  env={**env, 'STARTUP_RETRY_BUDGET_MS': value}, timeout=10)
            self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
            self.assertIn('STARTUP_RETRY_BUDGET_MS', done.stdout)


if __name__ == '__main__':
    unittest.main()
