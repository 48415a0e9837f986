// CPU used by a stack at rest, read without starting anything inside it:
// each container's cgroup from the host (a `docker exec` to ask would itself
// be the kind of cost measured), and the engine's own processes (dockerd,
// containerd, one shim per container, docker-proxy) from /proc, children
// included: the shims' children are the `runc` runs of every health check.
import { readdir, readFile } from 'node:fs/promises';

import { sleep } from '../../common/wait.js';
import { containerIds } from '../../scripts/lib/docker/commands.js';
import { cpuSnapshot, parseChildrenSeconds } from './cpu-accounting.js';

/** Linux's USER_HZ (100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;
/** The engine's processes, by /proc/<pid>/comm (truncated to 15 characters by the kernel). */
const ENGINE_COMMANDS = /^(dockerd|containerd|containerd-shim.*|docker-proxy)$/;

/** utime + stime + cutime + cstime of one /proc/<pid>/stat, in seconds. */
export function parseProcessSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command start at field 3 (state); utime and stime are fields 14 and 15.
  const own = (Number(fields[14 - 3]) + Number(fields[15 - 3])) / TICKS_PER_SECOND;
  if (!Number.isFinite(own)) throw new Error('unreadable /proc/<pid>/stat');
  return own + parseChildrenSeconds(stat);
}

/** The host paths where a container's CPU time can be read: cgroup v1 (cgroupfs driver), v2 (cgroupfs or systemd driver). */
export function cgroupCpuFiles(id: string): string[] {
  return [
    `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`,
    `/sys/fs/cgroup/cpu,cpuacct/docker/${id}/cpuacct.usage`,
    `/sys/fs/cgroup/docker/${id}/cpu.stat`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
  ];
}

/** Seconds of CPU from a cgroup file: v1 `cpuacct.usage` (ns) or v2 `cpu.stat` (usage_usec). */
export function parseCgroupCpu(file: string, text: string): number {
  if (file.endsWith('cpu.stat')) {
    const m = /^usage_usec (\d+)$/m.exec(text);
    if (!m) throw new Error(`no usage_usec in ${file}`);
    return Number(m[1]) / 1e6;
  }
  const ns = Number(text.trim());
  if (!Number.isFinite(ns)) throw new Error(`unreadable ${file}`);
  return ns / 1e9;
}

async function containerSeconds(id: string): Promise<number> {
  for (const file of cgroupCpuFiles(id)) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return parseCgroupCpu(file, text);
  }
  throw new Error(`no cgroup CPU file for container ${id.slice(0, 12)} (looked in ${cgroupCpuFiles('<id>').join(', ')})`);
}

async function engineSeconds(): Promise<number> {
  let total = 0;
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (!ENGINE_COMMANDS.test(comm)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat) total += parseProcessSeconds(stat);
  }
  return total;
}

export interface IdleSnapshot {
  readonly at: number;
  readonly containers: ReadonlyMap<string, number>;
  readonly engine: number;
}

/** CPU seconds so far of each named container and of the engine's processes. */
export async function idleSnapshot(containers: readonly string[]): Promise<IdleSnapshot> {
  const byName = await containerIds(containers);
  const seconds = new Map<string, number>();
  for (const name of containers) {
    const id = byName.get(name);
    if (!id) throw new Error(`no container ${name}`);
    seconds.set(name, await containerSeconds(id));
  }
  return { at: performance.now(), containers: seconds, engine: await engineSeconds() };
}

export interface IdleCost {
  readonly seconds: number;
  /** Cores' worth (CPU seconds per second) of each container over the window. */
  readonly containers: Record<string, number>;
  /** Cores' worth of the engine's own processes (health-check execs included). */
  readonly engine: number;
  /** Everything the stack costs: containers plus engine. */
  readonly total: number;
}

/** The cost between two snapshots, in cores. */
export function idleCost(a: IdleSnapshot, b: IdleSnapshot): IdleCost {
  const seconds = (b.at - a.at) / 1000;
  const containers: Record<string, number> = {};
  for (const [name, s] of b.containers) containers[name] = (s - (a.containers.get(name) ?? s)) / seconds;
  const engine = (b.engine - a.engine) / seconds;
  return { seconds, containers, engine, total: engine + Object.values(containers).reduce((x, y) => x + y, 0) };
}

export interface Window {
  readonly cost: IdleCost;
  /** Share of both cores busy over the window, every process of the machine. */
  readonly machineBusy: number;
}

/** CPU of the named containers and the engine over one window of `windowMs`. */
export async function measureWindow(names: readonly string[], windowMs: number): Promise<Window> {
  const [a, ma] = [await idleSnapshot(names), await cpuSnapshot()];
  await sleep(windowMs);
  const [b, mb] = [await idleSnapshot(names), await cpuSnapshot()];
  return { cost: idleCost(a, b), machineBusy: ma && mb ? (mb.machineBusy - ma.machineBusy) / (mb.machineTotal - ma.machineTotal) : NaN };
}
