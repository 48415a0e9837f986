// The curl recipe's loop (recipes/curl/mtls-curl.sh, run on the host with the
// host's curl) against the Node mTLS server in-process: a server that starts
// after the client is waited for (start-up retries, not failures); once a
// call has succeeded, a refused connection is a failed call at once.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { SERVER_DNS, createCertDir, createTestPki, startServer, type CertDir, type RunningServer, type TestPki } from '../services/helpers/fixtures.js';
import { recipeFiles, type RecipeFiles } from './helpers/recipe-credentials.js';
import type { RecipeProcess } from './helpers/recipe-process.js';
import { runClientRecipe, startupContract } from './helpers/startup-contract.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/curl/mtls-curl.sh', import.meta.url));

let pki: TestPki;
let serverDir: CertDir;
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

function curlClient(port: number, startupRetryBudgetMs: string): RecipeProcess {
  const recipe = runClientRecipe(SCRIPT, files, { port, serverIdentity: SERVER_DNS, startupRetryBudgetMs });
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
