// The curl recipe's loop (recipes/curl/mtls-curl.sh, run on the host with the
// host's curl) against the Node mTLS server in-process: a server that starts
// after the client is waited for (start-up retries, not failures); once a
// call has succeeded, a refused connection is a failed call at once. And the
// trust-file contract: a hostile root.crt is refused with its reason while
// calls go on, and a foreign CA's server stays refused in the handshake.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe } from 'vitest';

import { createPki, type Pki } from '../../helpers/pki.js';
import {
  type CertDir,
  createCertDir,
  createTestPki,
  type RunningServer,
  SERVER_DNS,
  SERVER_URI,
  startServer,
  type TestPki,
} from '../services/helpers/fixtures.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import type { RecipeProcess } from './helpers/recipe-process.js';
import { runClientRecipe, startupContract } from './helpers/startup-contract.js';
import { trustContract } from './helpers/trust-contract.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/curl/mtls-curl.sh', import.meta.url));

let pki: TestPki;
let serverDir: CertDir;
let foreignServerDir: CertDir;
let foreign: Pki;
let files: RecipeFiles;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  try {
    execFileSync('curl', ['--version']);
  } catch {
    throw new Error('these tests run the recipe with the host curl: install curl (Debian: apt-get install curl)');
  }
  pki = await createTestPki();
  serverDir = await createCertDir(pki, 'curl-startup-server');
  await serverDir.write(await pki.serverLeaf());
  // The server's name, certified by a CA the mesh never pinned; it trusts
  // both roots, so it accepts the mesh's clients and its own chain checks out.
  foreign = await createPki('Foreign');
  foreignServerDir = await createCertDir(pki, 'curl-foreign-server');
  const foreignLeaf = await foreign.issue({ commonName: 'server', dns: [SERVER_DNS], uris: [SERVER_URI] });
  await foreignServerDir.write(foreignLeaf, `${pki.mesh.root.certPem.trim()}\n${foreign.root.certPem.trim()}\n`);
  files = await recipeFiles('curl-startup', pki.mesh.root.certPem, await pki.clientLeaf());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await serverDir?.remove();
  await foreignServerDir?.remove();
  await files?.remove();
});

async function server(port: number, dir: CertDir = serverDir): Promise<RunningServer> {
  const running = await startServer(dir.path, { listenPort: port });
  await running.server.serving();
  cleanups.push(() => running.stop());
  return running;
}

function curlClient(port: number, startupRetryBudgetMs: string, own: RecipeFiles = files): RecipeProcess {
  const recipe = runClientRecipe(SCRIPT, own, { port, serverIdentity: SERVER_DNS, startupRetryBudgetMs });
  cleanups.push(() => recipe.stop());
  return recipe;
}

describe('curl recipe: start-up', { timeout: 30_000 }, () => {
  startupContract(() => ({
    client: curlClient,
    server,
    firstSuccessLog: 'calling',
    refused: /^curl exit 7: Failed to connect/,
    badConfig: { exitCode: 2, log: { variable: 'STARTUP_RETRY_BUDGET_MS' } },
  }));
});

describe('curl recipe: trust file', { timeout: 60_000 }, () => {
  trustContract(() => ({
    files: async () => recipeFiles('curl-trust', pki.mesh.root.certPem, await pki.clientLeaf()),
    client: (port, own) => curlClient(port, '20000', own),
    server: (port, issuer) => server(port, issuer === 'mesh' ? serverDir : foreignServerDir),
    meshRootPem: pki.mesh.root.certPem,
    foreignRootPem: foreign.root.certPem,
    untrusted: /^curl exit 60: SSL certificate problem: unable to get local issuer certificate/,
  }));
});
