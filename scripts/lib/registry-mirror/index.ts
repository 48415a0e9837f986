/**
 * A local Docker Hub stand-in for testing the connected path where no
 * registry is reachable: distribution (Debian's docker-registry package,
 * unpacked into the cache, never installed as a service) on 127.0.0.1,
 * configured as the engine's registry mirror, serving the toolchain's
 * stand-in images under the official names. The engine is reloaded with
 * SIGHUP (it rereads registry-mirrors), never restarted, and its
 * daemon.json only gains (and later loses) the one mirror entry.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import path from 'node:path';
import { $, fs, retry, expBackoff } from 'zx';
import type { CachePaths } from '../cache.js';
import { UserError } from '../ui.js';
import { imageExists } from '../toolchain/images.js';
import { SERVED_IMAGES, isEmptyConfig, mirrorUrl, parseDaemonConfig, registryConfig, registryPath, withMirror, withoutMirror, MIRROR_HOST } from './config.js';

export const DAEMON_JSON = '/etc/docker/daemon.json';
const sh = $({ quiet: true, nothrow: true, timeout: '10m' });

export function mirrorPaths(paths: CachePaths) {
  const dir = path.join(paths.root, 'registry-mirror');
  return {
    dir,
    unpacked: path.join(dir, 'package'),
    binary: path.join(dir, 'package', 'usr', 'bin', 'docker-registry'),
    config: path.join(dir, 'config.yml'),
    storage: path.join(dir, 'storage'),
    log: path.join(dir, 'registry.log'),
    pid: path.join(dir, 'registry.pid'),
    /** Present while daemon.json holds our entry; says whether we created the file. */
    engineMarker: path.join(dir, 'engine-configured.json'),
  };
}

/** distribution's binary from Debian's package, unpacked (no service, no user). */
async function ensureRegistryBinary(paths: CachePaths): Promise<string> {
  const p = mirrorPaths(paths);
  if (await fs.pathExists(p.binary)) return p.binary;
  const debs = path.join(p.dir, 'deb');
  await fs.emptyDir(debs);
  let dl = await $({ quiet: true, nothrow: true, timeout: '10m', cwd: debs })`apt-get download docker-registry`;
  if (dl.exitCode !== 0 && process.getuid?.() === 0) {
    await sh`apt-get update -q`;
    dl = await $({ quiet: true, nothrow: true, timeout: '10m', cwd: debs })`apt-get download docker-registry`;
  }
  const deb = (await fs.readdir(debs)).find((f: string) => f.endsWith('.deb'));
  if (dl.exitCode !== 0 || !deb) throw new UserError(`apt-get download docker-registry failed: ${dl.stderr.trim()}. Is Debian's package mirror reachable?`);
  await fs.emptyDir(p.unpacked);
  const x = await sh`dpkg-deb -x ${path.join(debs, deb)} ${p.unpacked}`;
  if (x.exitCode !== 0 || !(await fs.pathExists(p.binary))) throw new UserError(`unpacking ${deb} failed: ${x.stderr.trim()}`);
  await fs.remove(debs);
  return p.binary;
}

async function pidAlive(pidFile: string, name: string): Promise<number | undefined> {
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

async function startRegistry(paths: CachePaths, port: number): Promise<void> {
  const p = mirrorPaths(paths);
  const running = await pidAlive(p.pid, 'docker-registry');
  if (await answers(port)) {
    if (running) return;
    throw new UserError(`${mirrorUrl(port)} answers but is not the mirror this project started (no live pid in ${p.pid}); stop that registry or pick another --port`);
  }
  const binary = await ensureRegistryBinary(paths);
  await fs.mkdirp(p.storage);
  await fs.writeFile(p.config, registryConfig({ port, storageDir: p.storage }));
  const log = openSync(p.log, 'a');
  const child = spawn(binary, ['serve', p.config], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  await fs.writeFile(p.pid, String(child.pid));
  try {
    await retry(30, expBackoff('2s', '100ms'), async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with code ${child.exitCode}`);
      if (!(await answers(port))) throw new Error(`${mirrorUrl(port)}/v2/ does not answer yet`);
    });
  } catch (err) {
    throw new UserError(`the registry mirror did not come up (${(err as Error).message}); see ${p.log}. Is ${MIRROR_HOST}:${port} free?`);
  }
}

async function stopRegistry(paths: CachePaths): Promise<void> {
  const p = mirrorPaths(paths);
  const pid = await pidAlive(p.pid, 'docker-registry');
  if (pid) {
    process.kill(pid, 'SIGTERM');
    await retry(20, expBackoff('1s', '100ms'), async () => {
      if (await pidAlive(p.pid, 'docker-registry')) throw new Error('docker-registry still running');
    });
  }
  await fs.remove(p.pid);
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
  if (!insecureCidrs.includes('127.0.0.0/8')) throw new UserError(`the engine does not treat 127.0.0.0/8 as an insecure registry range (${insecureCidrs.join(', ')}); the plain-HTTP mirror would be refused`);
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
 * official tag, so the next `docker pull` of that name goes through the mirror.
 */
async function publish(port: number): Promise<string[]> {
  const published: string[] = [];
  for (const { official, standIn } of SERVED_IMAGES) {
    if (!(await imageExists(standIn))) throw new UserError(`stand-in image ${standIn} is missing: run MTLS_OFFLINE=1 npm run toolchain first`);
    const { repository, tag } = registryPath(official);
    const target = `${MIRROR_HOST}:${port}/${repository}:${tag}`;
    // One after the other: a zx command starts when it is created.
    const tagged = await sh`docker tag ${standIn} ${target}`;
    const push = tagged.exitCode === 0 ? await sh`docker push ${target}` : tagged;
    if (push.exitCode !== 0) throw new UserError(`publishing ${official} to the mirror failed: ${push.stderr.trim()}`);
    await sh`docker rmi ${target}`;
    if (await imageExists(official)) await sh`docker rmi ${official}`;
    published.push(`${official} (${repository}:${tag})`);
  }
  return published;
}

export async function mirrorUp(paths: CachePaths, opts: { port: number }): Promise<{ url: string; published: string[] }> {
  const url = mirrorUrl(opts.port);
  await startRegistry(paths, opts.port);
  await configureEngine(paths, url);
  return { url, published: await publish(opts.port) };
}

export async function mirrorDown(paths: CachePaths, opts: { port: number }): Promise<void> {
  await unconfigureEngine(paths, mirrorUrl(opts.port));
  await stopRegistry(paths);
}
