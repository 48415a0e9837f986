/**
 * A local Docker Hub stand-in for testing the connected path where no
 * registry is reachable: a registry on 127.0.0.1 (registry.ts), seeded with
 * the toolchain's stand-in images under the official names, then read-only,
 * then configured as the engine's registry mirror. The engine is reloaded
 * with SIGHUP (it rereads registry-mirrors), never restarted, and its
 * daemon.json only gains (and later loses) the one mirror entry.
 */
import path from 'node:path';

import { $, expBackoff, fs, retry } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from '../toolchain/cache.js';
import { imageExists } from '../toolchain/image-build.js';
import { isEmptyConfig, MIRROR_HOST, mirrorUrl, parseDaemonConfig, registryPath, SERVED_IMAGES, withMirror, withoutMirror } from './config.js';
import { ensureRegistryBinary, lockRegistry, pidAlive, registryFiles, startRegistry, stopRegistry } from './registry.js';

export const DAEMON_JSON = '/etc/docker/daemon.json';
const sh = $({ quiet: true, nothrow: true, timeout: '10m' });

export function mirrorPaths(paths: CachePaths) {
  return {
    ...registryFiles(paths),
    /** Present while daemon.json holds our entry; says whether we created the file. */
    engineMarker: path.join(registryFiles(paths).dir, 'engine-configured.json'),
  };
}

/** The engine's view of its mirrors and insecure ranges. */
async function engineRegistryConfig(): Promise<{ mirrors: string[]; insecureCidrs: string[] }> {
  const out = await sh`docker info --format ${'{{json .RegistryConfig}}'}`;
  if (out.exitCode !== 0) throw new UserError(`docker info failed: ${out.stderr.trim()}`);
  const rc = JSON.parse(out.stdout) as { Mirrors?: string[]; InsecureRegistryCIDRs?: string[] };
  return { mirrors: (rc.Mirrors ?? []).map((m) => m.replace(/\/$/, '')), insecureCidrs: rc.InsecureRegistryCIDRs ?? [] };
}

/** dockerd's pid: the toolchain's pid file, else the one dockerd process. */
async function dockerdPid(paths: CachePaths): Promise<number> {
  const own = await pidAlive(paths.dockerdPid, 'dockerd');
  if (own) return own;
  const out = await sh`pgrep -x dockerd`;
  const pids = out.stdout.trim().split('\n').filter(Boolean).map(Number);
  if (pids.length !== 1) throw new UserError(`found ${pids.length} dockerd processes; reload the engine yourself (systemctl reload docker) and run this again`);
  return pids[0]!;
}

/** Writes daemon.json (atomically) and has dockerd reread it; waits until it shows `want`. */
async function reloadEngine(paths: CachePaths, text: string, want: (mirrors: string[]) => boolean): Promise<void> {
  await fs.mkdirp(path.dirname(DAEMON_JSON));
  await fs.writeFile(`${DAEMON_JSON}.tmp`, text);
  await fs.rename(`${DAEMON_JSON}.tmp`, DAEMON_JSON);
  process.kill(await dockerdPid(paths), 'SIGHUP');
  await retry(30, expBackoff('1s', '100ms'), async () => {
    const { mirrors } = await engineRegistryConfig();
    if (!want(mirrors)) throw new Error(`engine mirrors are ${JSON.stringify(mirrors)}`);
  }).catch((err: Error) => {
    throw new UserError(`the engine did not take the new registry mirrors after SIGHUP (${err.message}); check ${DAEMON_JSON} and the dockerd log`);
  });
}

async function configureEngine(paths: CachePaths, url: string): Promise<void> {
  const p = mirrorPaths(paths);
  const existed = await fs.pathExists(DAEMON_JSON);
  const before = existed ? await fs.readFile(DAEMON_JSON, 'utf8') : undefined;
  const config = parseDaemonConfig(before, DAEMON_JSON);
  const after = withMirror(config, url);
  if (after !== config) {
    if (!(await fs.pathExists(p.engineMarker))) await fs.writeJson(p.engineMarker, { createdFile: !existed });
    await reloadEngine(paths, `${JSON.stringify(after, null, 2)}\n`, (m) => m.includes(url));
  }
  const { mirrors, insecureCidrs } = await engineRegistryConfig();
  if (!mirrors.includes(url)) throw new UserError(`${DAEMON_JSON} lists ${url} but the engine does not use it; reload dockerd (SIGHUP)`);
  // Plain HTTP is only allowed for registries in the engine's insecure ranges; loopback is one by default.
  if (!insecureCidrs.includes('127.0.0.0/8'))
    throw new UserError(
      `the engine does not treat 127.0.0.0/8 as an insecure registry range (${insecureCidrs.join(', ')}); the plain-HTTP mirror would be refused`,
    );
}

async function unconfigureEngine(paths: CachePaths, url: string): Promise<void> {
  const p = mirrorPaths(paths);
  if (!(await fs.pathExists(p.engineMarker))) return;
  const { createdFile } = (await fs.readJson(p.engineMarker)) as { createdFile: boolean };
  const before = (await fs.pathExists(DAEMON_JSON)) ? await fs.readFile(DAEMON_JSON, 'utf8') : undefined;
  const after = withoutMirror(parseDaemonConfig(before, DAEMON_JSON), url);
  await reloadEngine(paths, `${JSON.stringify(after, null, 2)}\n`, (m) => !m.includes(url));
  // The running engine has an empty list now; a file we created and that holds nothing else goes.
  if (createdFile && isEmptyConfig(after)) await fs.remove(DAEMON_JSON);
  await fs.remove(p.engineMarker);
}

/**
 * Pushes each stand-in under its official name, then removes the local
 * official tag, so the next `docker pull` of that name goes through the
 * mirror. Returns what was pushed: `repository:tag` → manifest digest.
 */
async function publish(port: number): Promise<{ published: string[]; seeded: Map<string, string> }> {
  const published: string[] = [];
  const seeded = new Map<string, string>();
  for (const { official, standIn } of SERVED_IMAGES) {
    if (!(await imageExists(standIn))) throw new UserError(`stand-in image ${standIn} is missing: run MTLS_OFFLINE=1 npm run toolchain first`);
    const { repository, tag } = registryPath(official);
    const target = `${MIRROR_HOST}:${port}/${repository}:${tag}`;
    // One after the other: a zx command starts when it is created.
    const tagged = await sh`docker tag ${standIn} ${target}`;
    const push = tagged.exitCode === 0 ? await sh`docker push ${target}` : tagged;
    if (push.exitCode !== 0) throw new UserError(`publishing ${official} to the mirror failed: ${push.stderr.trim()}`);
    // The last line of a push: `<tag>: digest: sha256:… size: …`.
    const digest = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout)?.[1];
    if (!digest) throw new UserError(`docker push ${target} did not print the digest it pushed: ${push.stdout.trim().split('\n').at(-1) ?? ''}`);
    seeded.set(`${repository}:${tag}`, digest);
    await sh`docker rmi ${target}`;
    if (await imageExists(official)) await sh`docker rmi ${official}`;
    published.push(`${official} (${repository}:${tag})`);
  }
  return { published, seeded };
}

/**
 * Seeds an empty storage through a writable registry, restarts it read-only
 * and checks it serves exactly what was pushed, and only then points the
 * engine at it: nothing the engine pulls can have been pushed by anyone else.
 */
export async function mirrorUp(paths: CachePaths, opts: { port: number }): Promise<{ url: string; published: string[] }> {
  const url = mirrorUrl(opts.port);
  const files = mirrorPaths(paths);
  const binary = await ensureRegistryBinary(files.dir);
  await stopRegistry(files);
  await fs.emptyDir(files.storage);
  await startRegistry(binary, files, { port: opts.port, readOnly: false });
  const { published, seeded } = await publish(opts.port);
  await lockRegistry(binary, files, { port: opts.port, seeded });
  await configureEngine(paths, url);
  return { url, published };
}

export async function mirrorDown(paths: CachePaths, opts: { port: number }): Promise<void> {
  await unconfigureEngine(paths, mirrorUrl(opts.port));
  await stopRegistry(mirrorPaths(paths));
}
