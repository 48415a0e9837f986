import os
import unittest

from mtls_credentials import CredentialWatcher
from mtls_load import CredentialError, load, parse_pins
from tests import pki
from tests.support import PKITestCase, Quiet


class CredentialTests(PKITestCase):
    def watcher(self, d, settle_s=0.0):
        return CredentialWatcher('server', d, self.pin_file, Quiet(), settle_s=settle_s, recheck_s=0.0)

    def test_reload_picks_up_a_new_serial(self):
        d = self.cert_dir('reload')
        self.install(d, 'python-server')
        w = self.watcher(d)
        self.assertTrue(w.check())
        first = w.current
        self.assertEqual(first.uris, ['spiffe://mesh.internal/python-server'])
        self.assertFalse(w.check(), 'nothing changed, nothing reloaded')
        self.install(d, 'python-server')
        self.assertTrue(w.check())
        self.assertNotEqual(w.current.serial, first.serial)
        self.assertEqual((w.reloads, w.failed_reloads), (2, 0))
        self.assertRegex(w.current.serial, r'^[1-9A-F][0-9A-F]*$')

    def test_unpinned_root_is_refused_and_the_old_context_kept(self):
        d = self.cert_dir('pin')
        self.install(d, 'python-server')
        w = self.watcher(d)
        w.check()
        old = w.current
        self.install(d, 'python-server', ca=self.other)  # root.crt and site.crt swapped together
        self.assertFalse(w.check())
        self.assertIs(w.current, old)
        self.assertEqual(w.failed_reloads, 1)
        self.assertIn('does not pin', w.last_error)
        self.assertIn(self.other.pin(), w.last_error)

    def test_mismatched_pair_is_refused_and_the_old_context_kept(self):
        d = self.cert_dir('mismatch')
        self.install(d, 'python-server')
        w = self.watcher(d)
        w.check()
        old = w.current
        _, key = self.ca.leaf('python-server')
        with open(key, 'rb') as f:
            pki.replace(os.path.join(d, 'site.key'), f.read(), 0o600)  # key without its certificate
        self.assertFalse(w.check())
        self.assertIs(w.current, old)
        self.assertEqual(w.failed_reloads, 1)
        self.assertIn('does not match', w.last_error)

    def test_the_renewers_swap_window_is_not_a_failed_reload(self):
        d = self.cert_dir('window')
        self.install(d, 'python-server')
        w = self.watcher(d, settle_s=3.0)
        w.check(now=0)
        old = w.current
        site, key = self.ca.leaf('python-server')
        with open(key, 'rb') as f:
            pki.replace(os.path.join(d, 'site.key'), f.read(), 0o600)
        self.assertFalse(w.check(now=1))  # new key, old certificate: wait
        self.assertIs(w.current, old)
        pki.replace(os.path.join(d, 'site.crt'), site)
        self.assertTrue(w.check(now=2))
        self.assertEqual(w.failed_reloads, 0)

    def test_expired_leaf_and_garbage_are_refused_without_raising(self):
        d = self.cert_dir('expired')
        self.install(d, 'python-server', minutes=-1, start_offset_min=-5)
        with self.assertRaises(CredentialError) as e:
            load('server', d, self.pin_file)
        self.assertIn('certificate has expired', str(e.exception))
        for name, junk in (('site.crt', b'\x00garbage'), ('site.key', b'-----BEGIN ' + b'PRIVATE KEY-----\nxx\n'),
                           ('root.crt', b'not a pem at all')):
            self.install(d, 'python-server')
            pki.replace(os.path.join(d, name), junk)
            with self.assertRaises(CredentialError):
                load('server', d, self.pin_file)

    def test_waiting_for_files_and_pin(self):
        d = self.cert_dir('waiting')
        w = self.watcher(d)
        self.assertFalse(w.check())
        self.assertIsNone(w.current)
        self.assertEqual(w.failed_reloads, 0, 'waiting is not a failure')
        self.install(d, 'python-server')
        w.pin_file = os.path.join(d, 'absent')
        self.assertFalse(w.check())
        self.assertEqual(w.failed_reloads, 0)

    def test_leaf_from_another_ca_under_the_pinned_root_is_refused(self):
        d = self.cert_dir('foreign')
        site, key = self.other.leaf('python-server')
        with open(self.ca.root_crt) as f:
            pki.install(d, f.read(), site, key)  # pinned root, foreign chain
        with self.assertRaises(CredentialError) as e:
            load('client', d, self.pin_file)
        self.assertIn('does not verify', str(e.exception))

    def test_pin_file_format(self):
        pin = 'AB:' * 31 + 'AB'
        self.assertEqual(parse_pins(f'# comment\n\n{pin}  # trailing\n'), {'ab' * 32})
        with self.assertRaises(CredentialError):
            parse_pins('# nothing pinned\n')
        with self.assertRaises(CredentialError):
            parse_pins('abc\n')


if __name__ == '__main__':
    unittest.main()
