/**
 * The mirror's registry process: distribution from Debian's docker-registry
 * package, unpacked into the cache (no service, no user), on 127.0.0.1.
 * Loopback has no authentication, and every local user reaches it: the
 * registry accepts pushes only while it is being seeded, then runs read-only
 * (distribution's maintenance mode: every write answers 405, `Allow: GET, HEAD`) and
 * is checked to serve exactly what was seeded before the engine pulls from it.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';

import { $, expBackoff, fs, retry } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from '../toolchain/cache.js';
import { MIRROR_HOST, mirrorUrl, registryConfig } from './config.js';

const sh = $({ quiet: true, nothrow: true, timeout: '10m' });

export interface RegistryFiles {
  readonly config: string;
  readonly storage: string;
  readonly log: string;
  readonly pid: string;
}

/** distribution's binary from Debian's package, unpacked once into `dir`. */
export async function ensureRegistryBinary(dir: string): Promise<string> {
  const unpacked = path.join(dir, 'package');
  const binary = path.join(unpacked, 'usr', 'bin', 'docker-registry');
  if (await fs.pathExists(binary)) return binary;
  const debs = path.join(dir, 'deb');
  await fs.emptyDir(debs);
  let dl = await $({ quiet: true, nothrow: true, timeout: '10m', cwd: debs })`apt-get download docker-registry`;
  if (dl.exitCode !== 0 && process.getuid?.() === 0) {
    await sh`apt-get update -q`;
    dl = await $({ quiet: true, nothrow: true, timeout: '10m', cwd: debs })`apt-get download docker-registry`;
  }
  const deb = (await fs.readdir(debs)).find((f: string) => f.endsWith('.deb'));
  if (dl.exitCode !== 0 || !deb) throw new UserError(`apt-get download docker-registry failed: ${dl.stderr.trim()}. Is Debian's package mirror reachable?`);
  await fs.emptyDir(unpacked);
  const x = await sh`dpkg-deb -x ${path.join(debs, deb)} ${unpacked}`;
  if (x.exitCode !== 0 || !(await fs.pathExists(binary))) throw new UserError(`unpacking ${deb} failed: ${x.stderr.trim()}`);
  await fs.remove(debs);
  return binary;
}

export async function pidAlive(pidFile: string, name: string): Promise<number | undefined> {
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmd.includes(name) ? pid : undefined;
}

async function answers(port: number): Promise<boolean> {
  try {
    const r = await fetch(`${mirrorUrl(port)}/v2/`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts the registry (ours stopped first, if it runs): writable to seed it,
 * read-only to serve. Someone else's registry on the port is refused.
 */
export async function startRegistry(binary: string, files: RegistryFiles, opts: { port: number; readOnly: boolean }): Promise<void> {
  await stopRegistry(files);
  if (await answers(opts.port)) {
    throw new UserError(
      `${mirrorUrl(opts.port)} answers but is not the mirror this project started (no live pid in ${files.pid}); stop that registry or pick another --port`,
    );
  }
  await fs.mkdirp(files.storage);
  await fs.writeFile(files.config, registryConfig({ port: opts.port, storageDir: files.storage, readOnly: opts.readOnly }));
  const log = openSync(files.log, 'a');
  const child = spawn(binary, ['serve', files.config], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  await fs.writeFile(files.pid, String(child.pid));
  try {
    await retry(30, expBackoff('2s', '100ms'), async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with code ${child.exitCode}`);
      if (!(await answers(opts.port))) throw new Error(`${mirrorUrl(opts.port)}/v2/ does not answer yet`);
    });
  } catch (err) {
    throw new UserError(`the registry mirror did not come up (${(err as Error).message}); see ${files.log}. Is ${MIRROR_HOST}:${opts.port} free?`);
  }
}

export async function stopRegistry(files: RegistryFiles): Promise<void> {
  const pid = await pidAlive(files.pid, 'docker-registry');
  if (pid) {
    process.kill(pid, 'SIGTERM');
    await retry(20, expBackoff('1s', '100ms'), async () => {
      if (await pidAlive(files.pid, 'docker-registry')) throw new Error('docker-registry still running');
    });
  }
  await fs.remove(files.pid);
}

/** What the mirror must serve: `repository:tag` → the manifest digest that was pushed. */
export type Seeded = ReadonlyMap<string, string>;

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

async function getJson(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (r.status !== 200) throw new UserError(`${url} answered ${r.status}`);
  return (await r.json()) as Record<string, unknown>;
}

/**
 * Every tag the registry serves, with its manifest digest (`repository:tag` →
 * digest). Catalog pages are not followed: the mirror holds a handful of names.
 */
export async function servedTags(port: number): Promise<Map<string, string>> {
  const base = `${mirrorUrl(port)}/v2`;
  const served = new Map<string, string>();
  const { repositories } = (await getJson(`${base}/_catalog?n=1000`)) as { repositories?: string[] };
  for (const repository of repositories ?? []) {
    const { tags } = (await getJson(`${base}/${repository}/tags/list`)) as { tags?: string[] | null };
    for (const tag of tags ?? []) {
      const r = await fetch(`${base}/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { accept: MANIFEST_TYPES },
        signal: AbortSignal.timeout(10_000),
      });
      served.set(`${repository}:${tag}`, r.headers.get('docker-content-digest') ?? `(HEAD answered ${r.status})`);
    }
  }
  return served;
}

/** What differs between what the registry serves and what was seeded; empty when they are the same. */
export function servedDifferences(served: ReadonlyMap<string, string>, seeded: Seeded): string[] {
  const problems: string[] = [];
  for (const [ref, digest] of seeded) {
    const got = served.get(ref);
    if (got === undefined) problems.push(`${ref} is missing`);
    else if (got !== digest) problems.push(`${ref} is ${got}, not the seeded ${digest}`);
  }
  for (const ref of served.keys()) if (!seeded.has(ref)) problems.push(`${ref} was not seeded`);
  return problems;
}

/**
 * Restarts the seeded registry read-only and checks that it serves exactly
 * `seeded`: anything pushed by someone else while it was writable is found
 * here, before the engine is pointed at it.
 */
export async function lockRegistry(binary: string, files: RegistryFiles, opts: { port: number; seeded: Seeded }): Promise<void> {
  await startRegistry(binary, files, { port: opts.port, readOnly: true });
  const problems = servedDifferences(await servedTags(opts.port), opts.seeded);
  if (problems.length > 0) {
    await stopRegistry(files);
    throw new UserError(
      `the registry mirror does not serve what was pushed to it (${problems.join('; ')}); someone else pushed while it was being seeded? Run it again: each \`up\` seeds an empty storage`,
    );
  }
}

/** The registry files under the cache. */
export function registryFiles(paths: CachePaths): RegistryFiles & { readonly dir: string } {
  const dir = path.join(paths.root, 'registry-mirror');
  return {
    dir,
    config: path.join(dir, 'config.yml'),
    storage: path.join(dir, 'storage'),
    log: path.join(dir, 'registry.log'),
    pid: path.join(dir, 'registry.pid'),
  };
}
