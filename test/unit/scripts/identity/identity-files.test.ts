// Where issue-cert (and the bench) put a host identity's key: a directory only
// the user can enter, files created new with their mode from the start and
// renamed into place, no symbolic link followed. Real files in a temp directory.
import { chmod, chown, lstat, mkdir, open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type IssuedCredential, writeIdentityFiles } from '../../../../scripts/lib/identity/host-identity.js';
import { createPki, makeTempDir, type Pki } from '../../../helpers/pki.js';

let pki: Pki;
let issued: IssuedCredential;
let tmp: { path: string; remove(): Promise<void> };
let n = 0;
const fresh = () => join(tmp.path, `case-${++n}`);
const modeOf = async (p: string) => ((await lstat(p)).mode & 0o777).toString(8);

beforeAll(async () => {
  pki = await createPki('Mesh');
  const leaf = await pki.issue({ commonName: 'operator', dns: ['operator.mesh.internal'] });
  issued = { certPem: leaf.bundlePem, keyPem: leaf.keyPem, serial: leaf.serial };
  tmp = await makeTempDir('identity-files');
});
afterAll(async () => tmp?.remove());

describe('writeIdentityFiles', () => {
  it('makes the directory 0700 and the key 0600 even under umask 000, with every file in place', async () => {
    const dir = fresh();
    const umask = process.umask(0);
    try {
      await writeIdentityFiles(dir, issued, pki.root.certPem);
    } finally {
      process.umask(umask);
    }
    expect(await modeOf(dir)).toBe('700');
    expect(await modeOf(join(dir, 'site.key'))).toBe('600');
    expect((await readdir(dir)).sort()).toEqual(['chain-and-root.crt', 'leaf.crt', 'root.crt', 'site.crt', 'site.key']);
    expect(await readFile(join(dir, 'site.key'), 'utf8')).toBe(issued.keyPem);
  });

  it("accepts an existing empty directory that is 0700 and the user's", async () => {
    const dir = fresh();
    await mkdir(dir, { mode: 0o700 });
    await writeIdentityFiles(dir, issued, pki.root.certPem);
    expect(await modeOf(join(dir, 'site.key'))).toBe('600');
  });

  it('refuses an existing directory others can enter, and leaves its mode alone', async () => {
    const dir = fresh();
    await mkdir(dir);
    await chmod(dir, 0o755);
    await expect(writeIdentityFiles(dir, issued, pki.root.certPem)).rejects.toThrow(`${dir} is open to group or others (mode 0755)`);
    expect(await modeOf(dir)).toBe('755');
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a directory that belongs to another user', async () => {
    // Root gives a private directory away; anyone else meets one of root's.
    const uid = process.getuid!();
    const dir = uid === 0 ? fresh() : '/';
    if (uid === 0) {
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, 1000, 1000);
    }
    const before = await readdir(dir);
    await expect(writeIdentityFiles(dir, issued, pki.root.certPem)).rejects.toThrow(`${dir} belongs to uid ${uid === 0 ? 1000 : 0}, not to you (uid ${uid})`);
    expect(await readdir(dir)).toEqual(before);
  });

  it('refuses a directory that is a symbolic link, even to a private directory', async () => {
    const target = fresh();
    await mkdir(target, { mode: 0o700 });
    const dir = fresh();
    await symlink(target, dir);
    await expect(writeIdentityFiles(dir, issued, pki.root.certPem)).rejects.toThrow(`${dir} is a symbolic link`);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses a site.key that is a symbolic link, and writes nothing through it or in its place', async () => {
    const dir = fresh();
    await mkdir(dir, { mode: 0o700 });
    const elsewhere = join(tmp.path, `elsewhere-${n}`);
    await writeFile(elsewhere, 'not yours\n');
    await symlink(elsewhere, join(dir, 'site.key'));
    await expect(writeIdentityFiles(dir, issued, pki.root.certPem)).rejects.toThrow(`${join(dir, 'site.key')} exists and is not a regular file`);
    expect(await readFile(elsewhere, 'utf8')).toBe('not yours\n');
    expect((await lstat(join(dir, 'site.key'))).isSymbolicLink()).toBe(true);
    expect(await readdir(dir), 'no temporary file left behind').toEqual(['site.key']);
  });

  it('replaces an existing site.key with a new file: whoever holds the old one open never reads the new key', async () => {
    const dir = fresh();
    await mkdir(dir, { mode: 0o700 });
    const key = join(dir, 'site.key');
    await writeFile(key, '', { mode: 0o644 });
    const held = await open(key, 'r');
    try {
      await writeIdentityFiles(dir, issued, pki.root.certPem);
      expect((await held.readFile('utf8')).length).toBe(0);
      expect(await readFile(key, 'utf8')).toBe(issued.keyPem);
      expect(await modeOf(key)).toBe('600');
    } finally {
      await held.close();
    }
  });

  it('writes a renewed identity over the last one (issue-cert run again), leaving only the five files', async () => {
    const dir = fresh();
    await writeIdentityFiles(dir, issued, pki.root.certPem);
    const leaf = await pki.issue({ commonName: 'operator', dns: ['operator.mesh.internal'] });
    await writeIdentityFiles(dir, { certPem: leaf.bundlePem, keyPem: leaf.keyPem, serial: leaf.serial }, pki.root.certPem);
    expect(await readFile(join(dir, 'site.key'), 'utf8')).toBe(leaf.keyPem);
    expect(await readFile(join(dir, 'site.crt'), 'utf8')).toContain(leaf.certPem.trim());
    expect((await readdir(dir)).sort()).toEqual(['chain-and-root.crt', 'leaf.crt', 'root.crt', 'site.crt', 'site.key']);
  });
});
