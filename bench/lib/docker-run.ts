import { type ChildProcess, spawn } from 'node:child_process';

import { $ } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';

/**
 * The docker verbs the benchmark needs beyond scripts/lib/docker/commands.ts (which
 * covers what the operator scripts use): creating containers, networks and
 * volumes by hand, for the plain-`docker run` baseline and the fixture
 * servers, and one streaming exec for watching files.
 */
const run = $({ quiet: true, nothrow: true, timeout: '120s' });

/** A container as `docker create` wants it; the first network is attached at create. */
export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  /** Flags for `docker create` (everything except --name and --network). */
  readonly flags: readonly string[];
  readonly networks: ReadonlyArray<{ readonly name: string; readonly aliases?: readonly string[] }>;
  /** Arguments after the image (command). */
  readonly args: readonly string[];
  /** Runs once and exits (an init step): started and waited for before the others. */
  readonly oneShot?: boolean;
}

async function ok(what: string, p: Promise<{ exitCode: number | null; stderr: string; stdout: string }>): Promise<string> {
  const out = await p;
  if (out.exitCode !== 0) throw new UserError(`${what} failed (exit ${out.exitCode}): ${out.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return out.stdout.trim();
}

/** create + connect the other networks + start: `docker run` for containers on two networks. */
export async function runContainer(spec: ContainerSpec): Promise<void> {
  const [first, ...rest] = spec.networks;
  const net = first ? ['--network', first.name, ...(first.aliases ?? []).flatMap((a) => ['--network-alias', a])] : [];
  await ok(`docker create ${spec.name}`, run`docker create --name ${spec.name} ${net} ${spec.flags} ${spec.image} ${spec.args}`);
  for (const n of rest) {
    const aliases = (n.aliases ?? []).flatMap((a) => ['--alias', a]);
    await ok(`docker network connect ${n.name} ${spec.name}`, run`docker network connect ${aliases} ${n.name} ${spec.name}`);
  }
  await ok(`docker start ${spec.name}`, run`docker start ${spec.name}`);
}

/** Runs a one-shot container and waits for it to exit 0. */
export async function runToCompletion(spec: ContainerSpec): Promise<void> {
  await runContainer(spec);
  const code = await ok(`docker wait ${spec.name}`, run`docker wait ${spec.name}`);
  if (code !== '0') {
    const logs = await run`docker logs --tail 5 ${spec.name}`;
    throw new UserError(`${spec.name} exited ${code}: ${(logs.stdout + logs.stderr).trim().split('\n').slice(-3).join(' ')}`);
  }
}

export async function createNetwork(name: string, opts: { internal: boolean; labels: Record<string, string> }): Promise<void> {
  const labels = Object.entries(opts.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  await ok(`docker network create ${name}`, run`docker network create --driver bridge ${opts.internal ? ['--internal'] : []} ${labels} ${name}`);
}

export async function createVolume(name: string, labels: Record<string, string>): Promise<void> {
  await ok(`docker volume create ${name}`, run`docker volume create ${Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`])} ${name}`);
}

export async function removeContainer(name: string): Promise<void> {
  await run`docker rm -f -v ${name}`;
}

export async function imageExists(image: string): Promise<boolean> {
  return (await run`docker image inspect --format ${'{{.Id}}'} ${image}`).exitCode === 0;
}

/** Names of running containers whose name starts with `prefix`. */
export async function containersNamed(prefix: string): Promise<string[]> {
  const out = await run`docker ps -a --filter ${`name=^${prefix}`} --format ${'{{.Names}}'}`;
  return out.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A long-running `docker exec` whose stdout lines go to `onLine`: one exec
 * for a whole observation instead of one per poll (each exec costs CPU the
 * measured system would otherwise have).
 */
export function streamExec(container: string, args: readonly string[], onLine: (line: string) => void): { stop: () => void; child: ChildProcess } {
  const child = spawn('docker', ['exec', container, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  return { child, stop: () => void (child.exitCode === null && child.kill('SIGTERM')) };
}
