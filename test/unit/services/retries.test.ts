// Reliability: a client rides out a peer that is briefly unreachable. GETs are
// retried with backoff on connection errors and timeouts within a budget;
// retries are counted apart from failures, and only an exhausted budget (or a
// non-transient error) is a failure.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertDir, createTestPki, startClient, startServer, type CertDir, type RunningClient, type RunningServer, type TestPki } from './helpers/fixtures.js';
import { freePort, sample, waitFor } from './helpers/harness.js';

let pki: TestPki;
let serverDir: CertDir;
let clientDir: CertDir;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  pki = await createTestPki();
  serverDir = await createCertDir(pki, 'retry-server');
  await serverDir.write(await pki.serverLeaf());
  clientDir = await createCertDir(pki, 'retry-client');
  await clientDir.write(await pki.clientLeaf());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await serverDir?.remove();
  await clientDir?.remove();
});

async function server(port: number): Promise<RunningServer> {
  const running = await startServer(serverDir.path, { listenPort: port });
  await running.server.serving();
  cleanups.push(() => running.stop());
  return running;
}

async function client(port: number, options: Parameters<typeof startClient>[1] | object = {}): Promise<RunningClient> {
  const running = await startClient(clientDir.path, { targetUrl: `https://127.0.0.1:${port}/`, requestRate: 20, retryInitialDelayMs: 50, retryMaxDelayMs: 200, ...options });
  cleanups.push(() => running.stop());
  return running;
}

describe('retries on an unreachable peer', () => {
  it('a server that starts after the client: no failed request, the wait is counted as retries', async () => {
    const port = await freePort();
    const c = await client(port);
    await waitFor(() => c.client.tracker.retries >= 3, 'retries while nothing listens');
    expect(c.client.tracker.failures).toBe(0);
    await server(port);
    await waitFor(() => c.client.tracker.successes >= 5, 'successes once the server listens');
    const stats = c.client.stats();
    expect(stats.requests).toMatchObject({ failures: 0, retriedSuccesses: 1 });
    expect(stats.requests.retries).toBeGreaterThanOrEqual(3);
    expect(c.logs.filter((line) => line.msg === 'peer unreachable; retrying')).toEqual([expect.objectContaining({ reason: 'connection' })]);
    expect(c.logs.filter((line) => line.msg === 'reached the peer after retrying')).toHaveLength(1);
    expect(c.logs.some((line) => line.msg === 'request failed')).toBe(false);
    const metrics = c.client.tracker.registry.render();
    expect(sample(metrics, 'mtls_client_request_retries_total{reason="connection"}')).toBe(stats.requests.retries);
    expect(sample(metrics, 'mtls_client_requests_total{result="failure"}')).toBe(0);
  });

  it('a server that restarts under traffic: 0 failed requests', async () => {
    const port = await freePort();
    const first = await server(port);
    const c = await client(port);
    await waitFor(() => c.client.tracker.successes >= 5, 'traffic');
    await first.stop();
    await waitFor(() => c.client.tracker.retries >= 2, 'retries while the server is down');
    await server(port);
    const before = c.client.tracker.successes;
    await waitFor(() => c.client.tracker.successes >= before + 5, 'traffic again');
    expect(c.client.tracker.failures).toBe(0);
    expect(c.client.tracker.retriedSuccesses).toBeGreaterThanOrEqual(1);
  });

  it('counts a failure once the retry budget is spent, with the connection reason', async () => {
    const port = await freePort();
    const c = await client(port, { retryBudgetMs: 300 });
    await waitFor(() => c.client.tracker.failures >= 2, 'failures after the budget', 5_000);
    const stats = c.client.stats();
    expect(stats.requests.failuresByReason).toEqual({ connection: stats.requests.failures });
    // Each failed request used its budget: several retries per failure, none after the 300 ms.
    expect(stats.requests.retries).toBeGreaterThanOrEqual(stats.requests.failures * 2);
    expect(stats.requests.successes).toBe(0);
  });

  it('does not retry what retrying cannot fix: a server with the wrong identity', async () => {
    const port = await freePort();
    await server(port);
    const c = await client(port, { expectedServerIdentity: 'other.mesh.internal' });
    await waitFor(() => c.client.tracker.failures >= 3, 'failures');
    expect(c.client.tracker.retries).toBe(0);
    expect(c.client.stats().requests.failuresByReason).toEqual({ identity_mismatch: c.client.tracker.failures });
  });

  it('stops retrying at once on shutdown, without counting a failure', async () => {
    const port = await freePort();
    const c = await client(port, { retryInitialDelayMs: 5_000, retryMaxDelayMs: 5_000 });
    await waitFor(() => c.client.tracker.retries >= 1, 'a retry pending');
    const started = Date.now();
    await c.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(c.client.tracker.failures).toBe(0);
  });
});
