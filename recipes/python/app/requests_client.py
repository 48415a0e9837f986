#!/usr/bin/env python3
"""mTLS HTTP client with requests (Session + HTTPAdapter over urllib3).

The same loop, retries, stats and credentials as client.py (the stdlib
client); only the call differs. One requests.Session per credential set: its
HTTPAdapter hands urllib3 the SSLContext that mtls_load built and verified,
and the Session keeps the connection to the server alive between calls. A
reload makes a new Session with a new adapter (new pool, new handshakes with
the new context) and closes the old one between two calls, so no call is cut.

The server's name is verified in the handshake (the context keeps
check_hostname on, server_hostname = TARGET_HOST), its chain against our
root only; then, on each new connection, the leaf's URI SAN must be
EXPECTED_SERVER_IDENTITY before a request is sent."""

import ipaddress

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

import client
from client import CallError, Unreachable, failure_reason
from mtls_common import ConfigError
from mtls_load import normalise_serial, uris_of


class ContextAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections use one SSLContext and only its trust,
    and check the server's URI SAN right after each handshake.

    requests' cert_verify gives every pool a CA bundle when verify is True
    (certifi's, or Debian's system bundle), and urllib3 loads that bundle into
    the context it is given (load_verify_locations): cleared here, so the
    public CAs are never added to ours. cert_reqs stays CERT_REQUIRED."""

    def __init__(self, context, expected):
        self.tls_context, self.expected = context, expected  # init_poolmanager (called by __init__) needs them
        self.server_cert = None  # the leaf of the connection opened last (a pool of one)
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs, ssl_context=self.tls_context)
        adapter = self

        class Connection(HTTPSConnection):
            def connect(self):
                super().connect()  # the handshake: our root only, the name TARGET_HOST
                cert = self.sock.getpeercert()
                identities = uris_of(cert)
                if adapter.expected not in identities:
                    self.close()  # before any request is sent
                    raise CallError(f'identity mismatch: server presented {identities}', retry=False)
                adapter.server_cert = cert

        class Pool(HTTPSConnectionPool):
            ConnectionCls = Connection

        self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, 'https': Pool}

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None


def new_session(context, expected):
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc or REQUESTS_CA_BUNDLE from the environment
    session.mount('https://', ContextAdapter(context, expected))
    return session


def causes(e):
    """The exception and what it wraps, outermost first: requests wraps
    urllib3's MaxRetryError, whose reason wraps the socket or ssl error. A
    context the raiser suppressed is not followed (urllib3 1.26 raises the TLS
    alert `from None` over its own TypeError)."""
    seen = []
    while isinstance(e, BaseException) and all(e is not s for s in seen):
        seen.append(e)
        context = None if e.__suppress_context__ else e.__context__
        inner = [getattr(e, 'reason', None), *e.args, e.__cause__, context]
        e = next((x for x in inner if isinstance(x, BaseException)), None)
    return seen


def translated(e):
    """The error client.Caller classifies: no connection is Unreachable (a
    start-up retry before the first success), otherwise the innermost error."""
    chain = causes(e)
    root = chain[-1]
    if any(isinstance(x, NewConnectionError) for x in chain):  # a subclass of ConnectTimeoutError
        return Unreachable(failure_reason(root), refused=isinstance(root, ConnectionRefusedError))
    if any(isinstance(x, ConnectTimeoutError) for x in chain):
        return Unreachable('connection: no connection within the timeout')
    return root


class RequestsCaller(client.Caller):
    @staticmethod
    def configured(cfg):
        try:
            ipaddress.ip_address(cfg['host'])
        except ValueError:
            return cfg
        # urllib3 1.26 gives OpenSSL no server name for an address, and a context
        # that checks names then refuses every handshake (ValueError).
        raise ConfigError('TARGET_HOST must be a DNS name (the server name this client verifies), '
                          f"not an address: {cfg['host']}")

    def __init__(self, cfg, watcher, stats, log):
        super().__init__(cfg, watcher, stats, log)
        self.url = f'https://{cfg["host"]}:{cfg["port"]}/'
        self.session, self.session_creds = None, None

    def session_for(self, creds):
        """The Session of this credential set; a new one after a reload."""
        if creds is not self.session_creds:
            old = self.session
            self.session, self.session_creds = new_session(creds.context, self.cfg['expected']), creds
            if old is not None:
                old.close()
                self.log.info('new session', serial=creds.serial)
        return self.session

    def call_once(self, creds, timeout):
        session = self.session_for(creds)
        try:
            response = session.get(self.url, headers={'Accept': 'application/json'}, timeout=timeout, stream=True)
        except requests.RequestException as e:
            raise translated(e) from None
        try:
            size = 0
            for chunk in response.iter_content(8192):
                size += len(chunk)
                if size > client.MAX_BODY_BYTES:
                    raise CallError(f'answer larger than {client.MAX_BODY_BYTES} bytes', retry=False)
            if response.status_code != 200:
                raise CallError(f'http {response.status_code}', retry=response.status_code >= 500)
            return normalise_serial(session.get_adapter(self.url).server_cert['serialNumber'])
        except requests.RequestException as e:
            raise translated(e) from None
        finally:
            response.close()  # a fully read answer gives the connection back to the pool


if __name__ == '__main__':
    client.main(RequestsCaller, 'requests')
