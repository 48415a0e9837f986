// `docker save` archives in both layouts, built here from layer data: the
// legacy one (Engine < 25: <id>/layer.tar) and the OCI one (Engine >= 25:
// blobs/sha256/<hex>, gzip-compressed layers, manifest.json after the
// blobs, legacy paths as symlinks). The reader must find every layer, the
// final version of a file with its xattrs, and a secret anywhere in a layer.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { finalEntry, openImageArchive, scanLayers } from '../../../../scripts/lib/docker/image-archive.js';
import { tarArchive } from '../helpers/tar-writer.js';

// security.capability of `setcap cap_net_bind_service=+eip`, as read from a real image.
const CAP = Buffer.from('0100000200040000000400000000000000000000', 'hex');
const SECRET = 'MHcCAQEEIBsecretkeybodyofthisverysystem0123456789abcdef';
const STEP_CA = 'usr/local/bin/step-ca';

// Layer 1: the binary with its capability, and a file holding the secret
// right across the 64 KiB read boundary. Layer 2: the binary rewritten
// without xattrs, the secret file whited out.
const bigBody = Buffer.alloc(200_000, 0x61);
bigBody.write(SECRET, 65536 - 512 - 10);
const layer1 = await tarArchive([
  { name: 'usr/', type: 'directory' },
  { name: 'usr/local/bin/', type: 'directory' },
  { name: STEP_CA, body: 'ELF-with-cap', mode: 0o755, xattrs: { 'security.capability': CAP } },
  { name: 'srv/big.bin', body: bigBody },
  { name: `srv/${'deep/'.repeat(30)}long-name.txt`, body: 'long' },
]);
const layer2 = await tarArchive([{ name: STEP_CA, body: 'ELF-without-cap', mode: 0o755 }, { name: 'srv/.wh.big.bin' }]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function legacyArchive(layers: Buffer[]): Promise<Buffer> {
  const ids = layers.map((l) => sha(l));
  return tarArchive([
    ...layers.flatMap((l, i) => [
      { name: `${ids[i]}/`, type: 'directory' as const },
      { name: `${ids[i]}/VERSION`, body: '1.0' },
      { name: `${ids[i]}/layer.tar`, body: l },
    ]),
    { name: 'config.json', body: '{}' },
    { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['x:1'], Layers: ids.map((id) => `${id}/layer.tar`) }]) },
    { name: 'repositories', body: '{}' },
  ]);
}

function ociArchive(layers: Buffer[], opts: { viaSymlink?: boolean } = {}): Promise<Buffer> {
  const blobs = layers.map((l) => gzipSync(l));
  const digests = blobs.map(sha);
  const layerPaths = digests.map((d, i) => (opts.viaSymlink ? `${sha(layers[i]!)}/layer.tar` : `blobs/sha256/${d}`));
  return tarArchive([
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...blobs.map((b, i) => ({ name: `blobs/sha256/${digests[i]}`, body: b })),
    { name: 'blobs/sha256/0c0ffee', body: '{"config":true}' },
    ...(opts.viaSymlink ? layers.map((l, i) => ({ name: `${sha(l)}/layer.tar`, type: 'symlink' as const, linkname: `../blobs/sha256/${digests[i]}` })) : []),
    { name: 'index.json', body: '{"schemaVersion":2}' },
    { name: 'manifest.json', body: JSON.stringify([{ Config: 'blobs/sha256/0c0ffee', RepoTags: ['x:1'], Layers: layerPaths }]) },
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
  ]);
}

let dir: string;
const write = async (name: string, data: Buffer | Promise<Buffer>) => {
  const file = path.join(dir, name);
  await writeFile(file, await data);
  return file;
};
beforeAll(async () => void (dir = await mkdtemp(path.join(os.tmpdir(), 'image-archive-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe.each([
  ['legacy', 'docker', () => legacyArchive([layer1, layer2]), () => legacyArchive([layer1])],
  ['OCI, gzip layers', 'oci', () => ociArchive([layer1, layer2]), () => ociArchive([layer1])],
  ['OCI, layers named through symlinks', 'oci', () => ociArchive([layer1, layer2], { viaSymlink: true }), () => ociArchive([layer1], { viaSymlink: true })],
])('%s layout', (label, layout, both, firstOnly) => {
  it('lists the layers manifest.json names, bottom first', async () => {
    const a = await openImageArchive(await write(`${label}-both.tar`, both()));
    expect(a.layout).toBe(layout);
    expect(a.layers).toHaveLength(2);
  });

  it('scans every layer, decompressed, and finds a secret across a read boundary', async () => {
    const a = await openImageArchive(await write(`${label}-both.tar`, both()));
    const r = await scanLayers(a, [SECRET, 'not-in-any-layer']);
    expect(r.bytes).toBe(layer1.length + layer2.length);
    expect(r.layersWithMatch).toEqual([1, 0]);
  });

  it('reads the final version of a file and its security.capability xattr', async () => {
    const withCap = await finalEntry(await openImageArchive(await write(`${label}-one.tar`, firstOnly())), STEP_CA);
    expect(withCap?.xattrs['security.capability']).toEqual(CAP);
    const rewritten = await finalEntry(await openImageArchive(await write(`${label}-both.tar`, both())), STEP_CA);
    expect(rewritten?.size).toBe('ELF-without-cap'.length);
    expect(rewritten?.xattrs['security.capability']).toBeUndefined();
  });

  it('honours whiteouts and long names', async () => {
    const a = await openImageArchive(await write(`${label}-both.tar`, both()));
    expect(await finalEntry(a, 'srv/big.bin')).toBeUndefined();
    expect((await finalEntry(a, `srv/${'deep/'.repeat(30)}long-name.txt`))?.size).toBe(4);
  });
});

describe('hostile or broken archives', () => {
  it('refuses a file that is not a tar', async () => {
    const file = await write('garbage.tar', Buffer.alloc(4096, 0x41));
    await expect(openImageArchive(file)).rejects.toThrow(`cannot read ${file} as a tar archive: Invalid tar header`);
  });

  it('refuses a tar without manifest.json', async () => {
    const file = await write('no-manifest.tar', tarArchive([{ name: 'a', body: 'b' }]));
    await expect(openImageArchive(file)).rejects.toThrow('has no manifest.json');
  });

  it('refuses a manifest naming a layer the archive lacks', async () => {
    const file = await write('missing.tar', tarArchive([{ name: 'manifest.json', body: '[{"Layers":["blobs/sha256/beef"]}]' }]));
    await expect(openImageArchive(file)).rejects.toThrow('image archive has no entry blobs/sha256/beef');
  });

  it('refuses a truncated archive', async () => {
    const whole = await legacyArchive([layer1]);
    const file = await write('truncated.tar', whole.subarray(0, 70_000));
    await expect(openImageArchive(file)).rejects.toThrow(`cannot read ${file} as a tar archive: Unexpected end of data`);
  });
});
