// The Python recipe's requests client (recipes/python/app/requests_client.py),
// run on the host with the host's python3 and its requests against the Node
// mTLS server in-process: the start-up contract every client keeps, the
// server's name and identity checked (each refusal with its exact reason),
// its own certificate presented (403 off the allow-list), a renewal picked up
// through the renewer's key-then-certificate window by a new Session (no
// failed call, no restart), a hostile root.crt refused while the last good set
// keeps calling, and an address as TARGET_HOST refused at start.
// recipes/python/tests has the Python-level tests (the kept-alive connection,
// no CA bundle in the context; python3 -m unittest, run by native-tests.test.ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../helpers/pki.js';
import { type CertDir, createCertDir, createTestPki, SERVER_URI, type TestPki } from '../services/helpers/fixtures.js';
import { freePort, within } from '../services/helpers/harness.js';
import { clientTestHooks, okAtLeast, renewerWrites, renewThroughKeyWindow } from './helpers/client-renewal.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './helpers/recipe-process.js';
import { startupContract } from './helpers/startup-contract.js';

const SCRIPT = fileURLToPath(new URL('../../../recipes/python/app/requests_client.py', import.meta.url));
/** The server's name as the client verifies it: the tests reach 127.0.0.1 by a name (the client refuses addresses). */
const HOST = 'localhost';

let pki: TestPki;
let foreign: Pki;
let servers: Record<'mesh' | 'foreign' | 'other', CertDir>;
let selfSigned: Leaf;
let runs = 0;

const serverNames = { commonName: 'server', dns: [HOST], uris: [SERVER_URI] };

async function serverDir(name: string, leaf: Leaf): Promise<CertDir> {
  const dir = await createCertDir(pki, `requests-${name}`);
  await dir.write(leaf);
  return dir;
}

beforeAll(async () => {
  try {
    execFileSync('python3', ['-c', 'import requests']);
  } catch {
    throw new Error('these tests run the requests client with the host python3: install requests for it (Debian: apt-get install python3-requests)');
  }
  pki = await createTestPki();
  foreign = await createPki('Foreign');
  servers = {
    mesh: await serverDir('mesh', await pki.mesh.issue(serverNames)),
    foreign: await serverDir('foreign', await foreign.issue(serverNames)),
    other: await serverDir('other', await pki.mesh.issue({ ...serverNames, uris: ['spiffe://mesh.internal/other'] })),
  };
  selfSigned = await selfSignedLeaf(serverNames);
  await servers.foreign.writeFile('root.crt', `${pki.mesh.root.certPem.trim()}\n${foreign.root.certPem.trim()}\n`);
});
const { cleanups, server } = clientTestHooks(() => servers);

async function clientFiles(name: string, leaf?: Leaf): Promise<RecipeFiles> {
  const files = await recipeFiles(name, pki.mesh.root.certPem, leaf ?? (await pki.clientLeaf()));
  cleanups.push(() => files.remove());
  return files;
}

/** The client calling HOST:port every 100 ms with the contract's environment. */
function client(port: number, files: RecipeFiles, opts: { budgetMs?: string; host?: string } = {}): RecipeProcess {
  const statsFile = join(files.dir, `stats-${++runs}.json`);
  const recipe = runRecipe(
    SCRIPT,
    {
      CERT_DIR: files.certDir,
      ROOT_PIN_FILE: files.pinFile,
      STATS_FILE: statsFile,
      TARGET_HOST: opts.host ?? HOST,
      TARGET_PORT: String(port),
      EXPECTED_SERVER_IDENTITY: SERVER_URI,
      REQUEST_INTERVAL_MS: '100',
      STARTUP_RETRY_BUDGET_MS: opts.budgetMs ?? '20000',
      PYTHONDONTWRITEBYTECODE: '1', // as in the image: no __pycache__ beside the sources
    },
    statsFile,
  );
  cleanups.push(() => recipe.stop());
  return recipe;
}

const failedCall = (recipe: RecipeProcess) =>
  waitFor('a failed call', async () => ((await recipe.stats()).requests.failed >= 1 ? recipe.stats() : undefined), within(15_000));

async function calling(files: RecipeFiles): Promise<RecipeProcess> {
  const port = await freePort();
  await server(port, servers.mesh);
  const recipe = client(port, files);
  await waitFor('successful calls', okAtLeast(recipe, 2), within(15_000));
  return recipe;
}

describe('requests client: start-up', { timeout: 30_000 }, () => {
  let files: RecipeFiles;
  beforeAll(async () => {
    files = await recipeFiles('requests-startup', pki.mesh.root.certPem, await pki.clientLeaf());
  });
  afterAll(() => files.remove());
  startupContract(() => ({
    client: (port, budget) => client(port, files, { budgetMs: budget }),
    server: (port) => server(port, servers.mesh),
    firstSuccessLog: 'calling',
    refused: /^connection: Connection refused$/,
    badConfig: { exitCode: 2, log: { msg: 'bad configuration' } },
  }));

  it('refuses an address as TARGET_HOST: exit 2, the reason logged', async () => {
    const recipe = client(1, await clientFiles('requests-address'), { host: '127.0.0.1' });
    expect(await Promise.race([recipe.exited(), delay(5_000, 'still running')]), recipe.output()).toBe(2);
    expect(recipe.logs[0]).toMatchObject({
      msg: 'bad configuration',
      error: 'TARGET_HOST must be a DNS name (the server name this client verifies), not an address: 127.0.0.1',
    });
  });
});

describe("requests client: the server's name and identity, and its own", { timeout: 30_000 }, () => {
  it('calls an allowed server, with its own stats (the connection kept alive: recipes/python/tests)', async () => {
    const leaf = await pki.clientLeaf();
    const recipe = await calling(await clientFiles('requests-allowed', leaf));
    await waitFor('more calls', okAtLeast(recipe, 6), within(10_000));
    const stats = await recipe.stats();
    expect(stats, recipe.output()).toMatchObject({ technology: 'requests', role: 'client', state: 'calling', serial: leaf.serial, failedReloads: 0 });
    expect(stats.requests).toMatchObject({ failed: 0, retries: 0 });
  });

  it.each([
    ['another identity (a valid chain), not retried', 'other', "identity mismatch: server presented ['spiffe://mesh.internal/other']"],
    ['a foreign CA', 'foreign', 'tls: unable to get local issuer certificate'],
  ] as const)('refuses a server with %s, with its exact reason', async (_what, dir, reason) => {
    const port = await freePort();
    await server(port, servers[dir]);
    const recipe = client(port, await clientFiles(`requests-refuses-${dir}`));
    const stats = await failedCall(recipe);
    expect([stats.requests.ok, stats.requests.startupRetries, stats.lastError], recipe.output()).toEqual([0, 0, reason]);
    // A TLS failure is retried up to 3 times within the call (as by client.py); an identity mismatch is not.
    if (dir === 'other') expect(stats.requests.retries).toBe(0);
  });

  it('refuses a self-signed server certificate with its names', async () => {
    const { createServer } = await import('node:https');
    const port = await freePort();
    const https = createServer({ cert: selfSigned.certPem, key: selfSigned.keyPem }, (_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => https.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => https.close(() => resolve())));
    const recipe = client(port, await clientFiles('requests-self-signed'));
    expect((await failedCall(recipe)).lastError, recipe.output()).toBe('tls: self-signed certificate');
  });

  it('presents its certificate: an identity off the allow-list gets 403', async () => {
    const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'], uris: ['spiffe://mesh.internal/intruder'] });
    const port = await freePort();
    await server(port, servers.mesh);
    const recipe = client(port, await clientFiles('requests-intruder', intruder));
    const stats = await failedCall(recipe);
    expect([stats.requests.ok, stats.lastError], recipe.output()).toEqual([0, 'http 403']);
  });
});

describe('requests client: reload', { timeout: 30_000 }, () => {
  it('picks up a renewed pair through the key-then-certificate window with a new Session: no failed call, no restart', async () => {
    const files = await clientFiles('requests-rotation');
    const recipe = await calling(files);
    const next = await pki.clientLeaf();
    const { before, after: stats } = await renewThroughKeyWindow(recipe, files, next);
    expect([stats.requests.failed, stats.reloads, stats.failedReloads], recipe.output()).toEqual([0, Number(before['reloads']) + 1, 0]);
    expect(recipe.logs.filter((l) => l.msg === 'new session')).toEqual([expect.objectContaining({ serial: next.serial })]);
    expect(recipe.child.exitCode).toBeNull();
  });

  it('refuses a root.crt carrying a foreign root as TRUSTED CERTIFICATE, keeping its set and its calls', async () => {
    const files = await clientFiles('requests-hostile');
    const recipe = await calling(files);
    const before = await recipe.stats();
    const trusted = foreign.root.certPem.trim().replace(/(BEGIN|END) CERTIFICATE/g, '$1 TRUSTED CERTIFICATE');
    await renewerWrites(files, 'root.crt', `${pki.mesh.root.certPem.trim()}\n${trusted}\n`);
    const refused = await waitFor('the refusal', async () => ((await recipe.stats()).failedReloads === 1 ? recipe.stats() : undefined), within(10_000));
    expect(refused.lastError, recipe.output()).toMatch(/^foreign_block: root\.crt line \d+ is not exactly -----BEGIN CERTIFICATE-----: /);
    await waitFor('calls after it', okAtLeast(recipe, refused.requests.ok + 3), within(10_000));
    const stats = await recipe.stats();
    expect([stats.serial, stats.requests.failed, stats.failedReloads], recipe.output()).toEqual([before.serial, 0, 1]);
    expect(
      recipe.logs.filter((l) => l.msg === 'new session'),
      'the old Session stays',
    ).toEqual([]);
  });
});
