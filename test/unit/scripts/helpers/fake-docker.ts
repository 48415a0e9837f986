// An in-memory stand-in for scripts/lib/docker/commands.ts, for the functions the root
// rotation uses: containers with mounts (a path under a mount dir is a file in
// that volume, so an app and its renewer see the same certs volume), running
// or stopped, signals recorded, logs and one-shot jobs given by the test.
// Use: vi.mock('…/scripts/lib/docker.js', () => import('./helpers/fake-docker.js')).
import path from 'node:path';

import type { ProcessOutput } from 'zx';

import { UserError } from '../../../../scripts/lib/cli/ui.js';

interface Container {
  running: boolean;
  image: string;
  role?: string;
  /** [directory, volume] pairs. */
  mounts: Array<readonly [string, string]>;
  files: Map<string, string>;
  logs: string;
}

const containers = new Map<string, Container>();
const volumes = new Map<string, Map<string, string>>();
export const signals: Array<readonly [string, string]> = [];
export const jobs: Array<{ flags: readonly string[]; args: readonly string[] }> = [];
const hooks: {
  onSignal?: (container: string, sig: string) => void;
  onJob?: (args: readonly string[]) => { exitCode: number; stdout: string; stderr?: string };
} = {};

export function resetDocker(): void {
  containers.clear();
  volumes.clear();
  signals.length = 0;
  jobs.length = 0;
  delete hooks.onSignal;
  delete hooks.onJob;
}

export function addContainer(name: string, opts: { mounts?: Array<readonly [string, string]>; role?: string; image?: string } = {}): void {
  containers.set(name, { running: true, image: opts.image ?? `${name}-image`, role: opts.role, mounts: opts.mounts ?? [], files: new Map(), logs: '' });
}

export function setRunning(name: string, running: boolean): void {
  must(name).running = running;
}

export function setLogs(name: string, logs: string): void {
  must(name).logs = logs;
}

export function onSignal(f: typeof hooks.onSignal): void {
  hooks.onSignal = f;
}

export function onJob(f: typeof hooks.onJob): void {
  hooks.onJob = f;
}

function must(name: string): Container {
  const c = containers.get(name);
  if (!c) throw new UserError(`no such container: ${name}`);
  return c;
}

/** Where `file` lives for `container`: a volume's map and key, or the container's own files. */
function locate(c: Container, file: string): [Map<string, string>, string] {
  for (const [dir, volume] of c.mounts) {
    if (file.startsWith(`${dir}/`)) {
      if (!volumes.has(volume)) volumes.set(volume, new Map());
      return [volumes.get(volume)!, path.relative(dir, file)];
    }
  }
  return [c.files, file];
}

/** Puts a file in place as the container sees it (running or not). */
export function putFile(container: string, file: string, content: string): void {
  const [map, key] = locate(must(container), file);
  map.set(key, content);
}

export function fileOf(container: string, file: string): string | undefined {
  const [map, key] = locate(must(container), file);
  return map.get(key);
}

export function removeFile(container: string, file: string): void {
  const [map, key] = locate(must(container), file);
  map.delete(key);
}

const output = (exitCode: number, stdout: string, stderr = '') => ({ exitCode, stdout, stderr }) as unknown as ProcessOutput;

export async function readFile(container: string, file: string): Promise<string | undefined> {
  const c = containers.get(container);
  return c?.running ? fileOf(container, file) : undefined;
}

export async function execOk(container: string, args: readonly string[]): Promise<string> {
  if (args[0] !== 'cat' || args.length !== 2) throw new Error(`fake docker: unexpected exec ${args.join(' ')}`);
  const content = await readFile(container, args[1]!);
  if (content === undefined) throw new UserError(`\`cat ${args[1]}\` failed in container ${container}`);
  return content;
}

export async function writeFile(container: string, file: string, content: string): Promise<void> {
  if (!containers.get(container)?.running)
    throw new UserError(`\`sh -c …\` failed in container ${container} (exit 1):\nError response from daemon: container ${container} is not running`);
  putFile(container, file, content);
}

export async function writeVolumeFile(volume: string, _image: string, name: string, content: string): Promise<void> {
  if (!volumes.has(volume)) volumes.set(volume, new Map());
  volumes.get(volume)!.set(name, content);
}

export async function imageOf(container: string): Promise<string> {
  return must(container).image;
}

export async function volumeAt(container: string, destination: string): Promise<string | undefined> {
  return must(container).mounts.find(([dir]) => dir === destination)?.[1];
}

export async function containersWithRole(_prefix: string, role: string): Promise<string[]> {
  return [...containers].filter(([, c]) => c.role === role).map(([n]) => n);
}

export async function signal(container: string, sig: string): Promise<void> {
  must(container);
  signals.push([container, sig]);
  hooks.onSignal?.(container, sig);
}

export async function logs(container: string): Promise<string> {
  return must(container).logs;
}

export async function runOnce(flags: readonly string[], _image: string, args: readonly string[]): Promise<ProcessOutput> {
  jobs.push({ flags, args });
  const r = hooks.onJob?.(args) ?? { exitCode: 1, stdout: '', stderr: 'fake docker: no job expected' };
  return output(r.exitCode, r.stdout, r.stderr);
}
