// Where the CPU went during a load run: the whole machine (/proc/stat), the
// load generators this process started and waited for (its children's CPU
// time in /proc/self/stat), and one container (its own cgroup, read from
// inside it, so it works wherever `docker exec` does). B4 uses it to show
// what bounds a handshake rate when clients and servers share the cores.
import { readFile } from 'node:fs/promises';

import { exec } from '../../scripts/lib/docker/commands.js';

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  /** Busy and total ticks of all CPUs, from /proc/stat. */
  readonly machineBusy: number;
  readonly machineTotal: number;
  /** CPU seconds of the children this process has waited for. */
  readonly childrenSeconds: number;
}

/** Parses the aggregate `cpu` line of /proc/stat: busy = everything but idle and iowait. */
export function parseProcStat(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 5 || ticks.some((t) => !Number.isFinite(t))) throw new Error(`unreadable cpu line in /proc/stat: ${line}`);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3]! + ticks[4]!;
  return { busy: total - idle, total };
}

/** cutime + cstime of /proc/<pid>/stat, in seconds (the command may contain spaces and parentheses). */
export function parseChildrenSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command start at field 3 (state); cutime and cstime are fields 16 and 17.
  const cutime = Number(fields[16 - 3]);
  const cstime = Number(fields[17 - 3]);
  if (!Number.isFinite(cutime) || !Number.isFinite(cstime)) throw new Error('unreadable /proc/self/stat');
  return (cutime + cstime) / TICKS_PER_SECOND;
}

/** undefined where /proc is not Linux's (the figures are then not reported). */
export async function cpuSnapshot(): Promise<CpuSnapshot | undefined> {
  try {
    const machine = parseProcStat(await readFile('/proc/stat', 'utf8'));
    const childrenSeconds = parseChildrenSeconds(await readFile('/proc/self/stat', 'utf8'));
    return { machineBusy: machine.busy, machineTotal: machine.total, childrenSeconds };
  } catch {
    return undefined;
  }
}

/** CPU seconds a container has used so far, from its cgroup (v2 `cpu.stat`, or v1 `cpuacct.usage`). */
export async function containerCpuSeconds(container: string): Promise<number | undefined> {
  const v2 = await exec(container, ['cat', '/sys/fs/cgroup/cpu.stat'], { timeout: '10s' });
  const usec = /^usage_usec (\d+)$/m.exec(v2.stdout);
  if (v2.exitCode === 0 && usec) return Number(usec[1]) / 1e6;
  const v1 = await exec(container, ['cat', '/sys/fs/cgroup/cpuacct/cpuacct.usage'], { timeout: '10s' });
  const ns = Number(v1.stdout.trim());
  return v1.exitCode === 0 && Number.isFinite(ns) && ns > 0 ? ns / 1e9 : undefined;
}

export interface CpuShare {
  /** Share of all cores busy over the run (0–1). */
  readonly machineBusy: number;
  /** Cores' worth of CPU the load generators used (core-seconds / wall seconds). */
  readonly clientCores: number;
  /** Cores' worth the server's container used, when it is one. */
  readonly serverCores?: number;
}

/** Measures `run` and where the CPU went while it ran; the figures are undefined where they cannot be read. */
export async function withCpuShare<T>(run: () => Promise<T>, container?: string): Promise<{ result: T; cpu: CpuShare | undefined }> {
  const before = await cpuSnapshot();
  const serverBefore = container ? await containerCpuSeconds(container) : undefined;
  const started = process.hrtime.bigint();
  const result = await run();
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await cpuSnapshot();
  const serverAfter = container ? await containerCpuSeconds(container) : undefined;
  if (!before || !after || wall <= 0) return { result, cpu: undefined };
  const total = after.machineTotal - before.machineTotal;
  const cpu: CpuShare = {
    machineBusy: total > 0 ? (after.machineBusy - before.machineBusy) / total : NaN,
    clientCores: (after.childrenSeconds - before.childrenSeconds) / wall,
    ...(serverBefore !== undefined && serverAfter !== undefined ? { serverCores: (serverAfter - serverBefore) / wall } : {}),
  };
  return { result, cpu };
}
