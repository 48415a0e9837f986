/**
 * What the kubelet changes on the host outside the cluster's own directories,
 * and how `down` gives it back. The kubelet sets six kernel tunables at start
 * (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables: it writes
 * them unless protectKernelDefaults is on, in which case it refuses to start
 * when they differ); `up` records the host's values once and `down` writes
 * them back. It also makes a few fixed paths (the device-plugin socket,
 * /var/log/containers, libcni's result cache): `down` removes its socket and
 * any of those directories it left empty, and the pods' cgroups.
 */
import path from 'node:path';

import { $, fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import type { ClusterLayout } from './layout.js';

/** The tunables the kubelet sets, as paths under /proc/sys. */
export const KUBELET_TUNABLES = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

const savedFile = (layout: ClusterLayout) => path.join(layout.state, 'host-tunables.json');

/** Records the host's values before the kubelet first runs; an existing record (from before a crash) is kept. */
export async function saveTunables(layout: ClusterLayout, procSys = '/proc/sys'): Promise<void> {
  if (await fs.pathExists(savedFile(layout))) return;
  const values: Record<string, string> = {};
  for (const key of KUBELET_TUNABLES) values[key] = (await fs.readFile(path.join(procSys, key), 'utf8')).trim();
  await fs.mkdirp(layout.state);
  await fs.writeFile(savedFile(layout), `${JSON.stringify(values, null, 2)}\n`);
}

/** The host's values recorded by saveTunables, while a cluster that `up` started has not been taken down; else undefined. */
export async function savedTunables(layout: ClusterLayout): Promise<Record<string, string> | undefined> {
  return (await fs.pathExists(savedFile(layout))) ? ((await fs.readJson(savedFile(layout))) as Record<string, string>) : undefined;
}

/** Writes the recorded values back and forgets them; returns the keys it changed. */
export async function restoreTunables(layout: ClusterLayout, procSys = '/proc/sys'): Promise<string[]> {
  const values = await savedTunables(layout);
  if (!values) return [];
  const changed: string[] = [];
  for (const key of KUBELET_TUNABLES) {
    const file = path.join(procSys, key);
    const want = values[key];
    if (want === undefined || (await fs.readFile(file, 'utf8')).trim() === want) continue;
    await fs.writeFile(file, want);
    changed.push(key);
  }
  await fs.remove(savedFile(layout));
  return changed;
}

/** Paths the kubelet and libcni use whatever their configuration says. */
export const FIXED_HOST_PATHS = {
  devicePluginSocket: '/var/lib/kubelet/device-plugins/kubelet.sock',
  /** Emptied when the kubelet's pods are gone; removed only if empty, since others may use them. */
  emptyDirs: ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet', '/var/log/containers', '/var/lib/cni/results', '/var/lib/cni'],
} as const;

export async function removeFixedHostPaths(): Promise<void> {
  await fs.remove(FIXED_HOST_PATHS.devicePluginSocket);
  for (const dir of FIXED_HOST_PATHS.emptyDirs) {
    if ((await fs.pathExists(dir)) && (await fs.readdir(dir)).length === 0) await fs.rmdir(dir);
  }
}

/** Of the fixed paths, those `down` would remove: the socket, and each directory that is there and empty. */
export async function leftoverHostPaths(): Promise<string[]> {
  const found: string[] = [];
  if (await fs.pathExists(FIXED_HOST_PATHS.devicePluginSocket)) found.push(FIXED_HOST_PATHS.devicePluginSocket);
  for (const dir of FIXED_HOST_PATHS.emptyDirs) if ((await fs.pathExists(dir)) && (await fs.readdir(dir)).length === 0) found.push(dir);
  return found;
}

/** The kubelet's `kubepods` cgroups (cgroupfs driver), in every mounted hierarchy, deepest first. */
export async function kubepodsCgroups(root = '/sys/fs/cgroup'): Promise<string[]> {
  const out = await $({ quiet: true, nothrow: true })`find ${root} -mindepth 2 -maxdepth 8 -type d -path ${`${root}/*/kubepods*`}`;
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => b.length - a.length);
}

async function cgroupProcs(dirs: readonly string[]): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of dirs) {
    const text = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (/^\d+$/.test(line)) pids.add(Number(line));
  }
  return [...pids];
}

/**
 * Kills what still runs in the pods' cgroups (containers whose shim died with
 * a crashed containerd are reparented, not stopped), then removes the cgroups.
 */
export async function removeKubepodsCgroups(): Promise<void> {
  const dirs = await kubepodsCgroups();
  for (const pid of await cgroupProcs(dirs)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitFor("the pods' processes to exit", async () => (await cgroupProcs(dirs)).length === 0, { timeoutMs: 15_000, intervalMs: 100 });
  for (const dir of dirs) await fs.rmdir(dir).catch(() => undefined);
}

/** Lazily unmounts every mount at or under `dir`, deepest first (volumes, overlay roots, netns bind mounts). */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await $({ quiet: true, nothrow: true })`umount -l ${m}`;
}
