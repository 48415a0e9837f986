// A container's resident memory, read from its cgroup on the host (no exec
// into it): anonymous memory, what the processes themselves hold, without
// the page cache a read-only image's files put on the cgroup's account.
import { readFile } from 'node:fs/promises';

/** The host paths of a container's memory.stat: cgroup v1 (cgroupfs driver), v2 (cgroupfs or systemd driver). */
export function cgroupMemoryFiles(id: string): string[] {
  return [
    `/sys/fs/cgroup/memory/docker/${id}/memory.stat`,
    `/sys/fs/cgroup/docker/${id}/memory.stat`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.stat`,
  ];
}

/** Bytes of anonymous memory in a memory.stat: v1 `total_rss` (the cgroup and its children), v2 `anon`. */
export function parseMemoryStat(text: string): number {
  const m = /^(?:total_rss|anon) (\d+)$/m.exec(text);
  if (!m) throw new Error('memory.stat has neither total_rss (cgroup v1) nor anon (cgroup v2)');
  return Number(m[1]);
}

/** Resident (anonymous) bytes of the container with this full id. */
export async function containerRss(id: string): Promise<number> {
  for (const file of cgroupMemoryFiles(id)) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return parseMemoryStat(text);
  }
  throw new Error(`no cgroup memory.stat for container ${id.slice(0, 12)} (looked in ${cgroupMemoryFiles('<id>').join(', ')})`);
}
