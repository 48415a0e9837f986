import { describe, expect, inject, it } from 'vitest';

import { clusterDown, clusterStatus } from '../../scripts/lib/kubernetes/local-cluster.js';
import { readTunables } from './global-setup.js';
import { layout } from './helpers/cluster.js';

describe('cluster down', { timeout: 180_000 }, () => {
  it('stops every process and leaves no bridge, chain, network namespace, shim, cgroup or kubelet path behind, and the kernel tunables as they were', async () => {
    const { stopped } = await clusterDown(layout);
    expect([...stopped].sort()).toEqual(['containerd', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kube-scheduler', 'kubelet']);
    const after = await clusterStatus(layout);
    expect(after.daemons.filter((d) => d.pid)).toEqual([]);
    expect(after.leftovers).toEqual({ chains: [], links: [], netns: [], shims: [], cgroups: [], hostPaths: [] });
    expect(await readTunables()).toEqual(inject('k8s').hostTunables);
  });
});
