/**
 * The control plane's command lines and the components' kubeconfigs, rendered
 * from the layout: pure functions, so a unit test reads exactly what runs.
 * Every listener is on 127.0.0.1; controller-manager and scheduler serve
 * nothing at all (--secure-port=0), since nothing here scrapes them.
 */
import path from 'node:path';

import { API_SERVER_PORT, CLUSTER_NAME, type ClusterLayout, LOOPBACK, LOOPBACK_PORTS, NETWORK } from './layout.js';
import { pkiFiles } from './pki.js';

export const API_SERVER_URL = `https://${LOOPBACK}:${API_SERVER_PORT}`;
const ETCD_URL = `https://${LOOPBACK}:${LOOPBACK_PORTS.etcdClient}`;

/** Components that reach the apiserver with a kubeconfig of their own, by the certificate they present. */
export const KUBECONFIG_USERS = ['admin', 'controller-manager', 'scheduler', 'kubelet-client', 'kube-proxy'] as const;
export type KubeconfigUser = (typeof KUBECONFIG_USERS)[number];

export const kubeconfigPath = (layout: ClusterLayout, user: KubeconfigUser) =>
  user === 'admin' ? layout.adminKubeconfig : path.join(layout.kubeconfigs, `${user}.kubeconfig`);

/** A kubeconfig that points at the certificate files (no key material inside it). */
export function kubeconfig(layout: ClusterLayout, user: KubeconfigUser): string {
  const files = pkiFiles(layout.pki, user);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CLUSTER_NAME, cluster: { server: API_SERVER_URL, 'certificate-authority': pkiFiles(layout.pki, 'ca').cert } }],
    users: [{ name: user, user: { 'client-certificate': files.cert, 'client-key': files.key } }],
    contexts: [{ name: CLUSTER_NAME, context: { cluster: CLUSTER_NAME, user } }],
    'current-context': CLUSTER_NAME,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function etcdArgs(layout: ClusterLayout): string[] {
  const server = pkiFiles(layout.pki, 'etcd-server');
  const peer = `https://${LOOPBACK}:${LOOPBACK_PORTS.etcdPeer}`;
  return [
    '--name=node',
    `--data-dir=${layout.etcdData}`,
    `--listen-client-urls=${ETCD_URL}`,
    `--advertise-client-urls=${ETCD_URL}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=node=${peer}`,
    `--cert-file=${server.cert}`,
    `--key-file=${server.key}`,
    `--peer-cert-file=${server.cert}`,
    `--peer-key-file=${server.key}`,
    `--trusted-ca-file=${pkiFiles(layout.pki, 'ca').cert}`,
    `--peer-trusted-ca-file=${pkiFiles(layout.pki, 'ca').cert}`,
    '--client-cert-auth=true',
    '--listen-metrics-urls=',
    '--log-level=warn',
  ];
}

export function apiServerArgs(layout: ClusterLayout): string[] {
  const f = (name: string) => pkiFiles(layout.pki, name);
  return [
    `--bind-address=${LOOPBACK}`,
    `--advertise-address=${LOOPBACK}`,
    `--secure-port=${API_SERVER_PORT}`,
    // The `kubernetes` Service cannot point at a loopback address (EndpointSlice validation refuses it), so it keeps no endpoints.
    '--endpoint-reconciler-type=none',
    `--etcd-servers=${ETCD_URL}`,
    `--etcd-cafile=${f('ca').cert}`,
    `--etcd-certfile=${f('apiserver-etcd-client').cert}`,
    `--etcd-keyfile=${f('apiserver-etcd-client').key}`,
    `--client-ca-file=${f('ca').cert}`,
    `--tls-cert-file=${f('apiserver').cert}`,
    `--tls-private-key-file=${f('apiserver').key}`,
    `--kubelet-client-certificate=${f('apiserver-kubelet-client').cert}`,
    `--kubelet-client-key=${f('apiserver-kubelet-client').key}`,
    `--kubelet-certificate-authority=${f('ca').cert}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${path.join(layout.pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${path.join(layout.pki, 'sa.key')}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--anonymous-auth=false',
    '--allow-privileged=false',
    '--profiling=false',
  ];
}

export function controllerManagerArgs(layout: ClusterLayout): string[] {
  const kc = kubeconfigPath(layout, 'controller-manager');
  return [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--secure-port=0',
    `--service-account-private-key-file=${path.join(layout.pki, 'sa.key')}`,
    `--root-ca-file=${pkiFiles(layout.pki, 'ca').cert}`,
    `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
    '--use-service-account-credentials=true',
    '--leader-elect=false',
    '--profiling=false',
  ];
}

export function schedulerArgs(layout: ClusterLayout): string[] {
  const kc = kubeconfigPath(layout, 'scheduler');
  return [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--secure-port=0',
    '--leader-elect=false',
    '--profiling=false',
  ];
}
