// The registry mirror has no authentication on loopback, so what keeps
// another local user from pushing an image under an official name is that
// the registry is read-only once seeded. The real registry (distribution,
// the binary `registry-mirror up` runs, from the cache), on a free loopback
// port with its own storage, driven through its HTTP API: no engine involved.
import { createHash } from 'node:crypto';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  ensureRegistryBinary,
  lockRegistry,
  type RegistryFiles,
  registryFiles,
  servedTags,
  startRegistry,
  stopRegistry,
} from '../../../../scripts/lib/registry-mirror/registry.js';
import { cachePaths } from '../../../../scripts/lib/toolchain/cache.js';
import { makeTempDir } from '../../../helpers/pki.js';
import { freePort } from '../../services/helpers/harness.js';

let binary: string;
let tmp: { path: string; remove(): Promise<void> };
let files: RegistryFiles;
let port: number;

beforeAll(async () => {
  binary = await ensureRegistryBinary(registryFiles(cachePaths()).dir);
  tmp = await makeTempDir('registry-mirror');
}, 300_000);
afterEach(async () => stopRegistry(files));
afterAll(async () => tmp?.remove());

const sha256 = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

/**
 * What the registry said to the step that stopped a push (or to the
 * manifest, when all went through). A read-only distribution 2.8 registers
 * no write method at all: 405 with `Allow: GET, HEAD`.
 */
interface PushResult {
  readonly step: 'blob upload' | 'blob' | 'manifest';
  readonly status: number;
  readonly allow?: string;
  readonly digest?: string;
}

/** Pushes a one-layer image the way `docker push` does (blob uploads, then the manifest). */
async function push(repository: string, tag: string, content: string): Promise<PushResult> {
  const base = `http://127.0.0.1:${port}/v2/${repository}`;
  const refused = (step: PushResult['step'], r: Response): PushResult => ({
    step,
    status: r.status,
    ...(r.headers.has('allow') ? { allow: r.headers.get('allow')! } : {}),
  });
  const blobs: Array<{ digest: string; size: number }> = [];
  for (const body of [Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', note: content })), Buffer.from(`layer ${content}`)]) {
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) return refused('blob upload', start);
    const location = new URL(start.headers.get('location')!, base);
    location.searchParams.set('digest', sha256(body));
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body });
    if (put.status !== 201) return refused('blob', put);
    blobs.push({ digest: sha256(body), size: body.length });
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...blobs[0] },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...blobs[1] }],
  });
  const put = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' },
    body: manifest,
  });
  if (put.status !== 201) return refused('manifest', put);
  return { step: 'manifest', status: put.status, digest: put.headers.get('docker-content-digest') ?? undefined };
}

/** A writable registry on an empty storage, seeded with `images`; what was seeded. */
async function seed(name: string, images: Array<[repository: string, tag: string]>): Promise<Map<string, string>> {
  const dir = path.join(tmp.path, name);
  files = {
    config: path.join(dir, 'config.yml'),
    storage: path.join(dir, 'storage'),
    log: path.join(dir, 'registry.log'),
    pid: path.join(dir, 'registry.pid'),
  };
  port = await freePort();
  await startRegistry(binary, files, { port, readOnly: false });
  const seeded = new Map<string, string>();
  for (const [repository, tag] of images) {
    // The same requests the read-only registry must refuse below are accepted here.
    const pushed = await push(repository, tag, `${repository}:${tag}`);
    expect(pushed).toMatchObject({ step: 'manifest', status: 201, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    seeded.set(`${repository}:${tag}`, pushed.digest!);
  }
  return seeded;
}

describe('the registry mirror after seeding', () => {
  it('refuses every push (405, only GET and HEAD allowed), a new name or an official one, and still serves exactly what was seeded', async () => {
    const seeded = await seed('locked', [
      ['library/node', '24-bookworm-slim'],
      ['smallstep/step-ca', '0.30.2'],
    ]);
    await lockRegistry(binary, files, { port, seeded });

    expect(await push('library/node', '24-bookworm-slim', "someone else's node")).toEqual({ step: 'blob upload', status: 405, allow: 'GET, HEAD' });
    expect(await push('library/alpine', 'latest', 'a name the mirror never had')).toEqual({ step: 'blob upload', status: 405, allow: 'GET, HEAD' });
    // A manifest over the official tag, reusing blobs that are already there, is refused too.
    const manifest = await fetch(`http://127.0.0.1:${port}/v2/library/node/manifests/24-bookworm-slim`, {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    const reTagged = await fetch(`http://127.0.0.1:${port}/v2/library/node/manifests/latest`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' },
      body: await manifest.text(),
    });
    expect([manifest.status, reTagged.status, reTagged.headers.get('allow')]).toEqual([200, 405, 'GET, HEAD']);
    expect(await servedTags(port)).toEqual(seeded);
  });

  it('is not handed to the engine when it serves anything but what was seeded (a push while it was writable)', async () => {
    const seeded = await seed('tampered', [['library/node', '24-bookworm-slim']]);
    expect(await push('library/node', '24-bookworm-slim', 'replaced while seeding')).toMatchObject({ status: 201 });
    expect(await push('library/debian', 'bookworm-slim', 'added while seeding')).toMatchObject({ status: 201 });
    await expect(lockRegistry(binary, files, { port, seeded })).rejects.toThrow(
      new RegExp(
        `^the registry mirror does not serve what was pushed to it \\(library/node:24-bookworm-slim is sha256:[0-9a-f]{64}, not the seeded ${seeded.get('library/node:24-bookworm-slim')}; library/debian:bookworm-slim was not seeded\\)`,
      ),
    );
    // And it is stopped: nothing serves the tampered storage.
    await expect(fetch(`http://127.0.0.1:${port}/v2/`)).rejects.toThrow();
  });
});
