/**
 * The node's configuration files (containerd, CNI, kubelet, kube-proxy),
 * rendered from the layout as pure functions. JSON is valid YAML, so the
 * Kubernetes component configs are written as JSON.
 */
import path from 'node:path';

import { KUBERNETES_LOCAL } from '../../../stack/versions.js';
import { kubeconfigPath } from './control-plane.js';
import { type ClusterLayout, LOOPBACK, LOOPBACK_PORTS, NETWORK, NODE_NAME } from './layout.js';
import { pkiFiles } from './pki.js';

/** Debian's runc (its Go build needs cgo, which the toolchain's builds leave off). */
export const RUNC = '/usr/sbin/runc';

const toml = (v: string | boolean | number | readonly string[]): string =>
  Array.isArray(v) ? `[${v.map((s) => JSON.stringify(s)).join(', ')}]` : JSON.stringify(v);

function tomlTables(tables: Record<string, Record<string, string | boolean | number | readonly string[]>>): string {
  return Object.entries(tables)
    .map(([name, keys]) => [`[${name}]`, ...Object.entries(keys).map(([k, v]) => `  ${k} = ${toml(v)}`)].join('\n'))
    .join('\n\n');
}

/**
 * containerd 2.x (config version 3) on its own socket, root and state, so it
 * never meets Docker's containerd. Pod network namespaces are mounted under
 * its state directory (not /run/netns), so `down` knows exactly which are its.
 */
export function containerdConfig(layout: ClusterLayout): string {
  const cri = "plugins.'io.containerd.cri.v1.runtime'";
  const head = [`version = 3`, `root = ${toml(layout.containerdRoot)}`, `state = ${toml(layout.containerdState)}`, ''].join('\n');
  return `${head}\n${tomlTables({
    grpc: { address: layout.containerdSocket },
    ttrpc: { address: '' },
    debug: { address: '' },
    metrics: { address: '' },
    "plugins.'io.containerd.internal.v1.opt'": { path: path.join(layout.containerdRoot, 'opt') },
    "plugins.'io.containerd.nri.v1.nri'": { disable: true },
    "plugins.'io.containerd.grpc.v1.cri'": { stream_server_address: LOOPBACK, stream_server_port: '0', enable_tls_streaming: false },
    "plugins.'io.containerd.cri.v1.images'.pinned_images": { sandbox: KUBERNETES_LOCAL.pauseImage },
    // This host's capability bounding set lacks CAP_SYS_RESOURCE, so no process may lower its
    // oom_score_adj: the sandbox's -998 would fail runc's start. Keep each at least containerd's own.
    [cri]: { netns_mounts_under_state_dir: true, enable_selinux: false, restrict_oom_score_adj: true },
    [`${cri}.cni`]: { bin_dirs: [layout.nodeBin], conf_dir: layout.cniConfDir, max_conf_num: 1 },
    [`${cri}.containerd`]: { default_runtime_name: 'runc' },
    [`${cri}.containerd.runtimes.runc`]: { runtime_type: 'io.containerd.runc.v2' },
    [`${cri}.containerd.runtimes.runc.options`]: { BinaryName: RUNC, Root: layout.runcRoot, SystemdCgroup: false },
  })}\n`;
}

/**
 * One bridge, one private /24, no masquerade and no port mapping: pods reach
 * each other (and Services, through kube-proxy's rules) and nothing else.
 */
export function cniConflist(layout: ClusterLayout): string {
  const doc = {
    cniVersion: '1.0.0',
    name: NETWORK.cniNetwork,
    plugins: [
      {
        type: 'bridge',
        bridge: NETWORK.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: layout.cniIpam,
          ranges: [[{ subnet: NETWORK.podCidr, gateway: NETWORK.podGateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function kubeletConfig(layout: ClusterLayout): Record<string, unknown> {
  const serving = pkiFiles(layout.pki, 'kubelet-server');
  const socket = `unix://${layout.containerdSocket}`;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This host mounts cgroup v1; kubelet 1.35+ refuses it unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    // Raising the kubelet's own priority needs CAP_SYS_RESOURCE (see containerdConfig); leave it as it is.
    oomScoreAdj: 0,
    address: NETWORK.nodeIp,
    port: LOOPBACK_PORTS.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: LOOPBACK,
    healthzPort: LOOPBACK_PORTS.kubeletHealthz,
    tlsCertFile: serving.cert,
    tlsPrivateKeyFile: serving.key,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pkiFiles(layout.pki, 'ca').cert } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: socket,
    imageServiceEndpoint: socket,
    podLogsDir: layout.podLogs,
    clusterDomain: 'cluster.local',
    failSwapOn: false,
    // A shared build machine's disk is often fuller than the defaults allow; keep the node schedulable.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%', 'nodefs.inodesFree': '2%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    enableProfilingHandler: false,
    enableDebuggingHandlers: true,
  };
}

export function kubeletArgs(layout: ClusterLayout): string[] {
  return [
    `--config=${path.join(layout.config, 'kubelet.json')}`,
    `--kubeconfig=${kubeconfigPath(layout, 'kubelet-client')}`,
    `--root-dir=${layout.kubeletRoot}`,
    `--node-ip=${NETWORK.nodeIp}`,
    `--hostname-override=${NODE_NAME}`,
  ];
}

/**
 * kube-proxy in iptables mode. NodePorts answer on 127.0.0.1 only and
 * without route_localnet (localhostNodePorts off), and the conntrack sysctls
 * are left as the host has them (0 = do not set).
 */
export function kubeProxyConfig(layout: ClusterLayout): Record<string, unknown> {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: kubeconfigPath(layout, 'kube-proxy') },
    hostnameOverride: NODE_NAME,
    bindAddress: LOOPBACK,
    healthzBindAddress: `${LOOPBACK}:${LOOPBACK_PORTS.kubeProxyHealthz}`,
    metricsBindAddress: `${LOOPBACK}:${LOOPBACK_PORTS.kubeProxyMetrics}`,
    clusterCIDR: NETWORK.podCidr,
    detectLocalMode: 'ClusterCIDR',
    nodePortAddresses: [`${LOOPBACK}/32`],
    iptables: { localhostNodePorts: false },
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
}

export const kubeProxyArgs = (layout: ClusterLayout): string[] => [`--config=${path.join(layout.config, 'kube-proxy.json')}`];
