// The mTLS client against the real server, in-process: server identity
// pinning, failure reasons, own-certificate rotation with a new agent,
// observing server rotation, waiting for enrollment, metrics.
import { createSecureContext } from 'node:tls';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { createAgent } from '../../../services/client/agent.js';
import { getOnce } from '../../../services/client/request.js';
import { readCredentialFiles, validateCredentials } from '../../../services/lib/credentials.js';
import { parseIdentity } from '../../../services/lib/identity.js';
import type { Leaf } from '../../helpers/pki.js';
import {
  type CertDir,
  CLIENT_DNS,
  createCertDir,
  type RunningClient,
  type ServedMesh,
  serveMesh,
  SERVER_URI,
  startClient,
  startServer,
  type TestPki,
} from './helpers/fixtures.js';
import { adminGet, sample, within } from './helpers/harness.js';

let served: ServedMesh;
let pki: TestPki;
let serverLeaf: Leaf;
let targetUrl: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  served = await serveMesh('client-suite-server', { maxConnectionAgeMs: 200 });
  ({ pki, leaf: serverLeaf } = served);
  targetUrl = `https://127.0.0.1:${served.port}/`;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => served?.stop());

/** A client with its own cert dir, stopped and removed after the test. */
async function runClient(
  leaf: Leaf | undefined,
  options: Parameters<typeof startClient>[1] = { targetUrl: '' },
): Promise<{ running: RunningClient; dir: CertDir }> {
  const dir = await createCertDir(pki, 'client');
  if (leaf) await dir.write(leaf);
  const running = await startClient(dir.path, { ...options, targetUrl: options.targetUrl || targetUrl });
  cleanups.push(async () => {
    await running.stop();
    await dir.remove();
  });
  return { running, dir };
}

describe('server identity', () => {
  it('succeeds against the expected DNS identity and records what it saw', async () => {
    const leaf = await pki.clientLeaf();
    const { running } = await runClient(leaf);
    await waitFor('three successes', () => running.client.tracker.successes >= 3, within());
    const stats = running.client.stats();
    expect(stats).toMatchObject({
      role: 'client',
      state: 'running',
      expectedServerIdentity: 'server.mesh.internal',
      serverSerial: serverLeaf.serial,
      serverSerials: [serverLeaf.serial],
      agentGeneration: 1,
      credentials: { state: 'loaded', serial: leaf.serial },
      requests: { failures: 0, consecutiveFailures: 0, startupRetries: 0 },
      lastResponse: { status: 200, body: { identity: CLIENT_DNS, clientSerial: leaf.serial, serverSerial: serverLeaf.serial } },
      lastError: null,
    });
    expect(Date.parse(stats.lastSuccessAt ?? '')).toBeGreaterThan(Date.now() - 5_000);
    expect(running.logs.filter((line) => line.msg === 'first successful request')).toHaveLength(1);
  });

  it('succeeds against the expected URI identity', async () => {
    const { running } = await runClient(await pki.clientLeaf(), { targetUrl: '', expectedServerIdentity: SERVER_URI });
    await waitFor('a success', () => running.client.tracker.successes >= 1, within());
    expect(running.client.tracker.failures).toBe(0);
  });

  it('refuses a server that is not the expected identity, even with a valid chain', async () => {
    const { running } = await runClient(await pki.clientLeaf(), { targetUrl: '', expectedServerIdentity: 'other.mesh.internal' });
    await waitFor('three failures', () => running.client.tracker.failures >= 3, within());
    const stats = running.client.stats();
    expect(stats.requests.successes).toBe(0);
    expect(stats.requests.failuresByReason).toEqual({ identity_mismatch: stats.requests.failures });
    expect(stats.lastError?.reason).toBe('identity_mismatch');
    expect(stats.lastError?.message).toContain('expected other.mesh.internal');
    expect(stats.serverSerials).toEqual([]);
    // Logged once for the streak, not per request.
    expect(running.logs.filter((line) => line.msg === 'request failed')).toHaveLength(1);
  });

  it('reports http_403 when the server does not allow its identity', async () => {
    const stranger = await pki.mesh.issue({ commonName: 'stranger', dns: ['stranger.mesh.internal'] });
    const { running } = await runClient(stranger);
    await waitFor('failures', () => running.client.tracker.failures >= 2, within());
    expect(running.client.stats()).toMatchObject({
      requests: { successes: 0, failuresByReason: { http_403: running.client.tracker.failures } },
      lastResponse: { status: 403, body: { error: 'forbidden', identity: ['stranger.mesh.internal'] } },
    });
  });

  it('names its own expired certificate as the reason once it runs out, and stats say expired', async () => {
    // Valid for two more seconds: loaded normally, then it expires in use.
    const shortLived = await pki.mesh.issue({ commonName: CLIENT_DNS, dns: [CLIENT_DNS], notAfter: new Date(Date.now() + 2_000) });
    const { running } = await runClient(shortLived);
    await waitFor('a success while valid', () => running.client.tracker.successes >= 1, within());
    await waitFor('a failure after expiry', () => (running.client.stats().requests.failuresByReason['own_certificate_expired'] ?? 0) >= 1, within(10_000));
    expect(running.client.stats().credentials.state).toBe('expired');
    expect(running.client.stats().lastError?.message).toContain(`our certificate ${shortLived.serial} expired`);
  });

  it('reports a TLS failure for a server from another CA', async () => {
    const otherDir = await createCertDir(pki, 'foreign-server');
    await otherDir.write(await pki.other.issue({ commonName: 'server', dns: ['server.mesh.internal'] }), pki.other.root.certPem);
    const foreign = await startServer(otherDir.path);
    cleanups.push(async () => {
      await foreign.stop();
      await otherDir.remove();
    });
    const { running } = await runClient(await pki.clientLeaf(), { targetUrl: `https://127.0.0.1:${await foreign.port()}/` });
    await waitFor('failures', () => running.client.tracker.failures >= 2, within());
    expect(running.client.tracker.successes).toBe(0);
    expect(running.client.stats().lastError?.reason).toBe('tls');
  });

  it('reports connection failures and backs off', async () => {
    const { freePort } = await import('./helpers/harness.js');
    // No start-up budget: every connection error is a failure at once (retries: retries.test.ts).
    const { running } = await runClient(await pki.clientLeaf(), {
      targetUrl: `https://127.0.0.1:${await freePort()}/`,
      backoffInitialMs: 100,
      backoffMaxMs: 400,
      startupRetryBudgetMs: 0,
    });
    await waitFor('failures', () => running.client.tracker.failures >= 3, within(5_000));
    const startedAt = Date.parse(running.client.stats().startedAt);
    const elapsed = Date.now() - startedAt;
    expect(running.client.stats().lastError?.reason).toBe('connection');
    // At 50 req/s without backoff this would be ~elapsed/20 failures.
    expect(running.client.tracker.failures).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 1);
  });
});

describe('agent', () => {
  it('gives all its connections one secure context and keeps no key PEM in its options', async () => {
    const dir = await createCertDir(pki, 'agent');
    cleanups.push(() => dir.remove());
    await dir.write(await pki.clientLeaf());
    const agent = createAgent(validateCredentials(await readCredentialFiles(dir.path)), parseIdentity('server.mesh.internal'));
    cleanups.push(async () => agent.destroy());
    // Given ca/cert/key, Node would build (and parse the PEMs into) a new context per connection.
    expect(agent.options.secureContext).toBeInstanceOf(createSecureContext().constructor);
    expect(agent.options).not.toHaveProperty('key');
    expect(agent.options).not.toHaveProperty('cert');
    const outcome = await getOnce(new URL(targetUrl), agent, 2_000);
    expect(outcome).toMatchObject({ ok: true, status: 200, serverSerial: serverLeaf.serial });
  });
});

describe('rotation', () => {
  it('builds a new agent when its own certificate rotates, and the server sees the new serial', async () => {
    const first = await pki.clientLeaf();
    const { running, dir } = await runClient(first);
    await waitFor('first success', () => running.client.tracker.successes >= 1, within());

    const second = await pki.clientLeaf();
    await dir.write(second);
    await waitFor('client reload', () => running.client.stats().credentials.serial === second.serial, within());
    expect(running.client.stats().agentGeneration).toBe(2);
    await waitFor(
      'server sees the new client serial',
      () => (running.client.stats().lastResponse?.body as { clientSerial?: string }).clientSerial === second.serial,
      within(),
    );
    expect(running.client.tracker.failures).toBe(0);
    expect(running.logs.filter((line) => line.msg === 'new https agent').map((line) => line['serial'])).toEqual([first.serial, second.serial]);
  });

  it('observes the server rotating its certificate without a failed request', async () => {
    const rotatingDir = await createCertDir(pki, 'rotating-server');
    await rotatingDir.write(serverLeaf);
    const rotating = await startServer(rotatingDir.path, { maxConnectionAgeMs: 200 });
    cleanups.push(async () => {
      await rotating.stop();
      await rotatingDir.remove();
    });
    const { running } = await runClient(await pki.clientLeaf(), { targetUrl: `https://127.0.0.1:${await rotating.port()}/` });
    await waitFor('first success', () => running.client.tracker.successes >= 1, within());

    const next = await pki.serverLeaf();
    await rotatingDir.write(next);
    await waitFor('client sees the new server certificate', () => running.client.stats().serverSerial === next.serial, within());
    expect(running.client.stats().serverSerials).toEqual([serverLeaf.serial, next.serial]);
    expect(running.client.tracker.failures).toBe(0);
  });
});

describe('lifecycle and metrics', () => {
  it('refuses a plain-http target and an invalid expected identity', async () => {
    const { createMtlsClient } = await import('../../../services/client/app.js');
    expect(() => createMtlsClient({ certDir: '/nonexistent', targetUrl: 'http://server:8443/', expectedServerIdentity: 'server.mesh.internal' })).toThrow(
      /must use https/,
    );
    expect(() => createMtlsClient({ certDir: '/nonexistent', targetUrl: targetUrl, expectedServerIdentity: '*.mesh.internal' })).toThrow(/wildcard/);
  });

  it('waits for its certificate, then starts sending', async () => {
    const { running, dir } = await runClient(undefined);
    expect(running.client.stats().state).toBe('waiting');
    const waiting = await adminGet(running.client.adminPort, '/healthz');
    expect(waiting.status).toBe(503);
    expect(waiting.body).toMatchObject({ status: 'waiting', role: 'client' });
    expect(running.client.tracker.successes + running.client.tracker.failures).toBe(0);
    await dir.write(await pki.clientLeaf());
    await waitFor('a success after enrollment', () => running.client.tracker.successes >= 1, within());
    expect(running.client.stats().state).toBe('running');
  });

  it('exposes counters that match its stats in Prometheus text', async () => {
    const { running } = await runClient(await pki.clientLeaf(), { targetUrl: '', requestRate: 20 });
    await waitFor('successes', () => running.client.tracker.successes >= 3, within());
    await running.stop();
    const stats = running.client.stats();
    const metrics = running.client.tracker.registry.render();
    expect(sample(metrics, 'mtls_client_requests_total{result="success"}')).toBe(stats.requests.successes);
    expect(sample(metrics, 'mtls_client_requests_total{result="failure"}')).toBe(0);
    expect(sample(metrics, 'mtls_client_startup_retries_total')).toBe(0);
    expect(sample(metrics, 'mtls_client_request_failures_total{reason="identity_mismatch"}')).toBe(0);
    expect(sample(metrics, `mtls_client_server_certificate_info{serial="${serverLeaf.serial}"}`)).toBe(1);
    expect(sample(metrics, 'mtls_client_server_serials_seen')).toBe(1);
    expect(sample(metrics, 'mtls_client_agents_built_total')).toBe(1);
    expect(sample(metrics, `mtls_certificate_info{serial="${stats.credentials.serial}"}`)).toBe(1);
    expect(sample(metrics, 'mtls_client_last_success_timestamp_seconds')).toBe(Math.floor(Date.parse(stats.lastSuccessAt ?? '') / 1000));
  });

  it('serves /stats and /metrics on its admin listener', async () => {
    const { running } = await runClient(await pki.clientLeaf());
    await waitFor('a success', () => running.client.tracker.successes >= 1, within());
    const stats = await adminGet(running.client.adminPort, '/stats');
    expect(stats.body).toMatchObject({ role: 'client', serverSerial: serverLeaf.serial });
    const metrics = await adminGet(running.client.adminPort, '/metrics');
    expect(metrics.text).toContain('# TYPE mtls_client_requests_total counter');
    const health = await adminGet(running.client.adminPort, '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ready', detail: expect.stringMatching(/^calling https:\/\/.* certificate \S+ valid until /) });
  });
});
