// The Redis recipe's scripts run on the host as its containers run them
// (test/unit/recipes/redis-recipe.test.ts): uid 1000 when the tests run as
// root (setpriv keeps the environment), only the contract's environment,
// the identity module and the name-check library built with the host's gcc.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { waitFor } from '../../../../common/wait.js';
import { type Leaf, makeTempDir, type Pki } from '../../../helpers/pki.js';
import { within } from '../../services/helpers/harness.js';
import { handOver } from './httpd-recipe.js';
import { type RecipeFiles, recipeFiles } from './recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './recipe-process.js';

const RECIPES = fileURLToPath(new URL('../../../../recipes', import.meta.url));
const PATH = [join(RECIPES, 'redis'), join(RECIPES, 'mariadb'), join(RECIPES, 'lib'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter);
/** The server's name: the callers dial localhost. */
export const SERVER_NAME = 'localhost';
export const RUNTIME_UID = 1000;
export const asRoot = process.getuid?.() === 0;
export const sh = promisify(execFile);

let built: { path: string; remove(): Promise<void> } | undefined;
/** What each test started, stopped after it (afterEach). */
export const cleanups: Array<() => Promise<void>> = [];
export async function stopStarted(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}
export const id = (n: string) => ({ commonName: `${n}.mesh.internal`, dns: [`${n}.mesh.internal`], uris: [`spiffe://mesh.internal/${n}`] });
export const serverLeaf = (pki: Pki, dns = [SERVER_NAME, 'redis.mesh.internal']) =>
  pki.issue({ commonName: dns[0]!, dns, uris: ['spiffe://mesh.internal/redis'] });

export type Running = RecipeProcess & { readonly statsFile: string; readonly stateDir: string };
let runs = 0;
/** A recipe script as uid 1000 (setpriv keeps the environment), its stats and state in files.dir. */
function run(script: string, files: RecipeFiles, env: Record<string, string>): Running {
  const n = ++runs;
  const statsFile = join(files.dir, `stats-${n}.json`);
  const stateDir = join(files.dir, `state-${n}`);
  let entry = join(RECIPES, 'redis', script);
  if (asRoot) {
    entry = join(files.dir, `as-runtime-user-${n}`);
    writeFileSync(entry, `#!/bin/sh\nexec setpriv --reuid ${RUNTIME_UID} --regid ${RUNTIME_UID} --clear-groups ${join(RECIPES, 'redis', script)}\n`, {
      mode: 0o755,
    });
  }
  const base = { PATH, CERT_DIR: files.certDir, ROOT_PIN_FILE: files.pinFile, STATS_FILE: statsFile, MTLS_STATE_DIR: stateDir };
  const extra = { MTLS_REDIS_MODULE: join(built!.path, 'mtls_identity.so'), MTLS_VERIFY_HOST: join(built!.path, 'mtls_verify_host.so') };
  return Object.assign(runRecipe(entry, { ...base, ...extra, ...env }, statsFile), { statsFile, stateDir });
}

export interface Redis {
  readonly recipe: Running;
  readonly port: number;
  /** redis-server's pid, from INFO on the admin socket. */
  pid(): Promise<string>;
}
/** mtls-redis on 127.0.0.1:port; resolves once it serves. */
export async function startRedis(files: RecipeFiles, port: number): Promise<Redis> {
  const recipe = run('mtls-redis', files, {
    LISTEN_PORT: String(port),
    ALLOWED_IDENTITIES: 'spiffe://mesh.internal/redis-client,spiffe://mesh.internal/operator',
    REDIS_BIND_ADDRESS: '127.0.0.1',
  });
  cleanups.push(() => recipe.stop());
  const serving = async () => {
    if (recipe.child.exitCode !== null) throw new Error(`mtls-redis exited ${recipe.child.exitCode}`);
    return (await recipe.stats().catch(() => undefined))?.state === 'serving';
  };
  await waitFor('redis serving', serving, within(30_000)).catch((e: Error) => {
    throw new Error(`${e.message}\n${recipe.output()}`);
  });
  const pid = async () =>
    /process_id:(\d+)/.exec((await sh('redis-cli', ['-s', join(recipe.stateDir, 'run', 'redis.sock'), 'INFO', 'server'])).stdout)?.[1] ?? '';
  return { recipe, port, pid };
}

/** mtls-redis-client calling host:port every 100 ms as user redis-client. */
export function redisClient(port: number, files: RecipeFiles, budgetMs = '20000', host = SERVER_NAME): Running {
  const recipe = run('mtls-redis-client', files, {
    WORKLOAD_NAME: 'redis-client',
    TARGET_HOST: host,
    TARGET_PORT: String(port),
    EXPECTED_SERVER_IDENTITY: host,
    REQUEST_INTERVAL_MS: '100',
    STARTUP_RETRY_BUDGET_MS: budgetMs,
  });
  cleanups.push(() => recipe.stop());
  return recipe;
}
/** The files of a recipe, handed over to the runtime user (its state and stats go in files.dir). */
export async function owned(label: string, rootPem: string, leaf: Leaf): Promise<RecipeFiles> {
  const files = await recipeFiles(label, rootPem, leaf);
  await handOver(files.dir);
  return files;
}
/** recipes/mariadb/mtls-health (the image's mtls-health) on a recipe's stats file: its line. */
export async function health(recipe: Running): Promise<string> {
  const out = await sh('bash', [join(RECIPES, 'mariadb', 'mtls-health')], { env: { PATH, STATS_FILE: recipe.statsFile } }).catch((e: { stdout: string }) => e);
  return out.stdout.trim();
}

/** The module and the library, built once from recipes/redis with the host's gcc (libssl-dev). */
export async function buildLibraries(): Promise<void> {
  if (!existsSync('/usr/bin/redis-server') || !existsSync('/usr/bin/redis-cli'))
    throw new Error('these tests run the Redis recipe with the host redis-server: install redis-server and redis-tools (Debian)');
  built = await makeTempDir('redis-build');
  for (const [src, lib] of [
    ['mtls_identity.c', '-lcrypto'],
    ['mtls_verify_host.c', '-ldl'],
  ] as const) {
    await sh('gcc', [
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-fPIC',
      '-shared',
      '-o',
      join(built.path, src.replace(/\.c$/, '.so')),
      join(RECIPES, 'redis', src),
      lib,
    ]);
  }
  await handOver(built.path);
}

export async function removeLibraries(): Promise<void> {
  await built?.remove();
}
