/**
 * The cluster's daemons as detached processes: each writes its log and pid
 * file under the cluster's state directory, outlives the command that started
 * it, and is stopped by its pid file alone (never by name). A pid counts as
 * ours only while /proc/<pid>/exe is the binary we started, so a recycled pid
 * is never signalled.
 */
import { spawn } from 'node:child_process';
import { openSync, readlinkSync } from 'node:fs';
import path from 'node:path';

import { fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import type { ClusterLayout } from './layout.js';

export interface Daemon {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  /** Directories put first on PATH (containerd finds its shim there). */
  readonly pathDirs?: readonly string[];
}

export const pidFile = (layout: ClusterLayout, name: string) => path.join(layout.pids, `${name}.pid`);
export const logFile = (layout: ClusterLayout, name: string) => path.join(layout.logs, `${name}.log`);

/** The binary a live pid runs, or undefined when the pid is gone. */
function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

/** The pid of a running daemon we started, from its pid file. */
export async function runningPid(layout: ClusterLayout, daemon: Pick<Daemon, 'name' | 'binary'>): Promise<number | undefined> {
  const file = pidFile(layout, daemon.name);
  if (!(await fs.pathExists(file))) return undefined;
  const pid = Number((await fs.readFile(file, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return exeOf(pid) === path.resolve(daemon.binary) ? pid : undefined;
}

/** Starts the daemon unless it already runs; returns its pid. */
export async function startDaemon(layout: ClusterLayout, daemon: Daemon): Promise<number> {
  const running = await runningPid(layout, daemon);
  if (running) return running;
  await fs.mkdirp(layout.logs);
  await fs.mkdirp(layout.pids);
  const log = openSync(logFile(layout, daemon.name), 'a');
  const env = { ...process.env, PATH: [...(daemon.pathDirs ?? []), process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') };
  const child = spawn(daemon.binary, daemon.args, { detached: true, stdio: ['ignore', log, log], env });
  child.unref();
  if (!child.pid) throw new Error(`${daemon.name} did not start (${daemon.binary})`);
  await fs.writeFile(pidFile(layout, daemon.name), `${child.pid}\n`);
  return child.pid;
}

/** The last lines of a daemon's log, for error messages. */
export async function logTail(layout: ClusterLayout, name: string, lines = 12): Promise<string> {
  const file = logFile(layout, name);
  if (!(await fs.pathExists(file))) return '(no log)';
  return (await fs.readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; removes the pid file. */
export async function stopDaemon(layout: ClusterLayout, daemon: Pick<Daemon, 'name' | 'binary'>, graceMs = 15_000): Promise<boolean> {
  const pid = await runningPid(layout, daemon);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const gone = () => exeOf(pid) === undefined || isZombie(pid);
    try {
      await waitFor(`${daemon.name} (pid ${pid}) to exit`, gone, { timeoutMs: graceMs, intervalMs: [50, 100, 250] });
    } catch {
      if (!gone()) process.kill(pid, 'SIGKILL');
      await waitFor(`${daemon.name} (pid ${pid}) to die`, gone, { timeoutMs: 10_000, intervalMs: 100 });
    }
  }
  await fs.remove(pidFile(layout, daemon.name));
  return pid !== undefined;
}

function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Pids of processes whose command line names `marker` (containerd's shims
 * carry the socket address of the containerd that started them): what a
 * crashed containerd leaves behind, found without matching a process name.
 */
export async function pidsNaming(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}
