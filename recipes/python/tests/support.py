"""Fixtures shared by the tests: a temporary PKI and credential directories."""

import os
import shutil
import tempfile
import unittest

from mtls_common import Logger
from tests import pki


class Quiet(Logger):
    """Keeps log lines in a list so tests can assert on them."""

    def __init__(self):
        super().__init__('test', 'debug')
        self.lines = []

    def child(self, component):
        return self

    def log(self, level, msg, **fields):
        self.lines.append({'level': level, 'msg': msg, **fields})


class PKITestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='mtls-python-test-')
        cls.ca = pki.CA(cls.tmp, 'good')
        cls.other = pki.CA(cls.tmp, 'other')
        cls.pin_file = os.path.join(cls.tmp, 'root-fingerprints')
        with open(cls.pin_file, 'w') as f:
            f.write(f'# the test root\n{cls.ca.pin()}\n')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cert_dir(self, name):
        d = tempfile.mkdtemp(dir=self.tmp, prefix=f'{name}-')
        return d

    def install(self, out, name, ca=None, **leaf):
        ca = ca or self.ca
        site, key = ca.leaf(name, **leaf)
        with open(ca.root_crt) as f:
            pki.install(out, f.read(), site, key)
        return site, key
