// The psql recipe's loop (recipes/psql/mtls-psql, run on the host with the
// host's psql) against a fake PostgreSQL server in-process (TLS with a
// required client certificate, then one row per query): a server that starts
// after the client is waited for (start-up retries, not failures); once a call
// has succeeded, a refused connection is a failed call at once. And the
// trust-file contract: a hostile root.crt is refused with its reason while
// calls go on, and a foreign CA's server stays refused in the handshake.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';

import { createPki, type Leaf, type Pki } from '../../helpers/pki.js';
import { createTestPki, SERVER_DNS, type TestPki } from '../services/helpers/fixtures.js';
import { type FakePostgres, startFakePostgres } from './helpers/fake-postgres.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import type { RecipeProcess } from './helpers/recipe-process.js';
import { runClientRecipe, startupContract } from './helpers/startup-contract.js';
import { trustContract } from './helpers/trust-contract.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/psql/mtls-psql', import.meta.url));
// The script runs /usr/lib/postgresql/$PG_MAJOR/bin/psql, as in the official image.
const PG_MAJOR = process.env['PG_MAJOR'] ?? '15';
const PSQL = `/usr/lib/postgresql/${PG_MAJOR}/bin/psql`;

let pki: TestPki;
let serverLeaf: Leaf;
let foreign: Pki;
let foreignServerLeaf: Leaf;
let files: RecipeFiles;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  if (!existsSync(PSQL)) {
    throw new Error(
      `these tests run the recipe with the host's psql ${PG_MAJOR}, and ${PSQL} is missing: install postgresql-client-${PG_MAJOR} (Debian), or set PG_MAJOR to an installed version`,
    );
  }
  pki = await createTestPki();
  serverLeaf = await pki.serverLeaf();
  // The server's name, certified by a CA the mesh never pinned.
  foreign = await createPki('Foreign');
  foreignServerLeaf = await foreign.issue({ commonName: 'server', dns: [SERVER_DNS] });
  files = await clientFiles('psql-startup');
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await files?.remove();
});

async function clientFiles(name: string): Promise<RecipeFiles> {
  return recipeFiles(name, pki.mesh.root.certPem, await pki.mesh.issue({ commonName: 'psql.mesh.internal', dns: ['psql.mesh.internal'] }));
}

/** A fake PostgreSQL that accepts the mesh's clients, presenting a certificate from the mesh's CA or the foreign one. */
async function postgres(port: number, leaf: Leaf = serverLeaf): Promise<FakePostgres> {
  const server = await startFakePostgres({ port, rootPem: pki.mesh.root.certPem, certPem: leaf.bundlePem, keyPem: leaf.keyPem });
  cleanups.push(() => server.close());
  return server;
}

function psqlClient(port: number, startupRetryBudgetMs: string, own: RecipeFiles = files): RecipeProcess {
  const recipe = runClientRecipe(SCRIPT, own, { port, serverIdentity: SERVER_DNS, startupRetryBudgetMs, extra: { PG_MAJOR, WORKLOAD_NAME: 'psql' } });
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

describe('psql recipe: trust file', { timeout: 60_000 }, () => {
  trustContract(() => ({
    files: () => clientFiles('psql-trust'),
    client: (port, own) => psqlClient(port, '20000', own),
    server: async (port, issuer) => {
      const server = await postgres(port, issuer === 'mesh' ? serverLeaf : foreignServerLeaf);
      return { stop: () => server.close() };
    },
    meshRootPem: pki.mesh.root.certPem,
    foreignRootPem: foreign.root.certPem,
    untrusted: /certificate verify failed/,
  }));
});
