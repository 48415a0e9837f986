"""The trust-file contract (recipes/README.md): root.crt is refused as a
whole, with the contract's reason, unless it is a small regular file of
exact CERTIFICATE blocks that are all pinned; the credentials in use stay,
and OpenSSL trusts the pinned roots only."""

import http.client
import os
import ssl
import threading
import unittest

from mtls_common import Stats
from mtls_credentials import CredentialWatcher
from server import MtlsServer
from tests import pki
from tests.support import PKITestCase, Quiet

CALLER = 'spiffe://mesh.internal/python-client'


def pem_of(ca):
    with open(ca.root_crt) as f:
        return f.read().strip() + '\n'


def relabel(pem, label):
    return pem.replace('BEGIN CERTIFICATE', f'BEGIN {label}').replace('END CERTIFICATE', f'END {label}')


class TrustFileTests(PKITestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.next = pki.CA(cls.tmp, 'next')  # a second pinned root, as in a root rotation
        cls.trust_pins = os.path.join(cls.tmp, 'trust-fingerprints')
        with open(cls.trust_pins, 'w') as f:
            f.write(f'{cls.ca.pin()}\n{cls.next.pin()}\n')
        pinned, second, foreign = pem_of(cls.ca), pem_of(cls.next), pem_of(cls.other)
        with open(os.path.join(cls.ca.dir, 'root.key')) as f:
            key_pem = f.read()
        cls.pinned = pinned
        # (name, root.crt content, is a symlink to it, reason)
        cls.hostile = [
            ('foreign root appended as TRUSTED CERTIFICATE', pinned + relabel(foreign, 'TRUSTED CERTIFICATE'), False, 'foreign_block'),
            ('foreign root appended as X509 CERTIFICATE', pinned + relabel(foreign, 'X509 CERTIFICATE'), False, 'foreign_block'),
            ('foreign root appended under a label with a trailing space',
             pinned + foreign.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE----- '), False, 'foreign_block'),
            ('PRIVATE KEY block appended', pinned + key_pem, False, 'foreign_block'),
            ('X509 CRL block appended', pinned + relabel(foreign, 'X509 CRL'), False, 'foreign_block'),
            ('foreign plain root before the pinned ones', foreign + pinned + second, False, 'unpinned'),
            ('foreign plain root after the pinned ones', pinned + second + foreign, False, 'unpinned'),
            ('foreign plain root between two pinned ones', pinned + foreign + second, False, 'unpinned'),
            ('the pinned root as DER', ssl.PEM_cert_to_DER_cert(pinned), False, 'not_pem'),
            ('empty file', '', False, 'no_certificate'),
            ('10 MB of pinned roots', pinned * (10_000_000 // len(pinned) + 1), False, 'too_large'),
            ('symlink to a valid pinned file', pinned, True, 'not_regular_file'),
            ('text outside the blocks', 'subject=CN = good Test Root\n' + pinned, False, 'stray_text'),
            ('a body character outside base64', pinned.replace('-----\nM', '-----\n*', 1), False, 'bad_base64'),
            ('a body that is not whole base64', pinned.replace('-----\nM', '-----\nMA', 1), False, 'bad_base64'),
        ]
        cls.accepted = [
            ('one pinned root', pinned, [cls.ca.pin()]),
            ('two pinned roots', pinned + '\n' + second, [cls.ca.pin(), cls.next.pin()]),
            ('CRLF line endings', (pinned + second).replace('\n', '\r\n'), [cls.ca.pin(), cls.next.pin()]),
        ]

    def setUp(self):
        # The server's leaf names localhost so the callers' hostname check works on 127.0.0.1.
        self.dir = self.cert_dir('trust')
        self.install(self.dir, 'python-server', dns='localhost')
        self.log = Quiet()
        self.watcher = CredentialWatcher('server', self.dir, self.trust_pins, self.log, settle_s=0, recheck_s=0)
        self.assertTrue(self.watcher.check())
        self.serial = self.watcher.current.serial

    def write_root(self, content, symlink=False):
        root = os.path.join(self.dir, 'root.crt')
        if not symlink:
            pki.replace(root, content)
            return
        target = os.path.join(self.dir, 'elsewhere.crt')
        pki.replace(target, content)
        os.remove(root)
        os.symlink(target, root)

    def test_hostile_root_files_are_refused_with_the_reason_and_the_credentials_kept(self):
        for name, content, symlink, reason in self.hostile:
            with self.subTest(name):
                in_use, failed = self.watcher.current, self.watcher.failed_reloads
                self.log.lines.clear()
                self.write_root(content, symlink)
                self.assertFalse(self.watcher.check())
                self.assertEqual(self.watcher.failed_reloads, failed + 1)
                self.assertEqual(self.watcher.last_error.split(':', 1)[0], reason)
                refusal = [line for line in self.log.lines if line['msg'].startswith('reload refused')]
                self.assertEqual([line['problem'] for line in refusal], [reason])
                self.assertIs(self.watcher.current, in_use)
                self.assertEqual(self.watcher.current.serial, self.serial)
                self.write_root(self.pinned)
                self.watcher.check()

    def test_pinned_root_files_are_accepted(self):
        for name, content, pins in self.accepted:
            with self.subTest(name):
                failed = self.watcher.failed_reloads
                self.write_root(content)
                self.watcher.check()
                self.assertEqual(self.watcher.failed_reloads, failed, self.watcher.last_error)
                self.assertEqual(self.watcher.current.roots, pins)
                self.assertEqual(self.watcher.current.serial, self.serial)

    def test_a_foreign_ca_client_is_refused_after_a_foreign_root_is_appended_in_another_label(self):
        # OpenSSL's PEM reader takes `X509 CERTIFICATE` for a certificate: given
        # root.crt itself, it would trust that block without any pin check.
        stats = Stats(os.path.join(self.dir, 'stats.json'), 'python', 'server', ('ok', 'refused'))
        server = MtlsServer(('127.0.0.1', 0), self.watcher, [CALLER], stats, Quiet())
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1})
        thread.start()
        # A foreign CA's leaf naming an allowed caller.
        site, key = self.other.leaf('python-client')
        chain = os.path.join(self.dir, 'intruder.crt')
        pki.replace(chain, site)
        intruder = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        intruder.load_verify_locations(self.ca.root_crt)
        intruder.load_cert_chain(chain, key)
        try:
            for label in ('TRUSTED CERTIFICATE', 'X509 CERTIFICATE'):
                with self.subTest(label):
                    self.write_root(self.pinned + relabel(pem_of(self.other), label))
                    self.watcher.check()
                    conn = http.client.HTTPSConnection('localhost', server.server_address[1], context=intruder, timeout=5)
                    try:
                        with self.assertRaises(ssl.SSLError) as refused:
                            conn.request('GET', '/')
                            conn.getresponse().read()
                    finally:
                        conn.close()
                    self.assertIn('UNKNOWN_CA', refused.exception.reason)
                    self.assertEqual((self.watcher.last_error or '').split(':', 1)[0], 'foreign_block')
                    self.assertEqual(self.watcher.current.serial, self.serial)
                    self.write_root(self.pinned)
                    self.watcher.check()
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


if __name__ == '__main__':
    unittest.main()
