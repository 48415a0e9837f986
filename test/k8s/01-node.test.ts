import { describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { nodes } from '../../scripts/lib/kubernetes/kubectl.js';
import { LOOPBACK, NETWORK, NODE_NAME } from '../../scripts/lib/kubernetes/layout.js';
import { clusterStatus } from '../../scripts/lib/kubernetes/local-cluster.js';
import { KUBERNETES_LOCAL } from '../../stack/versions.js';
import { apply, layout, runOk } from './helpers/cluster.js';

/** Every listening socket (TCP and UDP) of the given pids, as `address:port` with the daemon's name. */
async function listeners(pids: ReadonlyMap<number, string>): Promise<{ daemon: string; address: string }[]> {
  const out = await $({ quiet: true })`ss -Hltunp`;
  return out.stdout.split('\n').flatMap((line) => {
    const cols = line.trim().split(/\s+/);
    const pid = Number(line.match(/pid=(\d+)/)?.[1]);
    return pids.has(pid) ? [{ daemon: pids.get(pid)!, address: cols[4]! }] : [];
  });
}

describe('the local cluster', { timeout: 60_000 }, () => {
  it('has one node, Ready, running the kubelet and apiserver of the pinned release', async () => {
    const [node, ...others] = await nodes(layout);
    expect(others).toEqual([]);
    expect(node).toMatchObject({ name: NODE_NAME, ready: true, kubeletVersion: KUBERNETES_LOCAL.kubernetes.version });
    expect(node!.containerRuntime).toBe(`containerd://${KUBERNETES_LOCAL.containerd.version.replace(/^v/, '')}+unknown`);
    const version = JSON.parse(await runOk(['version', '--output=json'])) as { serverVersion: { gitVersion: string } };
    expect(version.serverVersion.gitVersion).toBe(KUBERNETES_LOCAL.kubernetes.version);
  });

  it('listens on 127.0.0.1 only, but for the kubelet on the node address that only this machine may reach', async () => {
    const status = await clusterStatus(layout);
    expect(status.daemons.filter((d) => !d.pid).map((d) => d.name)).toEqual([]);
    const found = await listeners(new Map(status.daemons.map((d) => [d.pid!, d.name])));
    expect(found.map((l) => l.daemon)).toEqual(expect.arrayContaining(['etcd', 'kube-apiserver', 'kubelet', 'kube-proxy']));
    const outside = found.filter((l) => !l.address.startsWith(`${LOOPBACK}:`) && !(l.daemon === 'kubelet' && l.address.startsWith(`${NETWORK.nodeIp}:`)));
    expect(outside).toEqual([]);
  });

  it('creates the suite namespace', async () => {
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: inject('k8s').namespace } });
    expect(await runOk(['get', 'namespace', inject('k8s').namespace, '-o', 'jsonpath={.status.phase}'])).toBe('Active');
  });
});
