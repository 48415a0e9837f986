#!/usr/bin/env tsx
/** The toolchain's local single-node Kubernetes cluster: up, down, status. */
import { KUBERNETES_LOCAL } from '../stack/versions.js';
import { parseCli } from './lib/cli/flags.js';
import { createUi, main, table, UserError } from './lib/cli/ui.js';
import { clusterLayout } from './lib/kubernetes/layout.js';
import { clusterDown, clusterStatus, clusterUp } from './lib/kubernetes/local-cluster.js';
import { cachePaths } from './lib/toolchain/cache.js';

const HELP = `Usage: tsx scripts/cluster.ts up|down|status [--json]

  up      build the cluster's binaries if this version is not cached (about
          20 min cold), start etcd, the control plane, containerd, the kubelet
          and kube-proxy on this machine, wait for the node to be Ready and
          print the administrator's kubeconfig
  down    stop every process of the cluster and remove what it made on the
          host (pods, the bridge, iptables chains, network namespaces)
  status  what runs, the node's state, and any leftover of the cluster

Kubernetes ${KUBERNETES_LOCAL.kubernetes.version}, etcd ${KUBERNETES_LOCAL.etcd.version}, containerd ${KUBERNETES_LOCAL.containerd.version}: one node, reachable from this machine only, not for production. Needs root.

  --json         machine-readable output on stdout
  -h, --help     this text`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), {}, HELP);
  if (cli.help) return void console.log(HELP);
  const [verb, ...rest] = cli.positionals;
  if (!verb || rest.length > 0 || !['up', 'down', 'status'].includes(verb)) throw new UserError(`say up, down or status\n\n${HELP}`);
  const ui = createUi({ json: cli.json });
  const paths = cachePaths();
  const layout = clusterLayout(paths);

  if (verb === 'up') {
    const report = await ui.step(`local Kubernetes ${KUBERNETES_LOCAL.kubernetes.version} cluster`, () => clusterUp(paths, layout, (line) => ui.info(line)));
    if (cli.json) return void console.log(JSON.stringify(report, null, 2));
    const built = (b: { cached: boolean; seconds: number }) => (b.cached ? 'cached' : `built in ${b.seconds} s`);
    console.log(
      `node ${report.node.name} Ready (kubelet ${report.node.kubeletVersion}, ${report.node.containerRuntime}) ${report.readySeconds.toFixed(1)} s after start`,
    );
    console.log(`binaries: kubernetes ${built(report.builds.kubernetes)}, node ${built(report.builds.node)}`);
    console.log(`kubeconfig: ${report.kubeconfig}`);
    return void console.log(`try: KUBECONFIG=${report.kubeconfig} ${layout.kubernetesBin}/kubectl get nodes`);
  }

  if (verb === 'down') {
    const report = await ui.step('stopping the local cluster', () => clusterDown(layout, (line) => ui.info(line)));
    const left = await clusterStatus(layout);
    const leftovers = Object.entries(left.leftovers).filter(([, v]) => v.length > 0);
    if (leftovers.length > 0) process.exitCode = 1;
    if (cli.json) return void console.log(JSON.stringify({ ...report, leftovers: left.leftovers }, null, 2));
    console.log(report.stopped.length ? `stopped ${report.stopped.join(', ')}` : 'nothing was running');
    for (const [what, items] of leftovers) console.log(`left behind (${what}): ${items.join(', ')}`);
    return;
  }

  const status = await clusterStatus(layout);
  if (cli.json) return void console.log(JSON.stringify(status, null, 2));
  console.log(table(status.daemons.map((d) => ({ daemon: d.name, state: d.pid ? 'running' : 'stopped', pid: d.pid ?? '' }))));
  console.log(
    status.node
      ? `node ${status.node.name}: ${status.node.ready ? 'Ready' : `not Ready (${status.node.message})`}, kubelet ${status.node.kubeletVersion}`
      : 'node: unknown (the apiserver does not run)',
  );
  console.log(`kubeconfig: ${status.kubeconfig}`);
  // The cluster's footprint on the host: expected while it runs, leftovers once it is down (details with --json).
  const present = Object.entries(status.leftovers).filter(([, items]) => items.length > 0);
  if (present.length > 0) console.log(`on the host: ${present.map(([what, items]) => `${items.length} ${what}`).join(', ')}`);
});
