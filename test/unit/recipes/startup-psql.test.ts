// The psql recipe's loop (recipes/psql/mtls-psql, run on the host with the
// host's psql) against a fake PostgreSQL server in-process (TLS with a
// required client certificate, then one row per query): a server that starts
// after the client is waited for (start-up retries, not failures); once a call
// has succeeded, a refused connection is a failed call at once.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_DNS, createTestPki, type TestPki } from '../services/helpers/fixtures.js';
import { freePort, waitFor } from '../services/helpers/harness.js';
import type { Leaf } from '../services/helpers/pki.js';
import { startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { recipeFiles, type RecipeFiles } from './helpers/recipe-credentials.js';
import { runRecipe, type RecipeProcess } from './helpers/recipe-process.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/psql/mtls-psql', import.meta.url));
// The script runs /usr/lib/postgresql/$PG_MAJOR/bin/psql, as in the official image.
const PG_MAJOR = process.env['PG_MAJOR'] ?? '15';
const PSQL = `/usr/lib/postgresql/${PG_MAJOR}/bin/psql`;

let pki: TestPki;
let serverLeaf: Leaf;
let files: RecipeFiles;
const cleanups: Array<() => Promise<void>> = [];
let runs = 0;

beforeAll(async () => {
  if (!existsSync(PSQL)) {
    throw new Error(`these tests run the recipe with the host's psql ${PG_MAJOR}, and ${PSQL} is missing: install postgresql-client-${PG_MAJOR} (Debian), or set PG_MAJOR to an installed version`);
  }
  pki = await createTestPki();
  serverLeaf = await pki.serverLeaf();
  files = await recipeFiles('psql-startup', pki.mesh.root.certPem, await pki.mesh.issue({ commonName: 'psql.mesh.internal', dns: ['psql.mesh.internal'] }));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await files?.remove();
});

async function postgres(port: number): Promise<FakePostgres> {
  const server = await startFakePostgres({ port, rootPem: pki.mesh.root.certPem, certPem: serverLeaf.bundlePem, keyPem: serverLeaf.keyPem });
  cleanups.push(() => server.close());
  return server;
}

/** The loop calls 127.0.0.1:port every 100 ms, checking the server's DNS name; its own stats file. */
function psqlClient(port: number, startupRetryBudgetMs: string): RecipeProcess {
  const statsFile = join(files.dir, `stats-${++runs}.json`);
  const recipe = runRecipe(
    SCRIPT,
    {
      PG_MAJOR,
      CERT_DIR: files.certDir,
      ROOT_PIN_FILE: files.pinFile,
      STATS_FILE: statsFile,
      WORKLOAD_NAME: 'psql',
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

describe('psql recipe: start-up', { timeout: 30_000 }, () => {
  it('waits for a server that starts after it: start-up retries, no failed call', async () => {
    const port = await freePort();
    const psql = psqlClient(port, '20000');
    await waitFor(async () => (await psql.stats()).requests.startupRetries >= 2, 'start-up retries while nothing listens', 10_000);
    await postgres(port);
    await waitFor(async () => (await psql.stats()).requests.ok >= 2, 'successful calls', 10_000);
    const stats = await psql.stats();
    expect(stats.requests, psql.output()).toMatchObject({ failed: 0, retries: 0 });
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(psql.logs.filter((line) => line.msg === 'server not answering yet; retrying (start-up)')).toHaveLength(1);
    const first = psql.logs.filter((line) => line.msg === 'first call succeeded');
    expect(first).toHaveLength(1);
    expect(Number(first[0]?.['startupRetries'])).toBeGreaterThanOrEqual(2);
    // The row came through TLS with the client certificate: the server saw its serial.
    expect(psql.logs.find((line) => line.msg === 'server sees client certificate')).toMatchObject({ session: expect.stringMatching(/^t\|TLSv1\.3$/) });
  });

  it('after a success, counts a refused connection as a failed call at once', async () => {
    const port = await freePort();
    const server = await postgres(port);
    const psql = psqlClient(port, '20000');
    await waitFor(async () => (await psql.stats()).requests.ok >= 1, 'a successful call', 10_000);
    await server.close();
    const stoppedAt = Date.now();
    await waitFor(async () => (await psql.stats()).requests.failed >= 1, 'a failed call', 5_000);
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    // A call in flight as the listener closed may have met a reset and
    // retried; the next one meets only refusals: no retry at all.
    const { retries } = (await psql.stats()).requests;
    await waitFor(async () => (await psql.stats()).requests.failed >= 2, 'a second failed call', 5_000);
    const stats = await psql.stats();
    expect(stats.requests, psql.output()).toMatchObject({ retries, startupRetries: 0 });
    expect(stats.lastError).toContain('Connection refused');
  });

  it('counts one failed call, with the real error, once a call has spent its start-up budget', async () => {
    const psql = psqlClient(await freePort(), '1000'); // retries after 0.2 and 0.4 s; 0.8 s more would overrun it
    await waitFor(async () => (await psql.stats()).requests.failed >= 1, 'a failed call', 10_000);
    const stats = await psql.stats();
    expect(stats.requests.ok).toBe(0);
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(stats.lastError).toContain('Connection refused');
  });

  it('refuses a STARTUP_RETRY_BUDGET_MS that is not a number of milliseconds (exit 1)', async () => {
    for (const value of ['-1', 'soon', '1.5', '86400001']) {
      const psql = psqlClient(1, value);
      // A loop that accepted the value would run until stopped.
      expect(await Promise.race([psql.exited(), setTimeout(5_000, 'still running')]), psql.output()).toBe(1);
      expect(psql.logs[0]).toMatchObject({ level: 'error', msg: expect.stringContaining('STARTUP_RETRY_BUDGET_MS') });
    }
  });
});
