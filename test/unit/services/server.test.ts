// The mTLS server end to end, in-process: handshake policy, identity-based
// authorisation, metrics, admin listener. Its start and stop: server-lifecycle.test.ts.
import { X509Certificate } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import type { Leaf } from '../../helpers/pki.js';
import { ALLOWED, CLIENT_DNS, createCertDir, type RunningServer, type ServedMesh, serveMesh, startServer, type TestPki } from './helpers/fixtures.js';
import { adminGet, httpsGet, sample, within } from './helpers/harness.js';

let served: ServedMesh;
let pki: TestPki;
let serverLeaf: Leaf;
let running: RunningServer;
let port: number;

beforeAll(async () => {
  served = await serveMesh('server');
  ({ pki, leaf: serverLeaf, running, port } = served);
});

afterAll(async () => served?.stop());

const ca = () => pki.mesh.root.certPem;
const call = (leaf: Leaf | undefined, path = '/') => httpsGet({ port, ca: ca(), cert: leaf?.bundlePem, key: leaf?.keyPem, path });
const handshakeFailures = (reason: string) => running.server.metrics.handshakeFailures.get({ reason });

describe('authorised clients', () => {
  it('answers 200 with the DNS identity, both serials, and the TLS version', async () => {
    const client = await pki.clientLeaf();
    const response = await call(client);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      identity: CLIENT_DNS,
      identities: [CLIENT_DNS, 'spiffe://mesh.internal/client'],
      clientSerial: client.serial,
      serverSerial: serverLeaf.serial,
      serverNotAfter: expect.any(String),
      tlsVersion: 'TLSv1.3',
    });
    expect(response.peerSerial).toBe(serverLeaf.serial);
  });

  it('matches a URI SAN when no DNS SAN is allowed', async () => {
    const client = await pki.mesh.issue({ commonName: 'uri-client', dns: ['unlisted.mesh.internal'], uris: ['spiffe://mesh.internal/uri-only-client'] });
    const response = await call(client);
    expect(response.status).toBe(200);
    expect(response.body.identity).toBe('spiffe://mesh.internal/uri-only-client');
    expect(response.body.identities).toEqual(['unlisted.mesh.internal', 'spiffe://mesh.internal/uri-only-client']);
  });

  it('refuses a verified client whose identity is not allowed with 403 and the refused identity', async () => {
    const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'], uris: ['spiffe://mesh.internal/intruder'] });
    const before = running.server.metrics.requests.get({ identity: 'intruder.mesh.internal', status: '403' });
    const response = await call(intruder);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      error: 'forbidden',
      identity: ['intruder.mesh.internal', 'spiffe://mesh.internal/intruder'],
      reason: expect.stringContaining('allow-list'),
    });
    // The 403 must not leak what IS allowed.
    expect(response.text).not.toContain(ALLOWED[0]);
    expect(running.server.metrics.requests.get({ identity: 'intruder.mesh.internal', status: '403' })).toBe(before + 1);
  });

  it('does not serve /metrics to a forbidden identity', async () => {
    const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'] });
    const response = await call(intruder, '/metrics');
    expect(response.status).toBe(403);
    expect(response.text).not.toContain('mtls_server_requests_total');
  });
});

describe('handshake policy', () => {
  it('fails the handshake without a client certificate and counts no_certificate', async () => {
    const before = handshakeFailures('no_certificate');
    await expect(call(undefined)).rejects.toMatchObject({ code: expect.stringMatching(/^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/) });
    await waitFor('no_certificate counted', () => handshakeFailures('no_certificate') === before + 1, within());
  });

  it('fails the handshake for a certificate from another CA and counts unknown_ca', async () => {
    const before = handshakeFailures('unknown_ca');
    const stranger = await pki.other.issue({ commonName: 'client', dns: [CLIENT_DNS] });
    await expect(call(stranger)).rejects.toThrow();
    await waitFor('unknown_ca counted', () => handshakeFailures('unknown_ca') === before + 1, within());
  });

  it('fails the handshake for a self-signed certificate (unknown_ca)', async () => {
    const before = handshakeFailures('unknown_ca');
    await expect(call(await pki.selfSignedClientLeaf())).rejects.toThrow();
    await waitFor('unknown_ca counted', () => handshakeFailures('unknown_ca') === before + 1, within());
  });

  it('fails the handshake for an expired client certificate and counts expired', async () => {
    const before = handshakeFailures('expired');
    await expect(call(await pki.expiredClientLeaf())).rejects.toThrow();
    await waitFor('expired counted', () => handshakeFailures('expired') === before + 1, within());
    const line = running.logs.find((entry) => entry.msg === 'tls handshake failed' && entry['reason'] === 'expired');
    expect(line?.['verifyError']).toBe('CERT_HAS_EXPIRED');
  });
});

describe('metrics and admin listener', () => {
  it('refuses requests with 401 once the client certificate has expired on a connection that outlived it', async () => {
    const { Agent } = await import('node:https');
    const shortLived = await pki.mesh.issue({ commonName: CLIENT_DNS, dns: [CLIENT_DNS], notAfter: new Date(Date.now() + 1_500) });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca(), cert: shortLived.bundlePem, key: shortLived.keyPem });
    try {
      const first = await httpsGet({ port, ca: ca(), cert: shortLived.bundlePem, key: shortLived.keyPem, agent });
      expect(first.status).toBe(200);
      await waitFor('expiry', () => Date.now() > Date.parse(new X509Certificate(shortLived.certPem).validTo) + 200, within(5_000));
      const after = await httpsGet({ port, ca: ca(), cert: shortLived.bundlePem, key: shortLived.keyPem, agent });
      expect(after.reusedSocket).toBe(true);
      expect(after.status).toBe(401);
      expect(after.body).toMatchObject({ error: 'certificate_expired', identity: [CLIENT_DNS] });
    } finally {
      agent.destroy();
    }
  });

  it('reports exact request and handshake counts in Prometheus text, on mTLS and on the admin port', async () => {
    // A fresh server so the counts are exactly what this test did.
    const own = await createCertDir(pki, 'metrics');
    await own.write(serverLeaf);
    const fresh = await startServer(own.path);
    const freshPort = await fresh.port();
    try {
      const client = await pki.clientLeaf();
      const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'] });
      await httpsGet({ port: freshPort, ca: ca(), cert: client.bundlePem, key: client.keyPem });
      await httpsGet({ port: freshPort, ca: ca(), cert: client.bundlePem, key: client.keyPem });
      await httpsGet({ port: freshPort, ca: ca(), cert: intruder.bundlePem, key: intruder.keyPem });
      await expect(httpsGet({ port: freshPort, ca: ca() })).rejects.toThrow();
      await waitFor('handshake failure counted', () => fresh.server.metrics.handshakeFailures.get({ reason: 'no_certificate' }) === 1, within());

      const overMtls = await httpsGet({ port: freshPort, ca: ca(), cert: client.bundlePem, key: client.keyPem, path: '/metrics' });
      expect(overMtls.status).toBe(200);
      const admin = await adminGet(fresh.server.adminPort, '/metrics');
      expect(admin.status).toBe(200);
      // The mTLS /metrics call is counted once answered: the admin scrape after it sees 3.
      for (const [text, answered] of [
        [overMtls.text, 2],
        [admin.text, 3],
      ] as const) {
        expect(sample(text, `mtls_server_requests_total{identity="${CLIENT_DNS}",status="200"}`)).toBe(answered);
        expect(sample(text, 'mtls_server_requests_total{identity="intruder.mesh.internal",status="403"}')).toBe(1);
        expect(sample(text, 'mtls_server_handshake_failures_total{reason="no_certificate"}')).toBe(1);
        expect(sample(text, 'mtls_server_handshake_failures_total{reason="unknown_ca"}')).toBe(0);
        expect(sample(text, `mtls_certificate_info{serial="${serverLeaf.serial}"}`)).toBe(1);
        expect(sample(text, 'mtls_certificate_not_after_seconds')).toBe(Math.floor(fresh.server.credentials.current!.notAfter.getTime() / 1000));
        expect(sample(text, 'mtls_credentials_loaded')).toBe(1);
        expect(sample(text, 'mtls_credential_reloads_total')).toBe(0);
        expect(sample(text, 'mtls_credential_reload_failures_total')).toBe(0);
        expect(text).toContain('# TYPE mtls_server_requests_total counter');
      }
    } finally {
      await fresh.stop();
      await own.remove();
    }
  });

  it('serves /healthz and /stats on 127.0.0.1 only', async () => {
    const health = await adminGet(running.server.adminPort, '/healthz');
    expect(health).toMatchObject({ status: 200, body: { status: 'ready', role: 'server', serial: serverLeaf.serial } });
    const notAfter = running.server.credentials.current!.notAfter.toISOString();
    expect(health.body.detail).toBe(`serving mTLS on 127.0.0.1:${port}; certificate ${serverLeaf.serial} valid until ${notAfter}`);
    const stats = await adminGet(running.server.adminPort, '/stats');
    expect(stats.body).toMatchObject({
      role: 'server',
      state: 'serving',
      listen: { host: '127.0.0.1', port },
      allowedIdentities: ALLOWED,
      credentials: {
        state: 'loaded',
        serial: serverLeaf.serial,
        reloads: 0,
        failedReloads: 0,
        identities: ['server.mesh.internal', 'spiffe://mesh.internal/server'],
      },
    });
    expect(stats.body.requests.byIdentity[CLIENT_DNS]['200']).toBeGreaterThan(0);
    // Bound to loopback only: unreachable from the mesh network and the host.
    expect(running.server.adminAddress.host).toBe('127.0.0.1');
  });
});
