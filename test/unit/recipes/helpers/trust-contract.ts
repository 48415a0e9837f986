// The trust-file contract (recipes/README.md, "Trust file") as one set of
// tests each shell client recipe's file runs against its own loop and server:
// a hostile root.crt written while the client calls is refused with the
// contract's reason, the client keeps its old trust and credentials and its
// calls keep succeeding; and a server whose certificate comes from a foreign
// CA (with the expected name) stays refused in the handshake while root.crt
// carries that CA in a form OpenSSL would load.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { waitFor } from '../../../../common/wait.js';
import { freePort, within } from '../../services/helpers/harness.js';
import type { RecipeFiles } from './recipe-credentials.js';
import type { ClientStats, RecipeProcess } from './recipe-process.js';

export interface TrustSubject {
  /** A fresh set of the client's files: the mesh root, pinned, and a mesh client certificate. */
  files(): Promise<RecipeFiles>;
  /** The recipe's loop with these files, calling 127.0.0.1:port every 100 ms. */
  client(port: number, files: RecipeFiles): RecipeProcess;
  /** A server on the port presenting the expected server name, certified by the mesh's CA or a foreign one; it accepts the mesh's clients. */
  server(port: number, issuer: 'mesh' | 'foreign'): Promise<{ stop(): Promise<void> }>;
  readonly meshRootPem: string;
  readonly foreignRootPem: string;
  /** The recipe's lastError for a server certificate that does not chain to a trusted root. */
  readonly untrusted: RegExp;
}

const pem = (text: string) => `${text.trim()}\n`;
const relabel = (text: string, label: string) =>
  pem(text).replace('-----BEGIN CERTIFICATE-----', `-----BEGIN ${label}-----`).replace('-----END CERTIFICATE-----', `-----END ${label}-----`);

/** Replaces root.crt by rename, as the renewer writes it. */
async function writeRoot(files: RecipeFiles, content: string): Promise<void> {
  const tmp = join(files.certDir, '.root.crt.tmp');
  await writeFile(tmp, content);
  await rename(tmp, join(files.certDir, 'root.crt'));
}

const statsOf = async (recipe: RecipeProcess): Promise<ClientStats> => recipe.stats();

export function trustContract(subject: () => TrustSubject): void {
  const hostile: ReadonlyArray<readonly [string, string, (s: TrustSubject) => string]> = [
    ['the foreign root appended as TRUSTED CERTIFICATE', 'foreign_block', (s) => pem(s.meshRootPem) + relabel(s.foreignRootPem, 'TRUSTED CERTIFICATE')],
    ['the foreign root appended as X509 CERTIFICATE', 'foreign_block', (s) => pem(s.meshRootPem) + relabel(s.foreignRootPem, 'X509 CERTIFICATE')],
    ['the foreign root appended as a plain CERTIFICATE', 'unpinned', (s) => pem(s.meshRootPem) + pem(s.foreignRootPem)],
  ];

  it.each(hostile)('refuses root.crt with %s (%s), keeping its trust, credentials and calls', async (_name, reason, make) => {
    const s = subject();
    const files = await s.files();
    const port = await freePort();
    await s.server(port, 'mesh');
    const recipe = s.client(port, files);
    try {
      await waitFor('successful calls', async () => (await statsOf(recipe)).requests.ok >= 2, within(10_000));
      const before = await statsOf(recipe);
      await writeRoot(files, make(s));
      const refused = await waitFor(
        'the refusal',
        async () => {
          const now = await statsOf(recipe);
          return (now.failedReloads ?? 0) > (before.failedReloads ?? 0) ? now : undefined;
        },
        within(10_000),
      );
      expect(refused.lastError, recipe.output()).toMatch(new RegExp(`root\\.crt refused: ${reason}: `));
      expect(refused.serial, 'the certificate in use is kept').toBe(before.serial);
      expect(
        recipe.logs.filter((line) => line.level !== 'info' && JSON.stringify(line).includes(`${reason}: `)),
        recipe.output(),
      ).toHaveLength(1);
      // Calls go on with the trust checked last: more successes, no failure.
      await waitFor('calls after the refusal', async () => (await statsOf(recipe)).requests.ok >= refused.requests.ok + 3, within(10_000));
      const after = await statsOf(recipe);
      expect(after.requests.failed, recipe.output()).toBe(0);
      expect(after.failedReloads, 'refused once, not at every call').toBe(refused.failedReloads);
    } finally {
      await recipe.stop();
      await files.remove();
    }
  });

  it("keeps refusing a foreign CA's server with the expected name in the handshake while root.crt carries that CA as TRUSTED CERTIFICATE", async () => {
    const s = subject();
    const files = await s.files();
    const port = await freePort();
    await s.server(port, 'foreign');
    const recipe = s.client(port, files);
    try {
      const first = await waitFor(
        'a failed call',
        async () => {
          const now = await statsOf(recipe);
          return now.requests.failed >= 1 ? now : undefined;
        },
        within(15_000),
      );
      expect(first.lastError, recipe.output()).toMatch(s.untrusted);
      await writeRoot(files, pem(s.meshRootPem) + relabel(s.foreignRootPem, 'TRUSTED CERTIFICATE'));
      const refused = await waitFor(
        'the refusal',
        async () => {
          const now = await statsOf(recipe);
          return (now.failedReloads ?? 0) > (first.failedReloads ?? 0) ? now : undefined;
        },
        within(10_000),
      );
      // Calls after the refusal still meet the foreign certificate and fail in the handshake.
      await waitFor('calls after the refusal', async () => (await statsOf(recipe)).requests.failed >= refused.requests.failed + 1, within(15_000));
      const after = await statsOf(recipe);
      expect(after.requests.ok, recipe.output()).toBe(0);
      expect(after.lastError, recipe.output()).toMatch(s.untrusted);
    } finally {
      await recipe.stop();
      await files.remove();
    }
  });
}
