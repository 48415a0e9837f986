// The Express workload in-process (services/express): the reference server's
// handshake policy around an Express app, identity by SAN in a middleware
// (403 with the reference body), the trust-file contract on root.crt, and a
// rotation picked up by setSecureContext without a restart. Calls are made
// the way the e2e suite calls a published server (mtlsRequest), so the codes
// pinned here are the ones test/e2e/20-recipes.test.ts expects.
import { X509Certificate } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { mtlsRequest } from '../../../scripts/lib/identity/mtls-request.js';
import { AxiosMtlsClient } from '../../../services/axios/app.js';
import { ExpressMtlsServer, type ExpressServerOptions } from '../../../services/express/app.js';
import { fingerprintOf } from '../../../services/lib/root-pins.js';
import { type Leaf, makeTempDir } from '../../helpers/pki.js';
import {
  ALLOWED,
  type CertDir,
  CLIENT_DNS,
  CLIENT_URI,
  createCertDir,
  createTestPki,
  SERVER_DNS,
  SERVER_URI,
  serverTestOptions,
  type TestPki,
} from './helpers/fixtures.js';
import { adminGet, captureLogs, type LogLine, sample, within } from './helpers/harness.js';

let pki: TestPki;
let dir: CertDir;
let pins: { path: string; remove(): Promise<void> };
let first: Leaf;
let client: Leaf;
let server: ExpressMtlsServer;
let logs: LogLine[];
let port: number;

/** Starts an Express server on free ports over `certDir`, its root pinned to the mesh's. */
async function startExpress(certDir: string, pinFile: string, options: Partial<ExpressServerOptions> = {}) {
  const { logger, lines } = captureLogs();
  const started = new ExpressMtlsServer({ ...serverTestOptions(certDir, logger), rootPinFile: pinFile, ...options });
  await started.start();
  return { server: started, logs: lines, port: (await started.serving()).port };
}

beforeAll(async () => {
  pki = await createTestPki();
  pins = await makeTempDir('express-pins');
  await writeFile(join(pins.path, 'root-fingerprints'), `${fingerprintOf(new X509Certificate(pki.mesh.root.certPem))}\n`);
  dir = await createCertDir(pki, 'express');
  first = await pki.serverLeaf();
  client = await pki.clientLeaf();
  await dir.write(first);
  ({ server, logs, port } = await startExpress(dir.path, join(pins.path, 'root-fingerprints')));
});

afterAll(async () => {
  await server?.stop();
  await dir?.remove();
  await pins?.remove();
});

const call = (leaf: Leaf | undefined, path = '/') =>
  mtlsRequest(`https://127.0.0.1:${port}/`, { ca: pki.mesh.root.certPem, cert: leaf?.bundlePem, key: leaf?.keyPem, servername: SERVER_DNS, path });
const handshakeFailures = (reason: string) => server.metrics.handshakeFailures.get({ reason });

/** Replaces root.crt by rename, as the renewer writes it: the watcher never reads half a file. */
async function replaceRoot(certDir: string, content: string): Promise<void> {
  await writeFile(join(certDir, '.root.crt.tmp'), content);
  await rename(join(certDir, '.root.crt.tmp'), join(certDir, 'root.crt'));
}

describe('who gets in', () => {
  it('answers an allowed identity with the reference body: identity, serials, TLS 1.3', async () => {
    const response = await call(client);
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      identity: CLIENT_DNS,
      identities: [CLIENT_DNS, CLIENT_URI],
      clientSerial: client.serial,
      serverSerial: first.serial,
      serverNotAfter: new Date(new X509Certificate(first.certPem).validTo).toISOString(),
      tlsVersion: 'TLSv1.3',
    });
    expect(server.metrics.requests.get({ identity: CLIENT_DNS, status: '200' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a valid certificate whose identity is not on the allow-list: 403 with the refused identities', async () => {
    const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'], uris: ['spiffe://mesh.internal/intruder'] });
    for (const path of ['/', '/metrics', '/nowhere']) {
      const response = await call(intruder, path);
      expect(response.status, path).toBe(403);
      expect(response.json, path).toEqual({
        error: 'forbidden',
        identity: ['intruder.mesh.internal', 'spiffe://mesh.internal/intruder'],
        reason: 'none of the identities in the client certificate is on the allow-list',
      });
      expect(response.body, 'the 403 does not tell what is allowed').not.toContain(ALLOWED[0]);
    }
    expect(server.metrics.requests.get({ identity: 'intruder.mesh.internal', status: '403' })).toBe(3);
    expect(logs.filter((line) => line.msg === 'request refused')).toEqual([expect.objectContaining({ kind: 'forbidden', clientSerial: expect.any(String) })]);
  });

  it('fails the handshake without a client certificate: certificate_required', async () => {
    const before = handshakeFailures('no_certificate');
    await expect(call(undefined)).rejects.toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    await waitFor('no_certificate counted', () => handshakeFailures('no_certificate') === before + 1, within());
  });

  it('fails the handshake for a self-signed certificate with the allowed identity in it: unknown_ca', async () => {
    const before = handshakeFailures('unknown_ca');
    await expect(call(await pki.selfSignedClientLeaf())).rejects.toMatchObject({ code: 'ECONNRESET' });
    await waitFor('unknown_ca counted', () => handshakeFailures('unknown_ca') === before + 1, within());
  });

  it('fails the handshake for a certificate from another CA: unknown_ca', async () => {
    const before = handshakeFailures('unknown_ca');
    const stranger = await pki.other.issue({ commonName: 'client', dns: [CLIENT_DNS] });
    await expect(call(stranger)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await waitFor('unknown_ca counted', () => handshakeFailures('unknown_ca') === before + 1, within());
  });

  it('answers an unknown path 404 as JSON, and /metrics to an allowed caller', async () => {
    expect(await call(client, '/nowhere')).toMatchObject({ status: 404, json: { error: 'not found' } });
    const metrics = await call(client, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('mtls_server_requests_total');
  });
});

describe('health, stats and metrics on the admin port', () => {
  it('is ready while serving, with the reference stats shape (role server)', async () => {
    const health = await adminGet(server.adminPort, '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ready', role: 'server', serial: expect.any(String) });
    expect(health.body.detail).toMatch(/^serving mTLS \(Express\) on 127\.0\.0\.1:\d+; certificate /);
    const stats = await adminGet(server.adminPort, '/stats');
    expect(stats.body).toMatchObject({
      role: 'server',
      state: 'serving',
      listen: { host: '127.0.0.1', port },
      allowedIdentities: ALLOWED,
      credentials: { state: 'loaded', failedReloads: 0 },
      requests: { total: expect.any(Number), byIdentity: { [CLIENT_DNS]: { '200': expect.any(Number) } } },
    });
    const metrics = (await adminGet(server.adminPort, '/metrics')).text;
    expect(sample(metrics, 'mtls_credentials_loaded')).toBe(1);
  });
});

describe('root.crt under the trust-file contract', () => {
  it.each([
    ['a foreign root appended as a plain CERTIFICATE', 'unpinned', () => `${pki.mesh.root.certPem.trim()}\n${pki.other.root.certPem.trim()}\n`],
    [
      'a foreign root appended as TRUSTED CERTIFICATE',
      'foreign_block',
      () => `${pki.mesh.root.certPem.trim()}\n${pki.other.root.certPem.trim().replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE')}\n`,
    ],
  ])('refuses %s (%s), keeps its credentials and trust, and keeps serving', async (_name, reason, content) => {
    const failed = server.credentials.failedReloads;
    await replaceRoot(dir.path, content());
    await waitFor('the refusal', () => server.credentials.failedReloads > failed, within());
    expect(server.credentials.lastFailure?.problem).toBe(reason);
    expect(server.credentials.current?.serial).toBe(first.serial);
    // The foreign CA's clients stay out; ours still get in.
    await expect(call(await pki.other.issue({ commonName: 'client', dns: [CLIENT_DNS] }))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect((await call(client)).status).toBe(200);
    const health = await adminGet(server.adminPort, '/healthz');
    expect(health.body.detail).toMatch(new RegExp(`; the .* refused \\(${reason}\\): root\\.crt `));
    await replaceRoot(dir.path, pki.mesh.root.certPem);
  });
});

describe('rotation', () => {
  it('serves a new certificate to new connections without a restart; an open keep-alive connection keeps its own', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem, servername: SERVER_DNS });
    try {
      const startedAt = server.stats().startedAt;
      const before = await mtlsRequest(`https://127.0.0.1:${port}/`, { ca: pki.mesh.root.certPem, agent, servername: SERVER_DNS });
      expect(before.json?.['serverSerial']).toBe(first.serial);
      const second = await pki.serverLeaf();
      await dir.write(second);
      await waitFor('the reload', () => server.credentials.current?.serial === second.serial, within());
      const kept = await mtlsRequest(`https://127.0.0.1:${port}/`, { ca: pki.mesh.root.certPem, agent, servername: SERVER_DNS });
      expect([kept.status, kept.reusedSocket, kept.json?.['serverSerial']]).toEqual([200, true, first.serial]);
      const fresh = await call(client);
      expect([fresh.status, fresh.peerSerial, fresh.json?.['serverSerial']]).toEqual([200, second.serial, second.serial]);
      expect(server.stats()).toMatchObject({ startedAt, state: 'serving', credentials: { serial: second.serial } });
      expect(logs.filter((line) => line.msg === 'serving new certificate to new connections')).toHaveLength(1);
    } finally {
      agent.destroy();
    }
  });
});

describe('with the axios client calling', () => {
  it('both rotate twice under its calls: new serials on both sides, no restart, 0 failed calls', async () => {
    const serverDir = await createCertDir(pki, 'express-pair-server');
    const clientDir = await createCertDir(pki, 'express-pair-client');
    const pinFile = join(pins.path, 'root-fingerprints');
    await serverDir.write(await pki.serverLeaf());
    await clientDir.write(await pki.clientLeaf());
    // Keep-alive connections re-handshake after 200 ms, so the client meets each new server certificate.
    const pair = await startExpress(serverDir.path, pinFile, { maxConnectionAgeMs: 200 });
    const { logger } = captureLogs();
    const caller = new AxiosMtlsClient({
      certDir: clientDir.path,
      rootPinFile: pinFile,
      targetUrl: `https://127.0.0.1:${pair.port}/`,
      expectedServerIdentity: SERVER_URI,
      requestIntervalMs: 20,
      adminPort: 0,
      reloadDebounceMs: 30,
      logger,
    });
    await caller.start();
    try {
      const seen = () => caller.stats().lastResponse?.body as { clientSerial?: string; serverSerial?: string } | undefined;
      await waitFor('first calls', () => caller.tracker.successes >= 3, within());
      const startedAt = [pair.server.stats().startedAt, caller.stats().startedAt];
      for (let round = 1; round <= 2; round++) {
        const [serverLeaf, clientLeaf] = [await pki.serverLeaf(), await pki.clientLeaf()];
        await serverDir.write(serverLeaf);
        await clientDir.write(clientLeaf);
        await waitFor(
          `round ${round} seen by both`,
          () => seen()?.serverSerial === serverLeaf.serial && seen()?.clientSerial === clientLeaf.serial,
          within(10_000),
        );
      }
      const before = caller.tracker.successes;
      await waitFor('calls after the rotations', () => caller.tracker.successes >= before + 5, within());
      expect([pair.server.stats().startedAt, caller.stats().startedAt]).toEqual(startedAt);
      expect(pair.server.stats().credentials.reloads).toBe(2);
      expect(caller.stats()).toMatchObject({ agentGeneration: 3, requests: { failures: 0 }, credentials: { reloads: 2 } });
      expect(caller.stats().serverSerials).toHaveLength(3);
    } finally {
      await caller.stop();
      await pair.server.stop();
      await serverDir.remove();
      await clientDir.remove();
    }
  });
});
