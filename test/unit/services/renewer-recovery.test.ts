// The renewer installs a new pair by renames around a commit point
// (.next.site.crt). Whatever moment a crash hits, its next start must leave a
// consistent pair: the new one when the commit point was reached, the old one,
// untouched, otherwise. Runs services/step-ca/renewer.sh's `recover` on real
// files (no step CLI needed for this part).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';

const RENEWER = path.resolve(import.meta.dirname, '../../../services/step-ca/renewer.sh');
let dir: string;

const put = (files: Record<string, string>) => Promise.all(Object.entries(files).map(([f, c]) => writeFile(path.join(dir, f), c)));
const contents = async () => Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (f) => [f, await readFile(path.join(dir, f), 'utf8')])));
const run = (...args: string[]) => $({ quiet: true, nothrow: true, env: { PATH: process.env.PATH, CERT_DIR: dir, STATE_FILE: path.join(dir, '..', `${path.basename(dir)}.state`) } })`bash ${RENEWER} ${args}`;

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

  it('the health check: waiting before enrollment, unusable when only one of the pair is there', async () => {
    await put({ 'root.crt': 'root' });
    const waiting = await run('health');
    expect([waiting.exitCode, waiting.stdout.trim()]).toEqual([0, 'waiting for enrollment']);
    await put({ 'site.key': 'key' });
    const broken = await run('health');
    expect([broken.exitCode, broken.stdout.trim()]).toEqual([1, 'unusable: site.crt is missing or empty']);
  });
});

describe('the health check during an install', () => {
  // A stand-in for step: a "certificate" file holds `crt:<pub>`, a key `key:<pub>`.
  let bin: string;
  beforeEach(async () => {
    bin = await mkdtemp(path.join(tmpdir(), 'renewer-bin-'));
    const step = [
      '#!/bin/sh',
      'case "$1 $2" in',
      '  "certificate verify") exit 0 ;;',
      '  "certificate key") sed -n "s/^crt://p" "$3" ;;',
      // An install that lands during the check: the first key read renames
      // the staged certificate into place, as the renewer's install does.
      '  "crypto key") sed -n "s/^key://p" "$4"; d=$(dirname "$4"); [ ! -e "$d/.swap" ] || mv -f "$d/.swap" "$d/site.crt" ;;',
      '  *) exit 3 ;;',
      'esac',
    ].join('\n');
    await writeFile(path.join(bin, 'step'), `${step}\n`, { mode: 0o755 });
  });
  afterEach(async () => {
    await rm(bin, { recursive: true, force: true });
  });
  const health = () => $({ quiet: true, nothrow: true, env: { PATH: `${bin}:${process.env.PATH}`, CERT_DIR: dir, STATE_FILE: path.join(dir, '..', `${path.basename(dir)}.state`) } })`bash ${RENEWER} health`;

  it('a pair that matches again within the check (key renamed first, certificate next) is healthy, not unusable', async () => {
    // The first look reads the old certificate and the new key; the certificate is then renamed in.
    await put({ 'root.crt': 'root', 'site.key': 'key:new', 'site.crt': 'crt:old', '.swap': 'crt:new' });
    const out = await health();
    expect([out.exitCode, out.stdout.trim()]).toEqual([0, 'ok']);
    expect(await contents()).toEqual({ 'root.crt': 'root', 'site.crt': 'crt:new', 'site.key': 'key:new' });
  });

  it('a pair that stays mismatched is unusable, with the reason', async () => {
    await put({ 'root.crt': 'root', 'site.key': 'key:a', 'site.crt': 'crt:b' });
    const out = await health();
    expect([out.exitCode, out.stdout.trim()]).toEqual([1, 'unusable: site.key does not match site.crt']);
  });
});
