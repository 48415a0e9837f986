// The renewer installs a new pair by renames around a commit point
// (.next.site.crt). Whatever moment a crash hits, its next start must leave a
// consistent pair: the new one when the commit point was reached, the old one,
// untouched, otherwise. Runs images/step-ca/renewer.sh's `recover` on real
// files (no step CLI needed for this part).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';

const RENEWER = path.resolve(import.meta.dirname, '../../../images/step-ca/renewer.sh');
/** The shell library the renewer sources from PATH (recipes/lib/mtls-common.sh). */
const SHELL_LIB = path.resolve(import.meta.dirname, '../../../recipes/lib');
let dir: string;

const put = (files: Record<string, string>) => Promise.all(Object.entries(files).map(([f, c]) => writeFile(path.join(dir, f), c)));
const contents = async () =>
  Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (f) => [f, await readFile(path.join(dir, f), 'utf8')])));
const run = (...args: string[]) =>
  $({
    quiet: true,
    nothrow: true,
    env: { PATH: `${SHELL_LIB}:${process.env.PATH}`, CERT_DIR: dir, STATE_FILE: path.join(dir, '..', `${path.basename(dir)}.state`) },
  })`bash ${RENEWER} ${args}`;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'renewer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('renewer crash recovery', () => {
  it('after the commit point, before any install: installs key, then certificate', async () => {
    await put({ 'root.crt': 'root', 'site.crt': 'old-crt', 'site.key': 'old-key', '.next.site.key': 'new-key', '.next.site.crt': 'new-crt' });
    const out = await run('recover');
    expect(out.exitCode, out.stderr).toBe(0);
    expect(await contents()).toEqual({ 'root.crt': 'root', 'site.crt': 'new-crt', 'site.key': 'new-key' });
    expect(out.stdout).toContain('finished a renewal that was interrupted after its commit point');
  });

  it('between the two installs (new key, old certificate): installs the certificate', async () => {
    await put({ 'root.crt': 'root', 'site.crt': 'old-crt', 'site.key': 'new-key', '.next.site.crt': 'new-crt' });
    expect((await run('recover')).exitCode).toBe(0);
    expect(await contents()).toEqual({ 'root.crt': 'root', 'site.crt': 'new-crt', 'site.key': 'new-key' });
  });

  it.each([
    ['while step was writing', { '.staged.site.crt': 'half', '.staged.site.key': 'new-key' }],
    ['after staging the key only', { '.staged.site.crt': 'new-crt', '.next.site.key': 'new-key' }],
  ])('before the commit point (%s): discards the new files, keeps the old pair untouched', async (_when, staged) => {
    await put({ 'root.crt': 'root', 'site.crt': 'old-crt', 'site.key': 'old-key', ...staged });
    const out = await run('recover');
    expect(out.exitCode, out.stderr).toBe(0);
    expect(await contents()).toEqual({ 'root.crt': 'root', 'site.crt': 'old-crt', 'site.key': 'old-key' });
    expect(out.stdout).toBe('');
  });
});
