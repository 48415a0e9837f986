/**
 * What the scripted client recipes' tests (Ruby, PHP, Python requests) share:
 * the renewer's way of writing a file, a wait on successful calls, and a
 * renewal through the renewer's key-then-certificate window.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, afterEach } from 'vitest';

import { waitFor } from '../../../../common/wait.js';
import type { Leaf } from '../../../helpers/pki.js';
import { type CertDir, startServer } from '../../services/helpers/fixtures.js';
import { within } from '../../services/helpers/harness.js';
import type { RecipeFiles } from './recipe-credentials.js';
import type { RecipeProcess } from './recipe-process.js';

type Stats = Awaited<ReturnType<RecipeProcess['stats']>>;

/** Replaces a file by rename, as the renewer writes it. */
export async function renewerWrites(files: RecipeFiles, name: 'site.crt' | 'site.key' | 'root.crt', content: string): Promise<void> {
  const tmp = join(files.certDir, `.${name}.tmp`);
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, join(files.certDir, name));
}

export const okAtLeast = (recipe: RecipeProcess, n: number) => async () => (await recipe.stats()).requests.ok >= n;

/**
 * Writes `next` as the renewer does (the key, then a moment later the
 * certificate), checking that calls go on with the last good pair in between,
 * and waits for the new certificate in use and two calls with it. Returns the
 * stats from before and after, for the caller's own assertions.
 */
export async function renewThroughKeyWindow(recipe: RecipeProcess, files: RecipeFiles, next: Leaf): Promise<{ before: Stats; after: Stats }> {
  const before = await recipe.stats();
  await renewerWrites(files, 'site.key', next.keyPem);
  // Calls go on with the last good pair while the key on disk does not match the certificate.
  await waitFor('calls beside a new key and the old certificate', okAtLeast(recipe, (await recipe.stats()).requests.ok + 3), within(10_000));
  await renewerWrites(files, 'site.crt', next.bundlePem);
  const inUse = await waitFor(
    'the new certificate in use',
    async () => ((await recipe.stats()).serial === next.serial ? recipe.stats() : undefined),
    within(10_000),
  );
  await waitFor('calls with it', okAtLeast(recipe, inUse.requests.ok + 2), within(10_000));
  return { before, after: await recipe.stats() };
}

/**
 * The hooks of a client recipe's test file: what a test pushes to `cleanups`
 * runs after it (newest first), the servers' folders go after all; `server`
 * starts the Node mTLS server in-process on a port, stopped after the test.
 */
export function clientTestHooks(servers: () => Readonly<Record<string, CertDir>> | undefined) {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    for (const dir of Object.values(servers() ?? {})) await dir.remove();
  });
  async function server(port: number, dir: CertDir): Promise<{ stop(): Promise<void> }> {
    const running = await startServer(dir.path, { listenPort: port });
    await running.server.serving();
    cleanups.push(() => running.stop());
    return running;
  }
  return { cleanups, server };
}
