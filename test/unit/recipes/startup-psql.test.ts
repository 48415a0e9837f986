// The psql recipe's loop (recipes/psql/mtls-psql, run on the host with the
// host's psql) against a fake PostgreSQL server in-process (TLS with a
// required client certificate, then one row per query): a server that starts
// after the client is waited for (start-up retries, not failures); once a call
// has succeeded, a refused connection is a failed call at once.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { SERVER_DNS, createTestPki, type TestPki } from '../services/helpers/fixtures.js';
import type { Leaf } from '../services/helpers/pki.js';
import { startFakePostgres, type FakePostgres } from './helpers/fake-postgres.js';
import { recipeFiles, type RecipeFiles } from './helpers/recipe-credentials.js';
import type { RecipeProcess } from './helpers/recipe-process.js';
import { runClientRecipe, startupContract } from './helpers/startup-contract.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/psql/mtls-psql', import.meta.url));
// The script runs /usr/lib/postgresql/$PG_MAJOR/bin/psql, as in the official image.
const PG_MAJOR = process.env['PG_MAJOR'] ?? '15';
const PSQL = `/usr/lib/postgresql/${PG_MAJOR}/bin/psql`;

let pki: TestPki;
let serverLeaf: Leaf;
let files: RecipeFiles;
const cleanups: Array<() => Promise<void>> = [];

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

function psqlClient(port: number, startupRetryBudgetMs: string): RecipeProcess {
  const recipe = runClientRecipe(SCRIPT, files, { port, serverIdentity: SERVER_DNS, startupRetryBudgetMs, extra: { PG_MAJOR, WORKLOAD_NAME: 'psql' } });
  cleanups.push(() => recipe.stop());
  return recipe;
}

describe('psql recipe: start-up', { timeout: 30_000 }, () => {
  startupContract(() => ({
    client: psqlClient,
    server: async (port) => {
      const server = await postgres(port);
      return { stop: () => server.close() };
    },
    firstSuccessLog: 'first call succeeded',
    refused: /Connection refused/,
    badConfig: { exitCode: 1, log: { msg: expect.stringContaining('STARTUP_RETRY_BUDGET_MS') } },
    // The row came through TLS with the client certificate: the server saw its serial.
    afterFirstSuccess: (psql) =>
      expect(psql.logs.find((line) => line.msg === 'server sees client certificate')).toMatchObject({ session: expect.stringMatching(/^t\|TLSv1\.3$/) }),
  }));
});
