"""Throw-away test PKI made with the openssl command (keys live only in the
temporary directory given): a root, an intermediate under it, and leaves
with SAN DNS <name>.mesh.internal and URI spiffe://mesh.internal/<name>,
CN = the DNS name. `openssl ca` is used so validity can be minutes.

Also a small CLI for trying the recipe by hand:
  python3 tests/pki.py DIR ca NAME                 # DIR/NAME/{root,int}.{crt,key}
  python3 tests/pki.py DIR leaf CA NAME MINUTES OUT # OUT/{root.crt,site.crt,site.key}, key first
  python3 tests/pki.py DIR pin CA                  # prints the root's SHA-256 (DER)
"""

import hashlib
import os
import ssl
import subprocess
import sys
from datetime import datetime, timedelta, timezone

CA_CONF = """[ca]
default_ca = ca_default
[ca_default]
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
"""


def run(*args):
    done = subprocess.run(['openssl', *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f'openssl {args[0]} failed: {done.stderr.strip()}')


def stamp(dt):
    return dt.astimezone(timezone.utc).strftime('%Y%m%d%H%M%SZ')


def new_key(path):
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path)
    os.chmod(path, 0o600)


class CA:
    """A root and an intermediate in base/name/."""

    def __init__(self, base, name):
        self.dir = os.path.join(base, name)
        os.makedirs(os.path.join(self.dir, 'issued'), exist_ok=True)
        self.root_crt, self.root_key = self._p('root.crt'), self._p('root.key')
        self.int_crt, self.int_key = self._p('int.crt'), self._p('int.key')
        if os.path.exists(self.int_crt):
            return
        with open(self._p('index.txt'), 'w'):
            pass
        with open(self._p('serial'), 'w') as f:
            f.write(os.urandom(8).hex().upper() + '\n')  # -rand_serial picks the real ones
        with open(self._p('ca.cnf'), 'w') as f:
            f.write(CA_CONF.format(dir=self.dir))
        with open(self._p('ext.cnf'), 'w') as f:
            f.write('[req]\ndistinguished_name=dn\n[dn]\n'
                    '[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
                    'subjectKeyIdentifier=hash\n'
                    '[int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n'
                    'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n')
        new_key(self.root_key)
        run('req', '-x509', '-new', '-key', self.root_key, '-out', self.root_crt, '-days', '2',
            '-subj', f'/CN={name} Test Root', '-config', self._p('ext.cnf'), '-extensions', 'root')
        new_key(self.int_key)
        run('req', '-new', '-key', self.int_key, '-out', self._p('int.csr'), '-subj', f'/CN={name} Intermediate',
            '-config', self._p('ext.cnf'))
        self._sign(self.root_crt, self.root_key, self._p('int.csr'), self.int_crt, 'int', self._p('ext.cnf'),
                   datetime.now(timezone.utc) - timedelta(minutes=5), datetime.now(timezone.utc) + timedelta(days=1))

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _sign(self, ca_crt, ca_key, csr, out, section, extfile, start, end):
        run('ca', '-batch', '-config', self._p('ca.cnf'), '-cert', ca_crt, '-keyfile', ca_key, '-in', csr,
            '-out', out, '-notext', '-rand_serial', '-startdate', stamp(start), '-enddate', stamp(end),
            '-extfile', extfile, '-extensions', section)

    def pin(self):
        with open(self.root_crt) as f:
            return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()

    def leaf(self, name, minutes=60, start_offset_min=-0.2, uri=None, dns=None):
        """Valid from start_offset_min to `minutes` from now; returns (site.crt text =
        leaf + intermediate, key path)."""
        dns = dns or f'{name}.mesh.internal'
        uri = uri or f'spiffe://mesh.internal/{name}'
        n = len(os.listdir(os.path.join(self.dir, 'issued')))
        key, csr, crt, ext = (self._p(f'{name}-{n}.{x}') for x in ('key', 'csr', 'crt', 'cnf'))
        with open(ext, 'w') as f:
            f.write(f'[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
                    f'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:{dns},URI:{uri}\n'
                    f'authorityKeyIdentifier=keyid\n')
        new_key(key)
        run('req', '-new', '-key', key, '-out', csr, '-subj', f'/CN={dns}', '-config', self._p('ext.cnf'))
        now = datetime.now(timezone.utc)
        self._sign(self.int_crt, self.int_key, csr, crt, 'leaf', ext,
                   now + timedelta(minutes=start_offset_min), now + timedelta(minutes=minutes))
        with open(crt) as a, open(self.int_crt) as b:
            return a.read() + b.read(), key


def self_signed(base, name):
    """A leaf-shaped certificate from no CA at all (for refusal tests)."""
    key, crt = os.path.join(base, f'{name}-self.key'), os.path.join(base, f'{name}-self.crt')
    cnf = os.path.join(base, 'req.cnf')
    with open(cnf, 'w') as f:
        f.write('[req]\ndistinguished_name=dn\n[dn]\n')
    new_key(key)
    run('req', '-x509', '-new', '-key', key, '-out', crt, '-days', '1', '-subj', f'/CN={name}.mesh.internal',
        '-config', cnf, '-addext', f'subjectAltName=DNS:{name}.mesh.internal,URI:spiffe://mesh.internal/{name}',
        '-addext', 'extendedKeyUsage=serverAuth,clientAuth')
    with open(crt) as f:
        return f.read(), key


def replace(path, data, mode=0o644):
    """Write by rename, as the renewer does."""
    tmp = f'{path}.tmp'
    with open(tmp, 'w' if isinstance(data, str) else 'wb') as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install(out, root_text, site_text, key_path):
    """The renewer's order: root, then site.key, then site.crt."""
    os.makedirs(out, exist_ok=True)
    replace(os.path.join(out, 'root.crt'), root_text)
    with open(key_path, 'rb') as f:
        replace(os.path.join(out, 'site.key'), f.read(), 0o600)
    replace(os.path.join(out, 'site.crt'), site_text)


def main(argv):
    base, what, *rest = argv
    if what == 'ca':
        CA(base, rest[0])
    elif what == 'pin':
        print(CA(base, rest[0]).pin())
    elif what == 'leaf':
        ca_name, name, minutes, out = rest
        ca = CA(base, ca_name)
        site, key = ca.leaf(name, float(minutes))
        with open(ca.root_crt) as f:
            install(out, f.read(), site, key)
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
