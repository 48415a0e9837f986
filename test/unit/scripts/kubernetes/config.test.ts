import { describe, expect, it } from 'vitest';

import { apiServerArgs, controllerManagerArgs, etcdArgs, kubeconfig, schedulerArgs } from '../../../../scripts/lib/kubernetes/control-plane.js';
import { API_SERVER_PORT, clusterLayout, LOOPBACK_PORTS, NETWORK } from '../../../../scripts/lib/kubernetes/layout.js';
import { cniConflist, containerdConfig, kubeletArgs, kubeletConfig, kubeProxyConfig } from '../../../../scripts/lib/kubernetes/node-config.js';
import { KUBERNETES_LOCAL } from '../../../../stack/versions.js';

const layout = clusterLayout({ root: '/cache' });
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe('local cluster layout', () => {
  it('keeps state in the cache and host directories named for the project, never Docker’s', () => {
    expect(layout.pki).toBe('/cache/kubernetes/cluster/pki');
    expect(layout.kubernetesBin).toBe(`/cache/kubernetes/kubernetes-${KUBERNETES_LOCAL.kubernetes.version}/bin`);
    for (const dir of [layout.containerdRoot, layout.containerdState, layout.kubeletRoot, layout.runcRoot]) {
      expect(dir).toMatch(/^\/(var\/lib|run)\/mtls-reference-k8s\//);
    }
  });
});

describe('control plane', () => {
  it('binds the apiserver and etcd to 127.0.0.1 and lets controller-manager and scheduler serve nothing', () => {
    const api = apiServerArgs(layout);
    expect(flag(api, 'bind-address')).toBe('127.0.0.1');
    expect(flag(api, 'secure-port')).toBe(String(API_SERVER_PORT));
    expect(flag(api, 'etcd-servers')).toBe(`https://127.0.0.1:${LOOPBACK_PORTS.etcdClient}`);
    expect(flag(api, 'anonymous-auth')).toBe('false');
    expect(flag(api, 'authorization-mode')).toBe('Node,RBAC');
    expect(flag(api, 'service-cluster-ip-range')).toBe(NETWORK.serviceCidr);
    const etcd = etcdArgs(layout);
    for (const name of ['listen-client-urls', 'listen-peer-urls']) expect(flag(etcd, name)).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(flag(etcd, 'client-cert-auth')).toBe('true');
    expect(flag(controllerManagerArgs(layout), 'secure-port')).toBe('0');
    expect(flag(schedulerArgs(layout), 'secure-port')).toBe('0');
  });

  it('writes kubeconfigs that point at key files and hold no key material', () => {
    const text = kubeconfig(layout, 'kube-proxy');
    expect(text).not.toMatch(/PRIVATE KEY|client-key-data|token/);
    const doc = JSON.parse(text) as { users: { user: Record<string, string> }[]; clusters: { cluster: Record<string, string> }[] };
    expect(doc.users[0]!.user).toEqual({
      'client-certificate': '/cache/kubernetes/cluster/pki/kube-proxy.crt',
      'client-key': '/cache/kubernetes/cluster/pki/kube-proxy.key',
    });
    expect(doc.clusters[0]!.cluster.server).toBe(`https://127.0.0.1:${API_SERVER_PORT}`);
  });
});

describe('node configuration', () => {
  it('runs containerd on its own socket, root, state and runc root, with the pause image pinned and netns under its state', () => {
    const toml = containerdConfig(layout);
    expect(toml).toContain(`root = "${layout.containerdRoot}"`);
    expect(toml).toContain(`address = "${layout.containerdSocket}"`);
    expect(toml).toContain(`Root = "${layout.runcRoot}"`);
    expect(toml).toContain(`sandbox = "${KUBERNETES_LOCAL.pauseImage}"`);
    expect(toml).toContain('netns_mounts_under_state_dir = true');
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('stream_server_address = "127.0.0.1"');
    expect(toml).not.toMatch(/"\/(var\/lib|run)\/containerd/);
  });

  it('runs the kubelet on cgroup v1 with cgroupfs, no anonymous or read-only API, on the node address', () => {
    const cfg = kubeletConfig(layout);
    expect(cfg).toMatchObject({ failCgroupV1: false, cgroupDriver: 'cgroupfs', readOnlyPort: 0, address: NETWORK.nodeIp, healthzBindAddress: '127.0.0.1' });
    expect(cfg.authentication).toMatchObject({ anonymous: { enabled: false }, webhook: { enabled: true } });
    expect(cfg.authorization).toEqual({ mode: 'Webhook' });
    expect(flag(kubeletArgs(layout), 'node-ip')).toBe(NETWORK.nodeIp);
  });

  it('runs kube-proxy in iptables mode, on loopback, leaving the conntrack sysctls and route_localnet alone', () => {
    expect(kubeProxyConfig(layout)).toMatchObject({
      mode: 'iptables',
      bindAddress: '127.0.0.1',
      clusterCIDR: NETWORK.podCidr,
      nodePortAddresses: ['127.0.0.1/32'],
      iptables: { localhostNodePorts: false },
      conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    });
  });

  it('puts pods on one bridge and private range, without masquerade or port mapping', () => {
    const doc = JSON.parse(cniConflist(layout)) as { plugins: Record<string, unknown>[] };
    expect(doc.plugins.map((p) => p.type)).toEqual(['bridge']);
    expect(doc.plugins[0]).toMatchObject({ bridge: NETWORK.bridge, ipMasq: false, ipam: { ranges: [[{ subnet: NETWORK.podCidr }]], dataDir: layout.cniIpam } });
  });
});
