/**
 * Where the local cluster lives and which addresses it uses: one place, read
 * by the builder, the renderers and the lifecycle. Binaries are cached by
 * version under the toolchain cache; the cluster's own state (certificates,
 * configuration, etcd data, logs, pid files) sits next to them. containerd's
 * and the kubelet's root directories hold mounts and overlay layers, so they
 * live on the host's own paths, named for the project so they are never
 * Docker's (/var/lib/containerd, /run/containerd).
 */
import path from 'node:path';

import { PROJECT } from '../../../common/facts.js';
import { KUBERNETES_LOCAL } from '../../../stack/versions.js';
import type { CachePaths } from '../toolchain/cache.js';

/**
 * The apiserver's port on 127.0.0.1. Kept here rather than in common/facts.ts
 * because only the local cluster uses it; a cluster the user brings has its own.
 */
export const API_SERVER_PORT = 16443;

/**
 * Every listening port of the cluster, all bound to 127.0.0.1 except the
 * kubelet's API, which listens on NODE_IP (below).
 */
export const LOOPBACK_PORTS = {
  apiServer: API_SERVER_PORT,
  etcdClient: 16379,
  etcdPeer: 16380,
  kubelet: 16250,
  kubeletHealthz: 16248,
  kubeProxyHealthz: 16256,
  kubeProxyMetrics: 16249,
} as const;

export const LOOPBACK = '127.0.0.1';

/** Ranges that exist only inside the node: pods on the bridge, Services in kube-proxy's rules. */
export const NETWORK = {
  podCidr: '10.244.0.0/24',
  podGateway: '10.244.0.1',
  serviceCidr: '10.96.0.0/24',
  /** The first address of the service range: the `kubernetes` Service. */
  apiServiceIp: '10.96.0.1',
  /**
   * Where a deployed stack's Services start (the CA's, then each server's): in
   * the range's static band (KEP-3070), above the `kubernetes` Service. The
   * pods name them through hostAliases, as the cluster has no DNS.
   */
  firstStackServiceIp: '10.96.0.2',
  /**
   * The node's own address. The kubelet refuses a loopback node IP, and the
   * apiserver reaches the kubelet (exec, logs) at the node's InternalIP, so
   * the node gets an address on an interface of its own (a bridge without
   * ports: this host's kernel has no dummy driver); the fence rejects any
   * packet to it that does not come from this machine (lo).
   */
  nodeIp: '10.244.1.1',
  nodeInterface: 'mtlsk8s-node',
  /** The CNI bridge (at most 15 characters, a Linux interface name). */
  bridge: 'mtlsk8s0',
  /** The CNI network name: containerd names the pods' netns entries after it. */
  cniNetwork: `${PROJECT}-pods`,
  /** Our filter chain, jumped to first from FORWARD (Docker's FORWARD policy is DROP). */
  forwardChain: 'MTLS-K8S-FORWARD',
} as const;

export const NODE_NAME = `${PROJECT}-node`;
export const CLUSTER_NAME = `${PROJECT}-local`;

const k = KUBERNETES_LOCAL;

/** Paths of the cluster under one cache root (`system` is the host prefix, for tests). */
export function clusterLayout(cache: Pick<CachePaths, 'root'>, system = { varLib: '/var/lib', run: '/run' }) {
  const base = path.join(cache.root, 'kubernetes');
  const state = path.join(base, 'cluster');
  const hostName = `${PROJECT}-k8s`;
  const runDir = path.join(system.run, hostName);
  return {
    base,
    /** kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl. */
    kubernetesBin: path.join(base, `kubernetes-${k.kubernetes.version}`, 'bin'),
    kubernetesModule: path.join(base, `kubernetes-${k.kubernetes.version}`, 'module'),
    /** etcd (`server`), containerd, its shim, ctr and the CNI plugins. */
    nodeBin: path.join(base, `node-etcd-${k.etcd.version}-containerd-${k.containerd.version}-cni-${k.cniPlugins.version}`, 'bin'),
    nodeModule: path.join(base, `node-etcd-${k.etcd.version}-containerd-${k.containerd.version}-cni-${k.cniPlugins.version}`, 'module'),
    pauseDir: path.join(base, `pause-${k.pauseImage.split(':')[1]}`),
    state,
    pki: path.join(state, 'pki'),
    config: path.join(state, 'config'),
    cniConfDir: path.join(state, 'config', 'cni'),
    kubeconfigs: path.join(state, 'kubeconfig'),
    /** The administrator's kubeconfig: what `cluster up` prints and the tests use. */
    adminKubeconfig: path.join(state, 'kubeconfig', 'admin.kubeconfig'),
    etcdData: path.join(state, 'etcd'),
    logs: path.join(state, 'logs'),
    pids: path.join(state, 'pids'),
    containerdRoot: path.join(system.varLib, hostName, 'containerd'),
    kubeletRoot: path.join(system.varLib, hostName, 'kubelet'),
    podLogs: path.join(system.varLib, hostName, 'pod-logs'),
    /** containerd's state and socket, and the CNI plugins' IP allocations. */
    runDir,
    containerdState: path.join(runDir, 'containerd'),
    containerdSocket: path.join(runDir, 'containerd', 'containerd.sock'),
    /** runc's state (its default, /run/containerd/runc, is Docker's containerd's). */
    runcRoot: path.join(runDir, 'runc'),
    cniIpam: path.join(runDir, 'cni-ipam'),
  };
}

export type ClusterLayout = ReturnType<typeof clusterLayout>;
