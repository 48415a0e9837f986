import http.client
import json
import os
import socket
import ssl
import threading
import unittest

import client as client_mod
from mtls_common import Stats
from mtls_credentials import CredentialWatcher
from server import MtlsServer
from tests import pki
from tests.support import PKITestCase, Quiet

CALLER = 'spiffe://mesh.internal/python-client'
SERVER = 'spiffe://mesh.internal/python-server'


class ServerClientTests(PKITestCase):
    def setUp(self):
        # The server's leaf names localhost so check_hostname works on 127.0.0.1.
        self.server_dir = self.cert_dir('server')
        self.install(self.server_dir, 'python-server', dns='localhost')
        self.watcher = CredentialWatcher('server', self.server_dir, self.pin_file, Quiet(), settle_s=0)
        self.watcher.check()
        self.stats = Stats(os.path.join(self.tmp, 'server-stats.json'), 'python', 'server', ('ok', 'refused'))
        self.log = Quiet()
        self.server = MtlsServer(('127.0.0.1', 0), self.watcher, [CALLER], self.stats, self.log)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.1})
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def client_watcher(self, name, ca=None):
        d = self.cert_dir(name)
        self.install(d, name, ca=ca)
        w = CredentialWatcher('client', d, self.pin_file, Quiet(), settle_s=0)
        w.check()
        return w

    def get(self, context, path='/'):
        conn = http.client.HTTPSConnection('localhost', self.port, context=context, timeout=5)
        try:
            conn.request('GET', path)
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def test_allowed_caller_gets_200_with_both_identities(self):
        w = self.client_watcher('python-client')
        status, body = self.get(w.current.context)
        self.assertEqual(status, 200)
        self.assertEqual((body['server'], body['peer']), (SERVER, CALLER))
        self.assertEqual(body['serial'], self.watcher.current.serial)

    def test_unlisted_identity_gets_403(self):
        w = self.client_watcher('intruder')
        status, body = self.get(w.current.context)
        self.assertEqual(status, 403)
        self.assertEqual(body['peer'], ['spiffe://mesh.internal/intruder'])
        self.assertEqual(self.stats.counters['refused'], 1)

    def test_no_certificate_and_foreign_certificate_fail_the_handshake(self):
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bare.load_verify_locations(self.ca.root_crt)
        with self.assertRaises(ssl.SSLError) as e:
            self.get(bare)
        self.assertIn('CERTIFICATE_REQUIRED', e.exception.reason)
        site, key = pki.self_signed(self.tmp, 'python-client')
        crt = os.path.join(self.tmp, 'self-chain.crt')
        pki.replace(crt, site)
        bare.load_cert_chain(crt, key)
        with self.assertRaises(ssl.SSLError) as e:
            self.get(bare)
        self.assertIn('UNKNOWN_CA', e.exception.reason)

    def test_malformed_requests_do_not_stop_the_server(self):
        w = self.client_watcher('python-client')
        ctx = w.current.context
        for raw in (b'\x00\xff garbage\r\n\r\n', b'GET / HTTP/1.1\r\n' + b'X-Big: ' + b'a' * 9000 + b'\r\n\r\n',
                    b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\n\r\n', b'GET / HTTP/9.9\r\n\r\n',
                    b'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello'):
            with socket.create_connection(('127.0.0.1', self.port)) as raw_sock:
                with ctx.wrap_socket(raw_sock, server_hostname='localhost') as tls:
                    tls.sendall(raw)
                    reply = tls.recv(4096)
                    self.assertRegex(reply, rb'^HTTP/1\.1 (400|405|414|431|505) ')
        with socket.create_connection(('127.0.0.1', self.port)) as raw_sock:
            raw_sock.sendall(b'not tls at all\r\n\r\n')  # a handshake failure
            raw_sock.recv(100)
        self.assertEqual(self.get(ctx)[0], 200)

    def test_rotation_applies_to_new_connections(self):
        w = self.client_watcher('python-client')
        before = self.get(w.current.context)[1]['serial']
        self.install(self.server_dir, 'python-server', dns='localhost')
        self.assertTrue(self.watcher.check())
        after = self.get(w.current.context)[1]['serial']
        self.assertNotEqual(before, after)
        self.assertEqual(after, self.watcher.current.serial)

    def test_client_checks_the_server_identity(self):
        w = self.client_watcher('python-client')
        stop = threading.Event()
        stats = Stats(os.path.join(self.tmp, 'client-stats.json'), 'python', 'client', ('ok', 'failed', 'retries'))
        cfg = {'host': 'localhost', 'port': self.port, 'expected': SERVER, 'timeout': 2}
        caller = client_mod.Caller(cfg, w, stats, Quiet())
        self.assertTrue(caller.call(stop))
        self.assertEqual(stats.fields['serverSerial'], self.watcher.current.serial)
        caller.cfg = {**cfg, 'expected': 'spiffe://mesh.internal/someone-else'}
        self.assertFalse(caller.call(stop))
        self.assertIn('identity mismatch', caller.last_error)
        self.assertEqual(stats.counters, {'ok': 1, 'failed': 1, 'retries': 0}, 'a refusal is not retried')
        caller.cfg = {**cfg, 'host': '127.0.0.1', 'expected': SERVER}  # not a name in the server's leaf
        self.assertFalse(caller.call(stop))
        self.assertIn('mismatch, certificate is not valid', caller.last_error)


if __name__ == '__main__':
    unittest.main()
