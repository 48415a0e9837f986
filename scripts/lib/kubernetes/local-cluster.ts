/**
 * The local single-node cluster's lifecycle: `up` builds what is missing
 * (cached by version), writes certificates and configuration into the cache,
 * starts etcd, the control plane, containerd, the kubelet and kube-proxy as
 * detached processes and waits for the node to be Ready; `down` stops them
 * and removes everything they made on the host; `status` says what runs.
 */
import path from 'node:path';

import { fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import { KUBERNETES_LOCAL, PROJECT } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from '../toolchain/cache.js';
import { ensureKubernetesBinaries, ensureNodeBinaries } from './build.js';
import { apiServerArgs, controllerManagerArgs, etcdArgs, kubeconfig, KUBECONFIG_USERS, kubeconfigPath, schedulerArgs } from './control-plane.js';
import { kubepodsCgroups, leftoverHostPaths, removeFixedHostPaths, removeKubepodsCgroups, restoreTunables, saveTunables, unmountUnder } from './host-state.js';
import { clusterImages, ensurePauseArchive, importArchive } from './images.js';
import { kubectl, kubectlOk, nodes, type NodeState } from './kubectl.js';
import { type ClusterLayout, NODE_NAME } from './layout.js';
import { installFence, leftoverChains, leftoverLinks, podNetns, prepareHost, removeNetwork } from './network.js';
import { cniConflist, containerdConfig, kubeletArgs, kubeletConfig, kubeProxyArgs, kubeProxyConfig } from './node-config.js';
import { APISERVER_KUBELET_CLIENT, ensurePki } from './pki.js';
import { type Daemon, logFile, logTail, pidsNaming, runningPid, startDaemon, stopDaemon } from './processes.js';

export type DaemonName = 'etcd' | 'kube-apiserver' | 'containerd' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet' | 'kube-proxy';

/** Every daemon, in start order; `down` stops them in reverse. */
export function daemons(layout: ClusterLayout): Daemon[] {
  const kube = (name: string) => path.join(layout.kubernetesBin, name);
  return [
    { name: 'etcd', binary: path.join(layout.nodeBin, 'etcd'), args: etcdArgs(layout) },
    { name: 'kube-apiserver', binary: kube('kube-apiserver'), args: apiServerArgs(layout) },
    {
      name: 'containerd',
      binary: path.join(layout.nodeBin, 'containerd'),
      args: ['--config', path.join(layout.config, 'containerd.toml')],
      pathDirs: [layout.nodeBin],
    },
    { name: 'kube-controller-manager', binary: kube('kube-controller-manager'), args: controllerManagerArgs(layout) },
    { name: 'kube-scheduler', binary: kube('kube-scheduler'), args: schedulerArgs(layout) },
    { name: 'kubelet', binary: kube('kubelet'), args: kubeletArgs(layout), pathDirs: [layout.nodeBin] },
    { name: 'kube-proxy', binary: kube('kube-proxy'), args: kubeProxyArgs(layout) },
  ];
}

const byName = (layout: ClusterLayout, name: DaemonName) => daemons(layout).find((d) => d.name === name)!;

async function writeConfig(layout: ClusterLayout): Promise<void> {
  await fs.mkdirp(layout.cniConfDir);
  await fs.mkdirp(layout.kubeconfigs);
  await fs.writeFile(path.join(layout.config, 'containerd.toml'), containerdConfig(layout));
  await fs.writeFile(path.join(layout.cniConfDir, '10-pods.conflist'), cniConflist(layout));
  await fs.writeFile(path.join(layout.config, 'kubelet.json'), `${JSON.stringify(kubeletConfig(layout), null, 2)}\n`);
  await fs.writeFile(path.join(layout.config, 'kube-proxy.json'), `${JSON.stringify(kubeProxyConfig(layout), null, 2)}\n`);
  for (const user of KUBECONFIG_USERS) await fs.writeFile(kubeconfigPath(layout, user), kubeconfig(layout, user));
}

/** Waits for a condition while the daemon it depends on is alive; a dead daemon fails at once with its log. */
async function awaitDaemon<T>(
  layout: ClusterLayout,
  name: DaemonName,
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const daemon = byName(layout, name);
  try {
    return await waitFor(
      what,
      async () => {
        if (!(await runningPid(layout, daemon))) throw new UserError(`${name} exited`);
        return probe();
      },
      { timeoutMs, intervalMs: [100, 200, 500] },
    );
  } catch (err) {
    throw new UserError(
      `${(err as Error).message}\nLast lines of ${name}'s log (${logFile(layout, name)}):\n${await logTail(layout, name)}\n` +
        '`npm run cluster -- down` stops what did start.',
    );
  }
}

export interface UpReport {
  readonly kubeconfig: string;
  readonly node: NodeState;
  readonly builds: { kubernetes: { cached: boolean; seconds: number }; node: { cached: boolean; seconds: number } };
  /** From the first daemon's start to the node's Ready condition. */
  readonly readySeconds: number;
}

export async function clusterUp(paths: CachePaths, layout: ClusterLayout, log: (line: string) => void = () => {}): Promise<UpReport> {
  if (process.getuid?.() !== 0) throw new UserError('the local cluster runs containerd and the kubelet, which need root: run this as root (or under sudo).');
  const [kubernetes, node] = [await ensureKubernetesBinaries(paths, layout), await ensureNodeBinaries(paths, layout)];
  const pause = await ensurePauseArchive(paths, layout);
  await ensurePki(layout.pki);
  await writeConfig(layout);
  await prepareHost();
  await installFence();
  await saveTunables(layout);
  const started = Date.now();
  const start = (name: DaemonName) => startDaemon(layout, byName(layout, name));
  await Promise.all([start('etcd'), start('kube-apiserver'), start('containerd')]);
  log('etcd, kube-apiserver and containerd started');
  await awaitDaemon(layout, 'containerd', 'containerd to answer', () => clusterImages(layout).then(() => true), 30_000);
  if (!(await clusterImages(layout)).includes(KUBERNETES_LOCAL.pauseImage)) await importArchive(layout, pause);
  await awaitDaemon(
    layout,
    'kube-apiserver',
    'the apiserver to be ready',
    async () => (await kubectl(layout, ['get', '--raw', '/readyz'])).exitCode === 0,
    90_000,
  );
  // The apiserver calls the kubelet (exec, logs) as this user; the kubelet asks the apiserver whether it may.
  await kubectlOk(layout, ['apply', '-f', '-'], { input: kubeletApiBinding() });
  for (const name of ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'] as const) await start(name);
  log('controller-manager, scheduler, kubelet and kube-proxy started');
  const ready = await awaitDaemon(
    layout,
    'kubelet',
    `node ${NODE_NAME} to be Ready`,
    async () => (await nodes(layout).catch(() => [])).find((n) => n.name === NODE_NAME && n.ready),
    120_000,
  );
  return { kubeconfig: layout.adminKubeconfig, node: ready, builds: { kubernetes, node }, readySeconds: (Date.now() - started) / 1000 };
}

function kubeletApiBinding(): string {
  return JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `${PROJECT}:apiserver-kubelet-client` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: APISERVER_KUBELET_CLIENT }],
  });
}

/**
 * Stops every daemon (pods first: while the kubelet and containerd still run,
 * deleting the pods lets them tear their sandboxes down through CNI), then
 * whatever a crashed daemon left: shims, netns mounts, chains, the bridge.
 */
export async function clusterDown(layout: ClusterLayout, log: (line: string) => void = () => {}): Promise<{ stopped: string[] }> {
  const all = daemons(layout);
  const alive = async (name: DaemonName) => Boolean(await runningPid(layout, byName(layout, name)));
  const stopped: string[] = [];
  if ((await alive('kube-apiserver')) && (await alive('kubelet')) && (await alive('containerd'))) {
    // No controller may replace the pods deleted here.
    if (await stopDaemon(layout, byName(layout, 'kube-controller-manager'))) stopped.push('kube-controller-manager');
    await kubectl(layout, ['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=true', '--timeout=60s'], { timeout: '90s' });
    log('pods deleted');
  }
  for (const d of [...all].reverse()) if (await stopDaemon(layout, d)) stopped.push(d.name);
  // Shims outlive containerd by design; ours name our containerd's socket.
  for (const pid of await pidsNaming(layout.containerdSocket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await removeNetwork(layout, path.join(layout.kubernetesBin, 'kube-proxy'));
  await unmountUnder(layout.kubeletRoot);
  await unmountUnder(layout.containerdState);
  await unmountUnder(layout.containerdRoot);
  await removeKubepodsCgroups();
  await removeFixedHostPaths();
  const restored = await restoreTunables(layout);
  if (restored.length) log(`restored the host's ${restored.join(', ')}`);
  return { stopped };
}

export interface ClusterStatus {
  readonly daemons: { name: string; pid?: number }[];
  readonly node?: NodeState;
  readonly kubeconfig: string;
  readonly leftovers: { chains: string[]; links: string[]; netns: string[]; shims: number[]; cgroups: string[]; hostPaths: string[] };
}

export async function clusterStatus(layout: ClusterLayout): Promise<ClusterStatus> {
  const ds = await Promise.all(daemons(layout).map(async (d) => ({ name: d.name, pid: await runningPid(layout, d) })));
  const node = ds.find((d) => d.name === 'kube-apiserver')?.pid ? (await nodes(layout).catch(() => [])).find((n) => n.name === NODE_NAME) : undefined;
  return {
    daemons: ds,
    node,
    kubeconfig: layout.adminKubeconfig,
    leftovers: {
      chains: await leftoverChains(),
      links: await leftoverLinks(),
      netns: await podNetns(layout),
      shims: await pidsNaming(layout.containerdSocket),
      cgroups: await kubepodsCgroups(),
      hostPaths: await leftoverHostPaths(),
    },
  };
}
