// The MariaDB recipe (recipes/mariadb) on the host with Debian's mariadb-server
// and mariadb-client (10.11, as the stand-in image), run as its containers run
// it: uid 1000 (when the tests run as root), only the contract's environment,
// the credential files written as the renewer writes them (by rename, key
// first). The server: the allowed identity is served; an unlisted one, no
// certificate, a self-signed and a foreign one are refused with their exact
// errors; hostile root.crt files are refused with the contract's reasons while
// the old trust stays; a renewal is taken up by FLUSH SSL, same mariadbd, a
// query in flight finishes, the client's calls never fail. The mysql client:
// the start-up and trust-file contracts every shell client keeps.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { lchown, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { servedLeafPem } from '../../../scripts/lib/workloads/served-cert.js';
import { mysqlCall } from '../../helpers/mysql-call.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf, serialOf } from '../../helpers/pki.js';
import { freePort, within } from '../services/helpers/harness.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './helpers/recipe-process.js';
import { startupContract } from './helpers/startup-contract.js';
import { trustContract } from './helpers/trust-contract.js';

const RECIPES = fileURLToPath(new URL('../../../recipes', import.meta.url));
const PATH = [join(RECIPES, 'mariadb'), join(RECIPES, 'lib'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter);
/** The server's name: the callers dial localhost (the mysql client checks the name it dials). */
const SERVER_NAME = 'localhost';
const RUNTIME_UID = 1000;
const asRoot = process.getuid?.() === 0;

let mesh: Pki;
let foreign: Pki;
let serverFiles: RecipeFiles;
let server: Mariadb;
const cleanups: Array<() => Promise<void>> = [];
const name = (n: string) => ({ commonName: `${n}.mesh.internal`, dns: [`${n}.mesh.internal`] });
const serverLeaf = (pki: Pki = mesh) => pki.issue({ commonName: SERVER_NAME, dns: [SERVER_NAME, 'mariadb.mesh.internal'] });

/** Everything under dir owned by the runtime user, when the tests run as root. */
function handOver(dir: string): void {
  if (!asRoot) return;
  chownSync(dir, RUNTIME_UID, RUNTIME_UID);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) handOver(join(dir, entry.name));
    else chownSync(join(dir, entry.name), RUNTIME_UID, RUNTIME_UID);
  }
}

/** One file of the set replaced by rename, as the renewer does (a symlink for `link`). */
async function replaceFile(files: RecipeFiles, file: string, content: string | Buffer, link = false): Promise<void> {
  const tmp = join(files.certDir, `.${file}.tmp`);
  if (link) await symlink(content.toString(), tmp);
  else await writeFile(tmp, content, { mode: file === 'site.key' ? 0o600 : 0o644 });
  if (asRoot) await lchown(tmp, RUNTIME_UID, RUNTIME_UID);
  await rename(tmp, join(files.certDir, file));
}
async function renew(files: RecipeFiles, leaf: Leaf): Promise<void> {
  await replaceFile(files, 'site.key', leaf.keyPem);
  await replaceFile(files, 'site.crt', leaf.bundlePem);
}

type Running = RecipeProcess & { readonly statsFile: string };
let runs = 0;
/** A recipe script as uid 1000 (setpriv keeps the environment), its stats and state in files.dir. */
function run(script: string, files: RecipeFiles, env: Record<string, string>): Running {
  const n = ++runs;
  const statsFile = join(files.dir, `stats-${n}.json`);
  let entry = join(RECIPES, 'mariadb', script);
  if (asRoot) {
    entry = join(files.dir, `as-runtime-user-${n}`);
    writeFileSync(entry, `#!/bin/sh\nexec setpriv --reuid ${RUNTIME_UID} --regid ${RUNTIME_UID} --clear-groups ${join(RECIPES, 'mariadb', script)}\n`, {
      mode: 0o755,
    });
  }
  handOver(files.dir);
  const base = { PATH, CERT_DIR: files.certDir, ROOT_PIN_FILE: files.pinFile, STATS_FILE: statsFile, MTLS_STATE_DIR: join(files.dir, `state-${n}`) };
  return Object.assign(runRecipe(entry, { ...base, ...env }, statsFile), { statsFile });
}

interface Mariadb {
  readonly recipe: Running;
  readonly port: number;
  pid(): Promise<number>;
}
/** mtls-mariadb on 127.0.0.1:port, its data and socket in files.dir; resolves once it serves. */
async function startMariadb(files: RecipeFiles, port: number): Promise<Mariadb> {
  const runDir = join(files.dir, `run-${port}`);
  const recipe = run('mtls-mariadb', files, {
    LISTEN_PORT: String(port),
    ALLOWED_IDENTITIES: 'mysql-client.mesh.internal,operator.mesh.internal',
    MARIADB_BIND_ADDRESS: '127.0.0.1',
    MARIADB_RUN_DIR: runDir,
    MARIADB_DATA_ROOT: join(files.dir, `data-${port}`),
  });
  cleanups.push(() => recipe.stop());
  const serving = async () => {
    if (recipe.child.exitCode !== null) throw new Error(`mtls-mariadb exited ${recipe.child.exitCode}`);
    return (await recipe.stats().catch(() => undefined))?.state === 'serving';
  };
  await waitFor('mariadb serving', serving, within(60_000)).catch((e: Error) => {
    throw new Error(`${e.message}\n${recipe.output()}`);
  });
  return { recipe, port, pid: async () => Number((await readFile(join(runDir, 'mysqld.pid'), 'utf8')).trim()) };
}

/** mtls-mysql-client calling localhost:port every 100 ms as account mysql-client. */
function mysqlClient(port: number, files: RecipeFiles, budgetMs = '20000'): Running {
  const recipe = run('mtls-mysql-client', files, {
    WORKLOAD_NAME: 'mysql-client',
    TARGET_HOST: SERVER_NAME,
    TARGET_PORT: String(port),
    EXPECTED_SERVER_IDENTITY: SERVER_NAME,
    REQUEST_INTERVAL_MS: '100',
    STARTUP_RETRY_BUDGET_MS: budgetMs,
  });
  cleanups.push(() => recipe.stop());
  return recipe;
}
const clientFiles = async (label: string) => recipeFiles(label, mesh.root.certPem, await mesh.issue(name('mysql-client')));
const call = async (who: string, leaf?: Leaf) =>
  mysqlCall({ port: server.port, serverName: SERVER_NAME }, mesh.root.certPem, who, leaf && { certPem: leaf.bundlePem, keyPem: leaf.keyPem });
/** recipes/mariadb/mtls-health on a recipe's stats file: its line. */
async function health(recipe: Running): Promise<string> {
  const out = await promisify(execFile)('bash', [join(RECIPES, 'mariadb', 'mtls-health')], { env: { PATH, STATS_FILE: recipe.statsFile } }).catch(
    (e: { stdout: string }) => e,
  );
  return out.stdout.trim();
}

beforeAll(async () => {
  if (!existsSync('/usr/sbin/mariadbd') || !existsSync('/usr/bin/mariadb-install-db'))
    throw new Error('these tests run the MariaDB recipe with the host mariadbd: install mariadb-server and mariadb-client (Debian)');
  mesh = await createPki('Mesh');
  foreign = await createPki('Foreign');
  serverFiles = await recipeFiles('mariadb', mesh.root.certPem, await serverLeaf());
  server = await startMariadb(serverFiles, await freePort());
  cleanups.pop(); // the suite's server lives until afterAll
}, 90_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await server?.recipe.stop();
  await serverFiles?.remove();
});

describe('mariadb recipe: who gets in', { timeout: 30_000 }, () => {
  it('serves the allowed identities as their accounts, over TLS', async () => {
    expect(await call('operator', await mesh.issue(name('operator')))).toEqual({ ok: true, body: 'operator true' });
    expect(await call('mysql-client', await mesh.issue(name('mysql-client')))).toEqual({ ok: true, body: 'mysql-client true' });
    expect(await health(server.recipe)).toMatch(/^ready: serving TLS with certificate [0-9A-F]+ until /);
  });

  it('refuses an unlisted identity, and an allowed account with another identity, with their exact errors', async () => {
    const before = (await server.recipe.stats()).requests as unknown as { refused: number };
    const intruder = await mesh.issue(name('intruder'));
    expect(await call('intruder', intruder)).toEqual({ ok: false, message: "ERROR 1698 (28000): Access denied for user 'intruder'@'127.0.0.1'" });
    expect(await call('operator', intruder)).toEqual({
      ok: false,
      message: "ERROR 1045 (28000): Access denied for user 'operator'@'127.0.0.1' (using password: NO)",
    });
    await waitFor(
      'the refusals counted',
      async () => ((await server.recipe.stats()).requests as unknown as { refused: number }).refused >= before.refused + 2,
      within(),
    );
  });

  it('refuses no certificate at login, a self-signed or foreign one in the handshake', async () => {
    expect(await call('operator')).toEqual({ ok: false, message: "ERROR 1045 (28000): Access denied for user 'operator'@'127.0.0.1' (using password: NO)" });
    for (const leaf of [await selfSignedLeaf(name('operator')), await foreign.issue(name('operator'))]) {
      expect(await call('operator', leaf)).toMatchObject({ ok: false, code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    }
  });
});

describe('mariadb recipe: hostile root.crt', { timeout: 30_000 }, () => {
  const pem = (text: string) => `${text.trim()}\n`;
  const der = (text: string) => Buffer.from(text.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const hostile: Array<[reason: string, make: () => string | Buffer, link: boolean]> = [
    ['not_regular_file', () => join(serverFiles.certDir, 'site.crt'), true],
    ['too_large', () => pem(mesh.root.certPem).repeat(200), false],
    ['not_pem', () => der(mesh.root.certPem), false],
    ['foreign_block', () => pem(mesh.root.certPem) + pem(foreign.root.certPem).replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE'), false],
    ['stray_text', () => `${pem(mesh.root.certPem)}hello\n`, false],
    ['bad_base64', () => pem(mesh.root.certPem).replace(/\n[A-Za-z0-9+/]{8}/, '\n********'), false],
    ['no_certificate', () => '', false],
    ['unpinned', () => pem(mesh.root.certPem) + pem(foreign.root.certPem), false],
  ];
  it.each(hostile)('refuses root.crt (%s), keeps serving with the old trust', async (reason, make, link) => {
    const before = await server.recipe.stats();
    await replaceFile(serverFiles, 'root.crt', make(), link);
    const refused = await waitFor(
      'the refusal',
      async () => {
        const now = await server.recipe.stats();
        return (now.failedReloads ?? 0) > (before.failedReloads ?? 0) ? now : undefined;
      },
      within(10_000),
    );
    expect(refused.lastError, server.recipe.output()).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(refused).toMatchObject({ state: 'serving', serial: before.serial });
    expect(await call('operator', await mesh.issue(name('operator')))).toMatchObject({ ok: true });
    await replaceFile(serverFiles, 'root.crt', mesh.root.certPem);
    await waitFor('the good root.crt taken up again', async () => !(await server.recipe.stats()).lastError, within(10_000));
  });
});

describe('mariadb recipe: renewal by FLUSH SSL', { timeout: 90_000 }, () => {
  it('serves each renewed certificate without a restart; a query in flight finishes; the client never fails', async () => {
    const files = await clientFiles('mysql-client');
    cleanups.push(() => files.remove());
    const client = mysqlClient(server.port, files);
    await waitFor('client calls', async () => (await client.stats()).requests.ok >= 3, within(15_000));
    const pid = await server.pid();
    const reloads = Number((await server.recipe.stats())['reloads']);
    const operator = await mesh.issue(name('operator'));
    await writeFile(join(files.dir, 'operator.key'), operator.keyPem, { mode: 0o600 });
    await writeFile(join(files.dir, 'operator.crt'), operator.bundlePem);
    for (let round = 1; round <= 2; round++) {
      const inFlight = promisify(execFile)('mariadb', [
        ...['--no-defaults', '--protocol=tcp', '-h', SERVER_NAME, '-P', String(server.port), '-u', 'operator', '--ssl-verify-server-cert'],
        ...[
          `--ssl-ca=${join(serverFiles.certDir, 'root.crt')}`,
          `--ssl-cert=${join(files.dir, 'operator.crt')}`,
          `--ssl-key=${join(files.dir, 'operator.key')}`,
        ],
        ...['-N', '-B', '-e', 'SELECT SLEEP(3), CURRENT_USER()'],
      ]);
      const leaf = await serverLeaf();
      await renew(serverFiles, leaf);
      await renew(files, await mesh.issue(name('mysql-client')));
      await waitFor(
        'the new certificate served',
        async () => {
          const served = await servedLeafPem({ port: server.port, serverName: SERVER_NAME, protocol: 'mysql' });
          return served && serialOf(served) === leaf.serial;
        },
        within(15_000),
      );
      expect((await inFlight).stdout).toBe('0\toperator@%\n');
      expect(await server.recipe.stats()).toMatchObject({ reloads: reloads + round, serial: leaf.serial, state: 'serving' });
    }
    expect(await server.pid(), 'the same mariadbd').toBe(pid);
    const ok = (await client.stats()).requests.ok;
    await waitFor('more calls', async () => (await client.stats()).requests.ok >= ok + 3, within(10_000));
    expect(await client.stats(), client.output()).toMatchObject({ reloads: 2, failedReloads: 0, requests: { failed: 0 } });
    expect(await health(client)).toMatch(/^ready: calling with certificate /);
  });
});

describe('mysql client recipe: start-up', { timeout: 60_000 }, () => {
  let files: RecipeFiles;
  beforeAll(async () => {
    files = await clientFiles('mysql-client-startup');
  });
  afterAll(async () => files?.remove());
  startupContract(() => ({
    client: (port, budgetMs) => mysqlClient(port, files, budgetMs),
    server: async (port) => {
      const s = await startMariadb(serverFiles, port);
      return { stop: () => s.recipe.stop() };
    },
    firstSuccessLog: 'first call succeeded',
    refused: /^ERROR 2002 \(HY000\): Can't connect to server on 'localhost' \(115\)$/,
    badConfig: { exitCode: 1, log: { msg: expect.stringContaining('STARTUP_RETRY_BUDGET_MS') } },
    afterFirstSuccess: (recipe) => expect(recipe.logs.find((line) => line.msg === 'first call succeeded')).toMatchObject({ session: 'mysql-client@% TLSv1.3' }),
  }));
});

describe('mysql client recipe: trust file', { timeout: 60_000 }, () => {
  trustContract(() => ({
    files: () => clientFiles('mysql-client-trust'),
    client: (port, files) => mysqlClient(port, files),
    server: async (port, issuer) => {
      const files = issuer === 'mesh' ? serverFiles : await recipeFiles('mariadb-foreign', foreign.root.certPem, await serverLeaf(foreign));
      if (files !== serverFiles) cleanups.push(() => files.remove());
      const s = await startMariadb(files, port);
      return { stop: () => s.recipe.stop() };
    },
    meshRootPem: mesh.root.certPem,
    foreignRootPem: foreign.root.certPem,
    untrusted: /^ERROR 2026 \(HY000\): TLS\/SSL error: /,
  }));
});
