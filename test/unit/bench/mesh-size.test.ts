// B11's pure parts: the generated mesh is a valid mesh of the asked size, the
// goals are judged as stated, and a container's memory is read from either
// cgroup version.
import { describe, expect, it } from 'vitest';

import { GOALS, judge, pairsMesh } from '../../../bench/b11-mesh-size.js';
import { cgroupMemoryFiles, parseMemoryStat } from '../../../bench/lib/container-memory.js';
import { checkMeshShape } from '../../../stack/mesh-shape.js';
import { resolveMesh } from '../../../stack/mesh-spec.js';

const size = (workloads: number, over: Partial<Parameters<typeof judge>[0][number]> = {}) => ({
  workloads,
  containers: 2 * workloads + 1,
  deploySeconds: workloads,
  enrollSeconds: workloads / 2,
  idlePerWorkload: 0.004,
  caCores: 0.01,
  renewerRss: { max: 12 * 1024 * 1024, median: 11 * 1024 * 1024 },
  serverRss: 40 * 1024 * 1024,
  clientRss: 35 * 1024 * 1024,
  ...over,
});

describe('B11 mesh of n workloads', () => {
  it.each([2, 10, 40])('n=%i: n workloads, each client calling its own server, valid as a mesh file and as a mesh', (n) => {
    const mesh = pairsMesh(n);
    expect(mesh.workloads).toHaveLength(n);
    const resolved = resolveMesh(checkMeshShape(JSON.parse(JSON.stringify(mesh))));
    for (const w of resolved.workloads.filter((x) => x.role === 'client')) expect(w.target?.identity.name).toBe(w.name.replace('client', 'server'));
  });
});

describe('B11 goals', () => {
  it('passes sizes within every goal, per-workload times flat', () => {
    expect(judge([size(10), size(20), size(40)])).toEqual([]);
  });

  it('names each goal missed: cost per workload, renewer memory, growth faster than linear', () => {
    const problems = judge([
      size(10),
      size(40, { idlePerWorkload: 0.006, renewerRss: { max: 20 * 1024 * 1024, median: 12 * 1024 * 1024 }, enrollSeconds: 40 }),
    ]);
    expect(problems).toEqual([
      'n=40: 0.60 % of a core per workload at rest, over 0.50 % of a core',
      'n=40: a renewer holds 20.0 MiB, over 16.0 MiB',
      `enrollment per workload grew 2.00× from n=10 to n=40, more than linear (goal ≤ ${GOALS.growth}×)`,
    ]);
  });
});

describe("a container's memory from its cgroup", () => {
  it('reads total_rss (v1) or anon (v2), and refuses a file with neither', () => {
    expect(parseMemoryStat('cache 4096\nrss 1000\ntotal_cache 8192\ntotal_rss 2048\n')).toBe(2048);
    expect(parseMemoryStat('anon 12582912\nfile 4096\n')).toBe(12582912);
    expect(() => parseMemoryStat('cache 1\n')).toThrow('memory.stat has neither total_rss (cgroup v1) nor anon (cgroup v2)');
    expect(cgroupMemoryFiles('abc')[0]).toBe('/sys/fs/cgroup/memory/docker/abc/memory.stat');
  });
});
