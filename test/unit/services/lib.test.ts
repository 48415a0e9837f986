// The shared building blocks on their own: credential validation, identity
// parsing, env parsing, backoff, the probe (the metrics registry: metrics.test.ts).
import { beforeAll, describe, expect, it } from 'vitest';

import { jsonResponse, startAdminServer } from '../../../services/lib/admin.js';
import { backoffDelay } from '../../../services/lib/backoff.js';
import { ConfigError, readInteger, readList, readLogLevel, readString, readUrl } from '../../../services/lib/config.js';
import { credentialHealth, credentialReadiness } from '../../../services/lib/credential-status.js';
import { CredentialError, validateCredentials } from '../../../services/lib/credentials.js';
import { AllowList, identitiesFromSubjectAltName, parseIdentity, parseSubjectAltName } from '../../../services/lib/identity.js';
import { classifyHandshakeFailure, classifyRequestFailure } from '../../../services/lib/tls-errors.js';
import { runProbe } from '../../../services/probe/probe.js';
import { createIntermediateCa, issueLeaf, type Leaf } from '../../helpers/pki.js';
import { createTestPki, type TestPki } from './helpers/fixtures.js';

let pki: TestPki;
let leaf: Leaf;

beforeAll(async () => {
  pki = await createTestPki();
  leaf = await pki.serverLeaf();
});

const files = (overrides: Partial<{ rootPem: string; certPem: string; keyPem: string }> = {}) => ({
  rootPem: pki.mesh.root.certPem,
  certPem: leaf.bundlePem,
  keyPem: leaf.keyPem,
  ...overrides,
});

function problemOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof CredentialError) return error.problem;
    throw error;
  }
  return 'accepted';
}

describe('validateCredentials', () => {
  it('accepts a leaf chained through its intermediate to the root and reports its facts', () => {
    const credentials = validateCredentials(files());
    expect(credentials.serial).toBe(leaf.serial);
    expect(credentials.identities).toEqual([
      { kind: 'dns', value: 'server.mesh.internal' },
      { kind: 'uri', value: 'spiffe://mesh.internal/server' },
    ]);
    expect(credentials.notAfter.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses each broken input with a precise problem', async () => {
    const stranger = await pki.other.issue({ commonName: 'x', dns: ['x.mesh.internal'] });
    const expired = await pki.mesh.issue({
      commonName: 'x',
      dns: ['x.mesh.internal'],
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    const future = await pki.mesh.issue({
      commonName: 'x',
      dns: ['x.mesh.internal'],
      notBefore: new Date(Date.now() + 3600_000),
      notAfter: new Date(Date.now() + 7200_000),
    });
    const nameless = await pki.mesh.issue({ commonName: 'x' });
    const selfSigned = await pki.selfSignedClientLeaf();
    expect(problemOf(() => validateCredentials(files({ certPem: '' })))).toBe('malformed');
    expect(problemOf(() => validateCredentials(files({ certPem: leaf.bundlePem.slice(0, -40) })))).toBe('malformed');
    expect(problemOf(() => validateCredentials(files({ keyPem: 'garbage' })))).toBe('malformed');
    expect(problemOf(() => validateCredentials(files({ certPem: leaf.keyPem })))).toBe('malformed');
    expect(problemOf(() => validateCredentials(files({ keyPem: stranger.keyPem })))).toBe('key_mismatch');
    expect(problemOf(() => validateCredentials(files({ certPem: stranger.bundlePem, keyPem: stranger.keyPem })))).toBe('untrusted');
    expect(problemOf(() => validateCredentials(files({ certPem: leaf.certPem })))).toBe('untrusted'); // intermediate missing
    expect(problemOf(() => validateCredentials(files({ certPem: selfSigned.bundlePem, keyPem: selfSigned.keyPem })))).toBe('untrusted');
    expect(problemOf(() => validateCredentials(files({ certPem: expired.bundlePem, keyPem: expired.keyPem })))).toBe('expired');
    expect(problemOf(() => validateCredentials(files({ certPem: future.bundlePem, keyPem: future.keyPem })))).toBe('not_yet_valid');
    expect(problemOf(() => validateCredentials(files({ certPem: nameless.bundlePem, keyPem: nameless.keyPem })))).toBe('no_identity');
    const weak = await pki.mesh.issue({ commonName: 'x', dns: ['x.mesh.internal'], rsaBits: 512 });
    expect(problemOf(() => validateCredentials(files({ certPem: weak.bundlePem, keyPem: weak.keyPem })))).toBe('unusable');
  });

  it('follows a chain with two intermediates and accepts several roots in root.crt', async () => {
    const second = await createIntermediateCa(pki.mesh.intermediate, 'Mesh Issuing CA 2');
    const deep = await issueLeaf(second, { commonName: 'deep', dns: ['deep.mesh.internal'] });
    const roots = `${pki.other.root.certPem}\n${pki.mesh.root.certPem}`;
    expect(validateCredentials({ rootPem: roots, certPem: deep.bundlePem, keyPem: deep.keyPem }).serial).toBe(deep.serial);
  });

  it('names the rejected certificate but never includes key material in the message', () => {
    const error = (() => {
      try {
        validateCredentials(files({ keyPem: leaf.keyPem.replace(/[A-Za-z]/g, 'A') }));
      } catch (caught) {
        return caught as CredentialError;
      }
      throw new Error('accepted');
    })();
    expect(error.certificate?.serial).toBe(leaf.serial);
    expect(error.message).not.toContain('AAAA');
  });
});

describe('identity', () => {
  it('parses Node subjectAltName text, including JSON-quoted values', () => {
    expect(parseSubjectAltName('DNS:a.example, URI:"spiffe://x/a\\u002cb", IP Address:10.0.0.1')).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'spiffe://x/a,b' },
      { type: 'IP Address', value: '10.0.0.1' },
    ]);
    expect(identitiesFromSubjectAltName('URI:spiffe://x/y, DNS:A.Example, IP Address:10.0.0.1').map((i) => i.value)).toEqual(['a.example', 'spiffe://x/y']);
    expect(identitiesFromSubjectAltName(undefined)).toEqual([]);
  });

  it('matches DNS names case-insensitively, URIs exactly, and never across kinds', () => {
    const allow = new AllowList(['Client.Mesh.Internal', 'spiffe://mesh.internal/client']);
    expect(allow.match([{ kind: 'dns', value: 'client.mesh.internal' }])?.value).toBe('client.mesh.internal');
    expect(allow.match([{ kind: 'uri', value: 'spiffe://mesh.internal/client' }])?.value).toBe('spiffe://mesh.internal/client');
    expect(allow.match([{ kind: 'uri', value: 'spiffe://mesh.internal/Client' }])).toBeUndefined();
    expect(allow.match([{ kind: 'uri', value: 'client.mesh.internal' }])).toBeUndefined();
    expect(allow.match([])).toBeUndefined();
  });

  it('refuses wildcards, malformed names and an empty allow-list', () => {
    expect(() => parseIdentity('*.mesh.internal')).toThrow(/wildcard/);
    expect(() => parseIdentity('bad name')).toThrow(/invalid DNS identity "bad name"/);
    expect(() => parseIdentity('spiffe:// bad')).toThrow(/invalid URI identity/);
    expect(() => new AllowList([])).toThrow(/empty/);
  });
});

describe('env parsing', () => {
  it('applies defaults and rejects bad values with the offending text', () => {
    expect(readString({}, 'CERT_DIR', '/var/run/step')).toBe('/var/run/step');
    expect(readInteger({ LISTEN_PORT: ' 8443 ' }, 'LISTEN_PORT', 1)).toBe(8443);
    expect(readList({ ALLOWED_IDENTITIES: 'a.example, ,spiffe://x/y' }, 'ALLOWED_IDENTITIES')).toEqual(['a.example', 'spiffe://x/y']);
    expect(readLogLevel({ LOG_LEVEL: 'DEBUG' })).toBe('debug');
    expect(() => readString({}, 'ALLOWED_IDENTITIES')).toThrow(new ConfigError('ALLOWED_IDENTITIES is required'));
    expect(() => readInteger({ ADMIN_PORT: '90x' }, 'ADMIN_PORT', 9100, { min: 0, max: 65535 })).toThrow(/ADMIN_PORT .* got "90x"/);
    expect(() => readList({ ALLOWED_IDENTITIES: ' , ' }, 'ALLOWED_IDENTITIES')).toThrow(/at least one/);
    expect(readUrl({ TARGET_URL: 'https://server.mesh.internal:8443/' }, 'TARGET_URL').port).toBe('8443');
    expect(() => readUrl({ TARGET_URL: 'not a url' }, 'TARGET_URL')).toThrow(/absolute URL, got "not a url"/);
    expect(() => readLogLevel({ LOG_LEVEL: 'loud' })).toThrow(/got "loud"/);
  });
});

describe('failure classification and backoff', () => {
  it('classifies handshake failures from the error code and the socket verification result', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(classifyHandshakeFailure(Object.assign(new Error('x'), { code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }), null)).toBe('no_certificate');
    expect(classifyHandshakeFailure(reset, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY')).toBe('unknown_ca');
    expect(classifyHandshakeFailure(reset, 'CERT_HAS_EXPIRED')).toBe('expired');
    expect(classifyHandshakeFailure(reset, 'INVALID_PURPOSE')).toBe('bad_certificate');
    expect(classifyHandshakeFailure(reset, null)).toBe('other');
  });

  it('classifies request failures', () => {
    const error = (code: string) => Object.assign(new Error(code), { code });
    expect(classifyRequestFailure(error('ERR_MTLS_IDENTITY_MISMATCH'))).toBe('identity_mismatch');
    expect(classifyRequestFailure(error('ERR_MTLS_TIMEOUT'))).toBe('timeout');
    expect(classifyRequestFailure(error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))).toBe('tls');
    expect(classifyRequestFailure(error('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'))).toBe('tls');
    expect(classifyRequestFailure(error('ECONNREFUSED'))).toBe('connection');
    expect(classifyRequestFailure(error('EWHATEVER'))).toBe('other');
  });

  it('doubles the delay per failure up to the cap, with jitter in the upper half', () => {
    const at = (failures: number, random: number) => backoffDelay(failures, { initialMs: 100, maxMs: 1_000, random: () => random });
    expect([1, 2, 3, 4, 5, 10].map((n) => at(n, 0.999999))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3, 4, 5, 10].map((n) => at(n, 0))).toEqual([50, 100, 200, 400, 500, 500]);
  });
});

describe('probe', () => {
  it('exits 0 for a healthy admin endpoint, 1 for an unhealthy or unreachable one, 2 for bad usage', async () => {
    let healthy = true;
    const admin = await startAdminServer({
      port: 0,
      endpoints: {
        '/healthz': () => jsonResponse(healthy ? 200 : 503, { status: healthy ? 'ok' : 'expired' }),
        '/stats': () => jsonResponse(200, { role: 'test' }),
      },
    });
    try {
      const out: string[] = [];
      const probe = (args: string[], port = admin.port) => runProbe(args, { adminPort: port, out: (text) => out.push(text), err: (text) => out.push(text) });
      expect(await probe(['health'])).toBe(0);
      expect(await probe(['get', '/stats'])).toBe(0);
      expect(out.at(-1)).toBe('{"role":"test"}\n');
      expect(await probe(['get', '/nope'])).toBe(1);
      healthy = false;
      expect(await probe(['health'])).toBe(1);
      expect(await probe(['launch'])).toBe(2);
      expect(await probe(['get', 'metrics'])).toBe(2);
      const closedPort = admin.port;
      await admin.close();
      expect(await probe(['health'], closedPort)).toBe(1);
      expect(out.at(-1)).toContain('is the workload running');
    } finally {
      await admin.close().catch(() => undefined);
    }
  });
});

describe('credential readiness (the health vocabulary of both roles)', () => {
  type Watcher = Parameters<typeof credentialReadiness>[0];
  const watcher = (w: { current?: unknown; lastFailure?: unknown; refusing?: boolean; lastReloadAt?: Date }) => w as unknown as Watcher;
  const loaded = () => ({ ...validateCredentials(files(), new Date()), digest: 'd' });

  it('waiting before anything loaded; unhealthy while the files on disk are refused and nothing loaded; waiting again once they are gone', () => {
    expect(credentialReadiness(watcher({}))).toEqual({ status: 'waiting', detail: expect.stringMatching(/^no credentials yet/) });
    const failure = { at: new Date(), problem: 'key_mismatch', message: 'site.key does not match' };
    expect(credentialReadiness(watcher({ lastFailure: failure, refusing: true }))).toEqual({
      status: 'unhealthy',
      detail: 'credentials refused (key_mismatch): site.key does not match',
    });
    expect(credentialReadiness(watcher({ lastFailure: failure, refusing: false })).status).toBe('waiting');
    expect(credentialHealth(watcher({}))).toEqual({ healthy: false, status: 'waiting' });
    expect(credentialHealth(watcher({ lastFailure: failure, refusing: true }))).toEqual({ healthy: false, status: 'refused' });
  });

  it('ready with a valid certificate (saying while newer files on disk are refused); unhealthy once it expired', () => {
    const current = loaded();
    const loadedAt = new Date(Date.now() - 1000);
    expect(credentialReadiness(watcher({ current, lastReloadAt: loadedAt }))).toEqual({
      status: 'ready',
      detail: `certificate ${leaf.serial} valid until ${current.notAfter.toISOString()}`,
    });
    const refused = { at: new Date(), problem: 'not_pinned', message: 'root.crt holds a root that is not pinned' };
    expect(credentialReadiness(watcher({ current, lastReloadAt: loadedAt, lastFailure: refused, refusing: true })).detail).toMatch(
      /; the files on disk were refused \(not_pinned\): root.crt holds/,
    );
    expect(credentialReadiness(watcher({ current, lastReloadAt: loadedAt, lastFailure: refused, refusing: false })).detail).not.toMatch(/refused/);
    const later = new Date(current.notAfter.getTime() + 1000);
    expect(credentialReadiness(watcher({ current, lastReloadAt: loadedAt }), later)).toEqual({
      status: 'unhealthy',
      detail: `certificate ${leaf.serial} expired at ${current.notAfter.toISOString()}`,
    });
    expect(credentialHealth(watcher({ current, lastReloadAt: loadedAt }))).toEqual({ healthy: true, status: 'ok' });
    expect(credentialHealth(watcher({ current, lastReloadAt: loadedAt }), later)).toEqual({ healthy: false, status: 'expired' });
  });
});
