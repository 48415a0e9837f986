"""The requests client (app/requests_client.py) against the recipe's own
server: real TLS on loopback, certificates from tests/pki.py."""

import os
import socket
import ssl
import threading
import types

from client import failure_reason
from mtls_common import Stats
from mtls_credentials import CredentialWatcher
from requests_client import RequestsCaller
from server import MtlsServer
from tests import pki
from tests.support import PKITestCase, Quiet

CALLER = 'spiffe://mesh.internal/requests-client'
SERVER = 'spiffe://mesh.internal/go-server'


class RequestsClientTests(PKITestCase):
    def setUp(self):
        # The server's leaf names localhost so the client's name check passes on 127.0.0.1.
        self.server_dir = self.cert_dir('server')
        self.install(self.server_dir, 'go-server', dns='localhost')
        self.server_watcher = CredentialWatcher('server', self.server_dir, self.pin_file, Quiet(), settle_s=0)
        self.server_watcher.check()
        self.server_log = Quiet()
        stats = Stats(os.path.join(self.tmp, 'server-stats.json'), 'python', 'server', ('ok', 'refused'))
        self.server = MtlsServer(('127.0.0.1', 0), self.server_watcher, [CALLER], stats, self.server_log)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1})
        self.thread.start()
        self.stop = threading.Event()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def caller(self, name='requests-client', **cfg):
        self.client_dir = self.cert_dir(name)
        self.install(self.client_dir, name)
        watcher = CredentialWatcher('client', self.client_dir, self.pin_file, Quiet(), settle_s=0)
        watcher.check()
        stats = Stats(os.path.join(self.client_dir, 'stats.json'), 'requests', 'client',
                      ('ok', 'failed', 'retries', 'startupRetries'))
        config = {'host': 'localhost', 'port': self.port, 'expected': SERVER, 'timeout': 2, **cfg}
        return RequestsCaller(config, watcher, stats, Quiet())

    def served_serials(self):
        return [line['peerSerial'] for line in self.server_log.lines if line['msg'] == 'request ok']

    def count_connections(self):
        """Counts the connections the server accepts from now on."""
        accepted, accept = [], self.server.get_request

        def counting():
            request = accept()
            accepted.append(request[1])
            return request

        self.server.get_request = counting
        return accepted

    def test_allowed_identity_is_served_over_one_pooled_connection(self):
        c = self.caller()
        accepted = self.count_connections()
        for _ in range(3):
            self.assertTrue(c.call(self.stop), c.last_error)
        self.assertEqual(c.stats.counters, {'ok': 3, 'failed': 0, 'retries': 0, 'startupRetries': 0})
        self.assertEqual(c.stats.fields['serverSerial'], self.server_watcher.current.serial)
        self.assertEqual(self.served_serials(), [c.watcher.current.serial] * 3)
        self.assertEqual(len(accepted), 1, 'the Session keeps the connection alive')
        # requests' CA bundle (certifi or the system's) never reaches the context: only the test root.
        with open(self.ca.root_crt) as f:
            root = ssl.PEM_cert_to_DER_cert(f.read())
        self.assertEqual(c.watcher.current.context.get_ca_certs(binary_form=True), [root])

    def test_unlisted_identity_is_refused_with_403(self):
        c = self.caller('intruder')
        self.assertFalse(c.call(self.stop))
        self.assertEqual(c.last_error, 'http 403')
        self.assertEqual(c.stats.counters['retries'], 0, 'a 4xx is not retried')

    def call_with(self, context):
        c = self.caller()
        creds = types.SimpleNamespace(context=context, serial='0')
        with self.assertRaises(Exception) as e:
            c.call_once(creds, 2)
        return c, e.exception

    def test_no_certificate_and_self_signed_are_refused_by_the_server(self):
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bare.load_verify_locations(self.ca.root_crt)
        _, e = self.call_with(bare)
        self.assertEqual(failure_reason(e), 'tls: TLSV13_ALERT_CERTIFICATE_REQUIRED')
        site, key = pki.self_signed(self.tmp, 'requests-client')
        crt = os.path.join(self.tmp, 'requests-self.crt')
        pki.replace(crt, site)
        bare.load_cert_chain(crt, key)
        _, e = self.call_with(bare)
        self.assertEqual(failure_reason(e), 'tls: TLSV1_ALERT_UNKNOWN_CA')

    def test_server_name_and_identity_are_checked(self):
        c = self.caller(expected='spiffe://mesh.internal/someone-else')
        self.assertFalse(c.call(self.stop))
        self.assertEqual(c.last_error, f"identity mismatch: server presented ['{SERVER}']")
        self.assertEqual(c.stats.counters['retries'], 0)
        self.install(self.server_dir, 'go-server')  # names go-server.mesh.internal, not localhost
        self.assertTrue(self.server_watcher.check())
        c = self.caller()
        self.assertFalse(c.call(self.stop))
        self.assertEqual(c.last_error, "tls: Hostname mismatch, certificate is not valid for 'localhost'.")

    def test_a_server_from_another_root_is_refused(self):
        self.install(self.server_dir, 'go-server', ca=self.other, dns='localhost')
        other_pin = os.path.join(self.tmp, 'other-pin')
        with open(other_pin, 'w') as f:
            f.write(self.other.pin() + '\n')
        self.server_watcher.pin_file = other_pin
        self.assertTrue(self.server_watcher.check())
        c = self.caller()
        self.assertFalse(c.call(self.stop))
        self.assertEqual(c.last_error, 'tls: unable to get local issuer certificate')

    def test_reload_makes_a_new_session_and_hostile_roots_keep_the_old_one(self):
        c = self.caller()
        self.assertTrue(c.call(self.stop))
        first_session, first_serial = c.session, c.watcher.current.serial
        with open(self.other.root_crt) as src, open(os.path.join(self.client_dir, 'root.crt'), 'a') as f:
            f.write(src.read())  # an unpinned root
        c.watcher.check()
        self.assertEqual(c.watcher.failed_reloads, 1)
        self.assertTrue(c.call(self.stop))
        self.assertIs(c.session, first_session, 'a refused set keeps the session')

        self.install(self.client_dir, 'requests-client')
        self.assertTrue(c.watcher.check())
        self.assertTrue(c.call(self.stop))
        self.assertIsNot(c.session, first_session)
        self.assertEqual(len(first_session.get_adapter(c.url).poolmanager.pools), 0, 'the old pool is closed')
        self.assertEqual(self.served_serials(), [first_serial, first_serial, c.watcher.current.serial])
        self.assertNotEqual(first_serial, c.watcher.current.serial)

    def test_no_server_yet_is_a_start_up_retry_then_refused(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]  # nothing listens once closed
        c = self.caller(port=port, startup_budget=0.5)
        self.assertFalse(c.call(self.stop))
        self.assertEqual(c.last_error, 'connection: Connection refused')
        self.assertGreater(c.stats.counters['startupRetries'], 0)
        self.assertEqual(c.stats.counters['failed'], 1)
