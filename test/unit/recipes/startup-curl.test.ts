// The curl recipe's loop (recipes/curl/mtls-curl.sh, run on the host with the
// host's curl) against the Node mTLS server in-process: a server that starts
// after the client is waited for (start-up retries, not failures); once a
// call has succeeded, a refused connection is a failed call at once.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_DNS, createCertDir, createTestPki, startServer, type CertDir, type RunningServer, type TestPki } from '../services/helpers/fixtures.js';
import { freePort, waitFor } from '../services/helpers/harness.js';
import { recipeFiles, type RecipeFiles } from './helpers/recipe-credentials.js';
import { runRecipe, type RecipeProcess } from './helpers/recipe-process.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/curl/mtls-curl.sh', import.meta.url));

let pki: TestPki;
let serverDir: CertDir;
let files: RecipeFiles;
const cleanups: Array<() => Promise<void>> = [];
let runs = 0;

beforeAll(async () => {
  try {
    execFileSync('curl', ['--version']);
  } catch {
    throw new Error('these tests run the recipe with the host curl: install curl (Debian: apt-get install curl)');
  }
  pki = await createTestPki();
  serverDir = await createCertDir(pki, 'curl-startup-server');
  await serverDir.write(await pki.serverLeaf());
  files = await recipeFiles('curl-startup', pki.mesh.root.certPem, await pki.clientLeaf());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await serverDir?.remove();
  await files?.remove();
});

async function server(port: number): Promise<RunningServer> {
  const running = await startServer(serverDir.path, { listenPort: port });
  await running.server.serving();
  cleanups.push(() => running.stop());
  return running;
}

/** The loop calls 127.0.0.1:port every 100 ms, checking the server's DNS name; its own stats file. */
function curlClient(port: number, startupRetryBudgetMs: string): RecipeProcess {
  const statsFile = join(files.dir, `stats-${++runs}.json`);
  const recipe = runRecipe(
    SCRIPT,
    {
      CERT_DIR: files.certDir,
      ROOT_PIN_FILE: files.pinFile,
      STATS_FILE: statsFile,
      TARGET_HOST: '127.0.0.1',
      TARGET_PORT: String(port),
      EXPECTED_SERVER_IDENTITY: SERVER_DNS,
      REQUEST_INTERVAL_MS: '100',
      STARTUP_RETRY_BUDGET_MS: startupRetryBudgetMs,
    },
    statsFile,
  );
  cleanups.push(() => recipe.stop());
  return recipe;
}

describe('curl recipe: start-up', { timeout: 30_000 }, () => {
  it('waits for a server that starts after it: start-up retries, no failed call', async () => {
    const port = await freePort();
    const curl = curlClient(port, '20000');
    await waitFor(async () => (await curl.stats()).requests.startupRetries >= 2, 'start-up retries while nothing listens');
    await server(port);
    await waitFor(async () => (await curl.stats()).requests.ok >= 2, 'successful calls', 10_000);
    const stats = await curl.stats();
    expect(stats.requests, curl.output()).toMatchObject({ failed: 0, retries: 0 });
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(curl.logs.filter((line) => line.msg === 'server not answering yet; retrying (start-up)')).toHaveLength(1);
    const first = curl.logs.find((line) => line.msg === 'calling');
    expect(Number(first?.['startupRetries'])).toBeGreaterThanOrEqual(2);
  });

  it('after a success, counts a refused connection as a failed call at once', async () => {
    const port = await freePort();
    const running = await server(port);
    const curl = curlClient(port, '20000');
    await waitFor(async () => (await curl.stats()).requests.ok >= 1, 'a successful call', 10_000);
    await running.stop();
    const stoppedAt = Date.now();
    await waitFor(async () => (await curl.stats()).requests.failed >= 1, 'a failed call', 5_000);
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    // A call in flight as the listener closed may have met a reset and
    // retried; the next one meets only refusals: no retry at all.
    const { retries } = (await curl.stats()).requests;
    await waitFor(async () => (await curl.stats()).requests.failed >= 2, 'a second failed call', 5_000);
    const stats = await curl.stats();
    expect(stats.requests, curl.output()).toMatchObject({ retries, startupRetries: 0 });
    expect(stats.lastError).toMatch(/^curl exit 7: Failed to connect/);
  });

  it('counts one failed call, with the real error, once a call has spent its start-up budget', async () => {
    const curl = curlClient(await freePort(), '1000'); // retries after 0.2 and 0.4 s; 0.8 s more would overrun it
    await waitFor(async () => (await curl.stats()).requests.failed >= 1, 'a failed call', 5_000);
    const stats = await curl.stats();
    expect(stats.requests.ok).toBe(0);
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(stats.lastError).toMatch(/^curl exit 7: Failed to connect/);
  });

  it('refuses a STARTUP_RETRY_BUDGET_MS that is not a number of milliseconds (exit 2)', async () => {
    for (const value of ['-1', 'soon', '1.5', '86400001']) {
      const curl = curlClient(1, value);
      // A loop that accepted the value would run until stopped.
      expect(await Promise.race([curl.exited(), setTimeout(5_000, 'still running')]), curl.output()).toBe(2);
      expect(curl.logs[0]).toMatchObject({ level: 'error', variable: 'STARTUP_RETRY_BUDGET_MS' });
    }
  });
});
