// The axios workload in-process (services/axios) against the reference
// server: calls through an axios instance whose httpsAgent is the reference
// client's (private root only, our certificate, the server's identity checked
// after its chain); a server that is not who we expect, or not from our root,
// is refused for its exact reason; a 403 is a failed call; a hostile root.crt
// is refused while calls go on; start-up waits are not failures; a rotation
// of our own certificate builds a new agent without a restart.
import { X509Certificate } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { type AxiosClientOptions, AxiosMtlsClient } from '../../../services/axios/app.js';
import { fingerprintOf } from '../../../services/lib/root-pins.js';
import { type Leaf, makeTempDir } from '../../helpers/pki.js';
import {
  CLIENT_DNS,
  clientTestOptions,
  createCertDir,
  type ServedMesh,
  serveMesh,
  SERVER_DNS,
  SERVER_URI,
  startServer,
  type TestPki,
} from './helpers/fixtures.js';
import { adminGet, captureLogs, freePort, within } from './helpers/harness.js';

let served: ServedMesh;
let pki: TestPki;
let pins: { path: string; remove(): Promise<void> };
let pinFile: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  served = await serveMesh('axios-suite-server', { maxConnectionAgeMs: 200 });
  pki = served.pki;
  pins = await makeTempDir('axios-pins');
  pinFile = join(pins.path, 'root-fingerprints');
  await writeFile(pinFile, `${fingerprintOf(new X509Certificate(pki.mesh.root.certPem))}\n`);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await served?.stop();
  await pins?.remove();
});

/** An axios client with its own cert dir (root pinned), calling every 20 ms; stopped and removed after the test. */
async function runAxios(leaf: Leaf, options: Partial<AxiosClientOptions> = {}) {
  const dir = await createCertDir(pki, 'axios-client');
  await dir.write(leaf);
  const { logger, lines } = captureLogs();
  const client = new AxiosMtlsClient({
    ...clientTestOptions(dir.path, logger),
    rootPinFile: pinFile,
    targetUrl: `https://127.0.0.1:${served.port}/`,
    expectedServerIdentity: SERVER_URI,
    requestIntervalMs: 20,
    ...options,
  });
  await client.start();
  cleanups.push(async () => {
    await client.stop();
    await dir.remove();
  });
  return { client, dir, logs: lines };
}

const successes = (client: AxiosMtlsClient, atLeast: number) =>
  waitFor(`${atLeast} successful calls`, () => client.tracker.successes >= atLeast, within(10_000));

/** Replaces root.crt by rename, as the renewer writes it: the watcher never reads half a file. */
async function replaceRoot(certDir: string, content: string): Promise<void> {
  await writeFile(join(certDir, '.root.crt.tmp'), content);
  await rename(join(certDir, '.root.crt.tmp'), join(certDir, 'root.crt'));
}

describe('calls', () => {
  it('calls the server as an allowed identity, checks it is the expected one, and reports like the reference client', async () => {
    const leaf = await pki.clientLeaf();
    const { client } = await runAxios(leaf);
    await successes(client, 3);
    expect(client.stats()).toMatchObject({
      role: 'client',
      state: 'running',
      expectedServerIdentity: SERVER_URI,
      agentGeneration: 1,
      requests: { failures: 0, startupRetries: 0 },
      serverSerial: served.leaf.serial,
      serverSerials: [served.leaf.serial],
      lastResponse: { status: 200, body: { identity: CLIENT_DNS, clientSerial: leaf.serial, serverSerial: served.leaf.serial, tlsVersion: 'TLSv1.3' } },
    });
    const health = await adminGet(client.adminPort, '/healthz');
    expect([health.status, health.body.status, health.body.role]).toEqual([200, 'ready', 'client']);
    expect(health.body.detail).toMatch(/^calling https:\/\/127\.0\.0\.1:\d+\/ with axios; certificate /);
  });

  it('refuses a server from our root that presents another identity (identity_mismatch), before sending anything', async () => {
    const { client } = await runAxios(await pki.clientLeaf(), { expectedServerIdentity: 'spiffe://mesh.internal/go-server' });
    await waitFor('a failure', () => client.tracker.failures >= 1, within());
    expect(client.stats().lastError).toMatchObject({
      reason: 'identity_mismatch',
      message: `server certificate ${served.leaf.serial} presents ${SERVER_DNS}, ${SERVER_URI}, expected spiffe://mesh.internal/go-server`,
    });
    expect(client.tracker.successes).toBe(0);
  });

  it('refuses a server whose certificate (with the expected identity) comes from another CA', async () => {
    const foreign = await createCertDir(pki, 'axios-foreign-server');
    await foreign.write(await pki.other.issue({ commonName: 'server', dns: [SERVER_DNS], uris: [SERVER_URI] }), pki.other.root.certPem);
    const server = await startServer(foreign.path);
    cleanups.push(async () => {
      await server.stop();
      await foreign.remove();
    });
    const { client } = await runAxios(await pki.clientLeaf(), { targetUrl: `https://127.0.0.1:${await server.port()}/` });
    await waitFor('a failure', () => client.tracker.failures >= 1, within());
    expect(client.stats().lastError).toMatchObject({ reason: 'tls', message: 'unable to get local issuer certificate' });
  });

  it('counts a 403 from a server whose allow-list does not name us as a failed call, with the refusal', async () => {
    const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'] });
    const { client } = await runAxios(intruder);
    await waitFor('a failure', () => client.tracker.failures >= 1, within());
    expect(client.stats()).toMatchObject({
      lastError: { reason: 'http_403', message: 'server answered 403' },
      lastResponse: { status: 403, body: { error: 'forbidden', identity: ['intruder.mesh.internal'] } },
    });
  });

  it('retries a server that is not listening yet as start-up, not as failures', async () => {
    const port = await freePort();
    const { client } = await runAxios(await pki.clientLeaf(), { targetUrl: `https://127.0.0.1:${port}/`, retryInitialDelayMs: 20, retryMaxDelayMs: 50 });
    await waitFor('start-up retries', () => client.tracker.startupRetries >= 2, within());
    const late = await startServer(served.dir.path, { listenPort: port });
    cleanups.push(() => late.stop());
    await successes(client, 2);
    expect(client.stats().requests).toMatchObject({ failures: 0, startupRetries: expect.any(Number) });
  });
});

describe('credentials', () => {
  it('refuses a hostile root.crt (foreign_block) and keeps calling with the trust and certificate it had', async () => {
    const leaf = await pki.clientLeaf();
    const { client, dir } = await runAxios(leaf);
    await successes(client, 2);
    const relabelled = pki.other.root.certPem.trim().replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE');
    await replaceRoot(dir.path, `${pki.mesh.root.certPem.trim()}\n${relabelled}\n`);
    await waitFor('the refusal', () => client.credentials.failedReloads === 1, within());
    expect(client.stats().credentials).toMatchObject({ serial: leaf.serial, lastFailure: { problem: 'foreign_block' } });
    const after = client.tracker.successes;
    await successes(client, after + 3);
    expect(client.stats()).toMatchObject({ agentGeneration: 1, requests: { failures: 0 } });
  });

  it('builds a new agent for its own new certificate, without a restart and without a failed call', async () => {
    const { client, dir, logs } = await runAxios(await pki.clientLeaf());
    await successes(client, 2);
    const startedAt = client.stats().startedAt;
    const next = await pki.clientLeaf();
    await dir.write(next);
    await waitFor(
      'a call with the new certificate',
      () => (client.stats().lastResponse?.body as { clientSerial?: string } | undefined)?.clientSerial === next.serial,
      within(),
    );
    expect(client.stats()).toMatchObject({ startedAt, agentGeneration: 2, credentials: { serial: next.serial, reloads: 1 }, requests: { failures: 0 } });
    expect(logs.filter((line) => line.msg === 'new https agent').map((line) => [line['generation'], line['library']])).toEqual([
      [1, 'axios'],
      [2, 'axios'],
    ]);
  });
});
