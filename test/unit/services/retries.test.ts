// Reliability: before its first success, a client waits for a server that is
// still starting (start-up retries, not failures, within a budget per
// request); after it, a refused connection is a failure at once unless the
// caller asked for a retry budget to ride out outages. Retries are counted
// apart from failures; a TLS or identity failure is never retried.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import type { Failure } from '../../../services/client/request.js';
import { nextRetry } from '../../../services/client/retry-policy.js';
import { codedError, TIMEOUT_CODE } from '../../../services/lib/tls-errors.js';
import {
  type CertDir,
  createCertDir,
  createTestPki,
  type RunningClient,
  type RunningServer,
  startClient,
  startServer,
  type TestPki,
} from './helpers/fixtures.js';
import { freePort, sample, within } from './helpers/harness.js';

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
  const running = await startClient(clientDir.path, {
    targetUrl: `https://127.0.0.1:${port}/`,
    requestRate: 20,
    retryInitialDelayMs: 50,
    retryMaxDelayMs: 200,
    ...options,
  });
  cleanups.push(() => running.stop());
  return running;
}

describe('start-up: a server that is not listening yet', () => {
  it('is waited for: no failed request, the wait is counted as start-up retries and logged once', async () => {
    const port = await freePort();
    const c = await client(port);
    await waitFor('start-up retries while nothing listens', () => c.client.tracker.startupRetries >= 3, within());
    expect(c.client.tracker.failures).toBe(0);
    await server(port);
    await waitFor('successes once the server listens', () => c.client.tracker.successes >= 5, within());
    const stats = c.client.stats();
    expect(stats.requests).toMatchObject({ failures: 0, retries: 0 });
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(3);
    expect(c.logs.filter((line) => line.msg === 'server not answering yet; retrying (start-up)')).toEqual([expect.objectContaining({ reason: 'connection' })]);
    expect(c.logs.filter((line) => line.msg === 'first successful request')).toEqual([
      expect.objectContaining({ startupRetries: stats.requests.startupRetries }),
    ]);
    expect(c.logs.some((line) => line.msg === 'request failed' || line.msg === 'peer unreachable; retrying')).toBe(false);
    const metrics = c.client.tracker.registry.render();
    expect(sample(metrics, 'mtls_client_startup_retries_total')).toBe(stats.requests.startupRetries);
    expect(sample(metrics, 'mtls_client_request_retries_total{reason="connection"}')).toBe(0);
    expect(sample(metrics, 'mtls_client_requests_total{result="failure"}')).toBe(0);
  });

  it('counts one failed request, with the real error, once a request has spent its start-up budget', async () => {
    const port = await freePort();
    const c = await client(port, { startupRetryBudgetMs: 300 });
    await waitFor('failures after the budget', () => c.client.tracker.failures >= 2, within(5_000));
    const stats = c.client.stats();
    expect(stats.requests.failuresByReason).toEqual({ connection: stats.requests.failures });
    expect(stats.lastError?.message).toContain('ECONNREFUSED');
    // Each failed request used its own budget: several start-up retries per failure.
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(stats.requests.failures * 2);
    expect(stats.requests).toMatchObject({ successes: 0, retries: 0 });
    expect(c.logs.filter((line) => line.msg === 'server not answering yet; retrying (start-up)')).toHaveLength(1);
  });

  it('stops retrying at once on shutdown, without counting a failure', async () => {
    const port = await freePort();
    const c = await client(port, { retryInitialDelayMs: 30_000, retryMaxDelayMs: 30_000 });
    await waitFor('a start-up retry pending', () => c.client.tracker.startupRetries >= 1, within());
    const started = Date.now();
    await c.stop();
    const elapsedMs = Date.now() - started;
    console.log(`[retries] stop with a 30 s retry pending took ${elapsedMs} ms`);
    // A client that waited out the pending retry would take 30 s.
    expect(elapsedMs).toBeLessThan(10_000);
    expect(c.client.tracker.failures).toBe(0);
  });
});

describe('after the first success', () => {
  it('counts a refused connection as a failed request at once', async () => {
    const port = await freePort();
    const first = await server(port);
    // A long request timeout, so "at once" is told apart from a failure that
    // waited for the timeout (or for the 30 s start-up retry budget).
    const c = await client(port, { requestTimeoutMs: 30_000 });
    await waitFor('traffic', () => c.client.tracker.successes >= 3, within());
    await first.stop();
    const stoppedAt = Date.now();
    await waitFor('a failed request once nothing listens', () => c.client.tracker.failures >= 1, within(10_000));
    const elapsedMs = Date.now() - stoppedAt;
    console.log(`[retries] first failed request ${elapsedMs} ms after the server stopped`);
    expect(elapsedMs).toBeLessThan(10_000);
    const stats = c.client.stats();
    expect(stats.lastError).toMatchObject({ reason: 'connection', message: expect.stringContaining('ECONNREFUSED') });
    expect(stats.requests.startupRetries).toBe(0);
    expect(c.logs.some((line) => line.msg === 'server not answering yet; retrying (start-up)')).toBe(false);
  });

  it('rides out a server restart when the caller asks for a retry budget: 0 failed requests', async () => {
    const port = await freePort();
    const first = await server(port);
    const c = await client(port, { retryBudgetMs: 30_000 });
    await waitFor('traffic', () => c.client.tracker.successes >= 5, within());
    await first.stop();
    await waitFor('retries while the server is down', () => c.client.tracker.retries >= 2, within());
    await server(port);
    const before = c.client.tracker.successes;
    await waitFor('traffic again', () => c.client.tracker.successes >= before + 5, within());
    expect(c.client.tracker.failures).toBe(0);
    expect(c.client.tracker.retriedSuccesses).toBeGreaterThanOrEqual(1);
    expect(c.client.tracker.startupRetries).toBe(0);
    expect(c.logs.filter((line) => line.msg === 'peer unreachable; retrying')).toEqual([expect.objectContaining({ reason: 'connection' })]);
  });

  it('counts a failure once the retry budget is spent', async () => {
    const port = await freePort();
    const first = await server(port);
    const c = await client(port, { retryBudgetMs: 300 });
    await waitFor('a success', () => c.client.tracker.successes >= 1, within());
    await first.stop();
    await waitFor('failures after the budget', () => c.client.tracker.failures >= 2, within(5_000));
    const stats = c.client.stats();
    expect(stats.requests.failuresByReason).toEqual({ connection: stats.requests.failures });
    // Several retries per failed request, none after its 300 ms.
    expect(stats.requests.retries).toBeGreaterThanOrEqual(stats.requests.failures * 2);
  });
});

describe('what retrying cannot fix', () => {
  it('a server with the wrong identity: failures, no retries of either kind', async () => {
    const port = await freePort();
    await server(port);
    const c = await client(port, { expectedServerIdentity: 'other.mesh.internal' });
    await waitFor('failures', () => c.client.tracker.failures >= 3, within());
    expect(c.client.stats().requests).toMatchObject({ retries: 0, startupRetries: 0, failuresByReason: { identity_mismatch: c.client.tracker.failures } });
  });
});

describe('the rule', () => {
  const policy = { startupBudgetMs: 1_000, budgetMs: 0, initialDelayMs: 200, maxDelayMs: 2_000 };
  const failure = (code: string, more: Partial<Failure> = {}): Failure => ({
    ok: false,
    error: codedError(code, code),
    reusedSocket: false,
    connected: false,
    ...more,
  });
  const before = { retries: 0, elapsedMs: 0, succeededBefore: false };
  const after = { ...before, succeededBefore: true };

  it('before the first success: waits for an unreachable server, within the start-up budget', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', TIMEOUT_CODE]) {
      expect(nextRetry(failure(code), before, policy), code).toMatchObject({ startup: true });
    }
    expect(nextRetry(failure('ECONNREFUSED'), { ...before, elapsedMs: 999 }, policy)).toBeUndefined();
    // A deadline hit once connected is a server that answers badly, not one that is starting.
    expect(nextRetry(failure(TIMEOUT_CODE, { connected: true }), before, policy)).toBeUndefined();
    for (const code of ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_MTLS_IDENTITY_MISMATCH']) {
      expect(nextRetry(failure(code), before, policy), code).toBeUndefined();
    }
  });

  it('after it: a refused connection fails at once; a reset kept-alive socket is retried at once on a fresh one', () => {
    expect(nextRetry(failure('ECONNREFUSED'), after, policy)).toBeUndefined();
    expect(nextRetry(failure('ECONNRESET', { reusedSocket: true, connected: true }), after, policy)).toEqual({ delayMs: 0, startup: false });
    expect(nextRetry(failure('ECONNRESET', { reusedSocket: true, connected: true }), { ...after, retries: 1 }, policy)).toBeUndefined();
    expect(nextRetry(failure('ECONNREFUSED'), after, { ...policy, budgetMs: 30_000 })).toMatchObject({ startup: false });
  });
});

describe('configuration', () => {
  it('refuses a STARTUP_RETRY_BUDGET_MS that is not a non-negative integer (exit 2)', async () => {
    const main = fileURLToPath(new URL('../../../services/client/main.ts', import.meta.url));
    const env = {
      PATH: process.env['PATH'] ?? '',
      TARGET_URL: 'https://server.mesh.internal:8443/',
      EXPECTED_SERVER_IDENTITY: 'server.mesh.internal',
      ADMIN_PORT: '0',
    };
    for (const value of ['-1', 'soon', '1.5']) {
      // A client that accepted the value would run until killed.
      const child = spawn(process.execPath, ['--import', 'tsx', main], { env: { ...env, STARTUP_RETRY_BUDGET_MS: value }, timeout: 10_000 });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, stdout).toBe(2);
      expect(stdout).toContain(`STARTUP_RETRY_BUDGET_MS must be an integer between 0 and 86400000, got \\"${value}\\"`);
    }
  });
});
