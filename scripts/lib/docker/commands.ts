import { $, type Duration, type ProcessOutput } from 'zx';

import { LABEL } from '../../../common/facts.js';
import { commandStderr, currentCluster, execArgv, parseHandle } from '../admin/channel.js';
import type { ContainerState } from '../admin/container-state.js';
import { kubernetesContainerState, kubernetesLogs } from '../admin/kubernetes.js';
import { UserError } from '../cli/ui.js';

/** One typed function per docker verb the scripts use; nothing else shells out to docker. */
const run = $({ quiet: true, nothrow: true, timeout: '60s' });

// The project's objects, found by label (their own module; the same surface here).
export {
  attachedContainers,
  imageObject,
  labelledObjects,
  listLabelled,
  type ObjectKind,
  parseLabelledLines,
  removeLabelled,
  removeNetwork,
} from './labelled.js';

export type { ContainerState };

export interface ExecOptions {
  /** Written to the process's stdin (secrets go here, never into argv). */
  readonly input?: string;
  readonly timeout?: Duration;
}

/** What a command run in a container said: its exit code (null when it was stopped at its timeout), stdout, and its own stderr. */
export interface ExecResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in a container through the admin channel: `docker exec`, or `kubectl exec` for a Kubernetes handle. */
export async function exec(container: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [bin = '', ...rest] = execArgv(container, args, { interactive: opts.input !== undefined, kubectl: currentCluster() });
  const out = await $({ quiet: true, nothrow: true, timeout: opts.timeout ?? '60s', input: opts.input })`${bin} ${rest}`;
  return { exitCode: out.exitCode, stdout: out.stdout, stderr: commandStderr(container, out.stderr) };
}

/** exec that must succeed; the error names the container and the command. */
export async function execOk(container: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const out = await exec(container, args, opts);
  if (out.exitCode !== 0) {
    const why = (out.stderr || out.stdout).trim().split('\n').slice(-5).join('\n');
    throw new UserError(`\`${args.slice(0, 4).join(' ')} …\` failed in container ${container} (exit ${out.exitCode}):\n${why}`);
  }
  return out.stdout;
}

export async function readFile(container: string, file: string): Promise<string | undefined> {
  const out = await exec(container, ['cat', file]);
  return out.exitCode === 0 ? out.stdout : undefined;
}

/**
 * Writes a file inside a container atomically (temp file, then rename), so a
 * watcher never sees it half-written.
 */
export async function writeFile(container: string, file: string, content: string, mode = '0644'): Promise<void> {
  const script = 'set -e; tmp="$1.tmp.$$"; cat >"$tmp"; chmod "$2" "$tmp"; mv -f "$tmp" "$1"';
  await execOk(container, ['sh', '-c', script, 'write-file', file, mode], { input: content });
}

export async function fileMode(container: string, file: string): Promise<string | undefined> {
  const out = await exec(container, ['stat', '-c', '%a', file]);
  return out.exitCode === 0 ? out.stdout.trim() : undefined;
}

/** Each named container's full id (for reading its cgroup from the host); throws on one that does not exist. */
export async function containerIds(containers: readonly string[]): Promise<Map<string, string>> {
  const out = await run`docker inspect --format ${'{{.Name}} {{.Id}}'} ${containers}`;
  if (out.exitCode !== 0) throw new UserError(`docker inspect failed: ${out.stderr.trim()}`);
  return new Map(
    out.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().replace(/^\//, '').split(' ') as [string, string]),
  );
}

/** Freezes the named containers' processes (the freezer cgroup), or thaws them. */
export async function pause(containers: readonly string[], paused = true): Promise<void> {
  if (containers.length === 0) return;
  const out = paused ? await run`docker pause ${containers}` : await run`docker unpause ${containers}`;
  if (out.exitCode !== 0) throw new UserError(`docker ${paused ? 'pause' : 'unpause'} failed: ${out.stderr.trim()}`);
}

/** Docker's own health status (its last probe, up to an interval old); `readiness.health` runs the check now. */
export async function health(container: string): Promise<string> {
  const out = await run`docker inspect --format ${'{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'} ${container}`;
  return out.exitCode === 0 ? out.stdout.trim() : 'missing';
}

/** A handle of a container on Kubernetes (the admin channel's other target). */
const onKubernetes = (container: string) => parseHandle(container).kind === 'kubernetes';

/** A container's state: `docker inspect`, or the pod's status for a Kubernetes handle (admin/kubernetes.ts). */
export async function containerState(container: string): Promise<ContainerState | undefined> {
  if (onKubernetes(container)) return kubernetesContainerState(container);
  const out = await run`docker inspect --format ${'{{json .State}}\t{{json .Config.Healthcheck}}\t{{.RestartCount}}'} ${container}`;
  if (out.exitCode !== 0) return undefined;
  return parseContainerState(out.stdout);
}

export function parseContainerState(line: string): ContainerState {
  const [stateJson = 'null', checkJson = 'null', restarts = '0'] = line.trim().split('\t');
  const state = JSON.parse(stateJson) as { Status?: string; ExitCode?: number; Health?: { Status?: string } } | null;
  const check = JSON.parse(checkJson) as { Test?: string[]; Timeout?: number } | null;
  return {
    status: state?.Status ?? 'unknown',
    exitCode: state?.ExitCode ?? 0,
    restartCount: Number(restarts) || 0,
    ...(state?.Health?.Status ? { health: state.Health.Status } : {}),
    ...(check?.Test ? { healthTest: check.Test } : {}),
    healthTimeoutMs: Math.round((check?.Timeout ?? 0) / 1e6),
  };
}

/** A container's IPv4 address on one of its networks. */
export async function addressOn(container: string, network: string): Promise<string> {
  const out = await run`docker inspect --format ${`{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`} ${container}`;
  const ip = out.stdout.trim();
  if (out.exitCode !== 0 || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip))
    throw new UserError(`${container} has no IPv4 address on network ${network}: ${(out.stderr || out.stdout).trim() || 'not attached'}`);
  return ip;
}

export async function stop(container: string): Promise<void> {
  const out = await run`docker stop --time 10 ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not stop ${container}: ${out.stderr.trim()}`);
}

export async function start(container: string): Promise<void> {
  const out = await run`docker start ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not start ${container}: ${out.stderr.trim()}`);
}

/** A container's log (stdout and stderr); `since` is an RFC 3339 time; `timestamps` prefixes each line with Docker's. */
export async function logs(container: string, opts: { since?: string; timestamps?: boolean } = {}): Promise<string> {
  if (onKubernetes(container)) return kubernetesLogs(container, opts);
  const flags = [...(opts.since ? ['--since', opts.since] : []), ...(opts.timestamps ? ['--timestamps'] : [])];
  const out = await run`docker logs ${flags} ${container}`;
  return out.stdout + out.stderr;
}

/**
 * Writes a file into a volume that no running container may write (e.g.
 * mounted read-only into the app only), atomically, through a throwaway
 * container of `image` with no network and no capabilities. Root in that
 * container owns the volume's top directory, so the file ends up owned by
 * root and read-only for the app's user.
 */
export async function writeVolumeFile(volume: string, image: string, name: string, content: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UserError(`invalid file name ${JSON.stringify(name)}`);
  const script = 'set -e; umask 022; tmp="/volume/.$1.tmp.$$"; cat >"$tmp"; mv -f "$tmp" "/volume/$1"';
  const flags = [
    '--rm',
    '-i',
    '--network',
    'none',
    '--read-only',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--user',
    '0:0',
    '--entrypoint',
    'sh',
  ];
  const out = await $({
    quiet: true,
    nothrow: true,
    timeout: '60s',
    input: content,
  })`docker run ${flags} -v ${`${volume}:/volume`} ${image} -c ${script} write-volume-file ${name}`;
  if (out.exitCode !== 0) throw new UserError(`could not write ${name} into volume ${volume}: ${(out.stderr || out.stdout).trim()}`);
}

/** The image a container was created from (its ID when created by Terraform). */
export async function imageOf(container: string): Promise<string> {
  const out = await run`docker inspect --format ${'{{.Config.Image}}'} ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not inspect ${container}: ${out.stderr.trim()}`);
  return out.stdout.trim();
}

/**
 * Runs a short-lived container (`docker run --rm`) with the given flags; the
 * command's stdin gets `input`, so a script can travel there instead of argv.
 */
export async function runOnce(flags: readonly string[], image: string, args: readonly string[], opts: ExecOptions = {}): Promise<ProcessOutput> {
  return $({ quiet: true, nothrow: true, timeout: opts.timeout ?? '120s', input: opts.input ?? '' })`docker run --rm -i ${flags} ${image} ${args}`;
}

/** Sends a signal to a container's main process (with `init`, Docker's init forwards it). */
export async function signal(container: string, sig: string): Promise<void> {
  const out = await run`docker kill --signal ${sig} ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not send SIG${sig} to ${container}: ${out.stderr.trim()}`);
}

/** A container's configured environment (`NAME=value` entries as created). */
export async function envOf(container: string): Promise<Record<string, string>> {
  const out = await run`docker inspect --format ${'{{json .Config.Env}}'} ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not inspect ${container}: ${out.stderr.trim()}`);
  const entries = JSON.parse(out.stdout) as string[] | null;
  return Object.fromEntries((entries ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** The name of the volume a container mounts at `destination`, if any. */
export async function volumeAt(container: string, destination: string): Promise<string | undefined> {
  const out = await run`docker inspect --format ${'{{range .Mounts}}{{if eq .Type "volume"}}{{.Destination}}\t{{.Name}}{{"\\n"}}{{end}}{{end}}'} ${container}`;
  if (out.exitCode !== 0) throw new UserError(`could not inspect ${container}: ${out.stderr.trim()}`);
  for (const line of out.stdout.split('\n')) {
    const [dest, name] = line.split('\t');
    if (dest === destination && name) return name;
  }
  return undefined;
}

/** Containers (also stopped ones) of a stack with a role label. */
export async function containersWithRole(prefix: string, role: string): Promise<string[]> {
  const out = await run`docker ps -a --filter ${`label=${LABEL.prefix}=${prefix}`} --filter ${`label=${LABEL.role}=${role}`} --format ${'{{.Names}}'}`;
  if (out.exitCode !== 0) throw new UserError(`docker ps failed: ${out.stderr.trim()}`);
  return out.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}
