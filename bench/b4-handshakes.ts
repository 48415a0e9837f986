import os from 'node:os';
import path from 'node:path';

import { freePort } from '../scripts/lib/deploy/free-ports.js';
import { hostUrl } from '../scripts/lib/deploy/stack-instance.js';
import { addressOn } from '../scripts/lib/docker/commands.js';
import { type BenchContext, type BenchResult, timedRunsLimit } from './lib/context.js';
import { type CpuShare, withCpuShare } from './lib/cpu-accounting.js';
import { fixtureOnHost, type RunningServer, serverCopyInContainer } from './lib/fixture-server.js';
import { hostIdentity } from './lib/load-identity.js';
import { ensureNginx, type NginxServer, startNginx } from './lib/nginx.js';
import { sTime, type STimeResult } from './lib/openssl.js';
import { alternate, formatRatio, formatSummary, pairedRatio, round, summarize } from './lib/stats.js';

/** `97% / 0.95 / 0.98` from the median of each figure over the rounds; `n/a` where it could not be read. */
export function describeCpu(shares: ReadonlyArray<CpuShare | undefined>): string {
  const known = shares.filter((s): s is CpuShare => s !== undefined);
  if (!known.length) return 'n/a';
  const median = (xs: number[]) => summarize(xs).median;
  const server = known.map((s) => s.serverCores).filter((x): x is number => x !== undefined);
  return `${Math.round(median(known.map((s) => s.machineBusy)) * 100)}% / ${round(median(known.map((s) => s.clientCores)), 2)} / ${server.length ? round(median(server), 2) : 'n/a'}`;
}

export async function b4Handshakes(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.smoke ? 1 : 5;
  const cores = os.availableParallelism();
  // One s_time is strictly sequential (one handshake in flight): two per core keep a
  // handshake waiting on every server core, so the servers, not the clients' round
  // trips, set the rate.
  const processes = ctx.smoke ? 1 : 2 * cores;
  const nginxVersion = await ctx.ui.step('B4: nginx (Debian nginx-light) present', ensureNginx);
  // The host servers get their own certificate for the server's identity from
  // the same CA: keys stay where they were made (the server's stays in its volume).
  const serverId = await hostIdentity(ctx.stack, ctx.rootPem, path.join(ctx.scratch, 'b4-server'), {
    commonName: 'server.mesh.internal',
    dns: ['server.mesh.internal'],
    uris: ['spiffe://mesh.internal/server'],
    notAfter: '30m',
  });
  const stoppers: Array<NginxServer | RunningServer> = [];
  const problems: string[] = [];
  try {
    const nginxAll = await startNginx({
      dir: path.join(ctx.scratch, 'nginx-auto'),
      port: await freePort(),
      cert: serverId.files.cert,
      key: serverId.files.key,
      clientRoot: ctx.operator.files.root,
      workers: cores,
    });
    stoppers.push(nginxAll);
    const nginxOne = await startNginx({
      dir: path.join(ctx.scratch, 'nginx-one'),
      port: await freePort(),
      cert: serverId.files.cert,
      key: serverId.files.key,
      clientRoot: ctx.operator.files.root,
      workers: 1,
    });
    stoppers.push(nginxOne);
    const node = await fixtureOnHost({ certDir: serverId.dir, port: await freePort(), mode: 'mtls' });
    stoppers.push(node);
    const realPort = Number(new URL(hostUrl(ctx.stack.outputs, 'server')).port);
    // The project's server on every core: a copy of the stack's server container with WORKERS = nproc.
    const prefix = ctx.settings.prefix;
    const serverWorkload = ctx.stack.workloads.find((w) => w.name === 'server')!;
    const clusterPort = await freePort();
    const clusterName = `${prefix}-b4-cluster`;
    const cluster = await ctx.ui.step(`B4: a copy of the project's server with ${cores} processes`, () =>
      serverCopyInContainer({
        name: clusterName,
        prefix,
        image: `${prefix}-workload:local`,
        network: `${prefix}-edge`,
        source: serverWorkload.container,
        hostPort: clusterPort,
        workers: cores,
      }),
    );
    stoppers.push(cluster);
    // The same containers at their address on the edge network: what a peer
    // reaches, without the userland proxy (docker-proxy) that carries every
    // connection to a port published on 127.0.0.1 and takes CPU from the same cores.
    const edge = `${prefix}-edge`;
    const direct = {
      real: { host: await addressOn(serverWorkload.container, edge), port: serverWorkload.port },
      cluster: { host: await addressOn(clusterName, edge), port: serverWorkload.port },
    };
    const op = ctx.operator.files;
    type Target = { host?: string; port: number };
    const run = (t: Target, s = seconds) => sTime({ ...t, cert: op.leaf, key: op.key, caFile: op.chainAndRoot, seconds: s, processes });
    // Each measured run also says where the CPU went (machine, the s_time clients, the server's container).
    const measured = async (t: Target, container?: string): Promise<STimeResult & { cpu?: CpuShare }> => {
      const { result, cpu } = await withCpuShare(() => run(t), container);
      return cpu ? { ...result, cpu } : result;
    };
    await ctx.ui.step('B4: warm-up', async () => {
      for (const port of [node.port, nginxAll.port, nginxOne.port, realPort, cluster.port]) await run({ port }, 1);
      for (const t of [direct.real, direct.cluster]) await run(t, 1);
    });
    const samples = await alternate(ctx.rounds, {
      node: (r) => ctx.ui.step(`B4 round ${r + 1}: Node (host) full handshakes`, () => measured({ port: node.port })),
      nginxAll: (r) => ctx.ui.step(`B4 round ${r + 1}: nginx (host, ${cores} workers) full handshakes`, () => measured({ port: nginxAll.port })),
      nginxOne: (r) => ctx.ui.step(`B4 round ${r + 1}: nginx (host, 1 worker) full handshakes`, () => measured({ port: nginxOne.port })),
      real: (r) =>
        ctx.ui.step(`B4 round ${r + 1}: the project's server (container, 1 process, edge address) full handshakes`, () =>
          measured(direct.real, serverWorkload.container),
        ),
      cluster: (r) =>
        ctx.ui.step(`B4 round ${r + 1}: the project's server (container, ${cores} processes, edge address) full handshakes`, () =>
          measured(direct.cluster, clusterName),
        ),
      realPublished: (r) =>
        ctx.ui.step(`B4 round ${r + 1}: the project's server (container, 1 process, published port) full handshakes`, () =>
          measured({ port: realPort }, serverWorkload.container),
        ),
      clusterPublished: (r) =>
        ctx.ui.step(`B4 round ${r + 1}: the project's server (container, ${cores} processes, published port) full handshakes`, () =>
          measured({ port: cluster.port }, clusterName),
        ),
    });
    const cpuRow = (label: string, xs: ReadonlyArray<{ cpu?: CpuShare }>) => ({
      metric: `CPU during the runs, ${label}: machine busy / s_time clients / server (cores of ${cores})`,
      value: describeCpu(xs.map((x) => x.cpu)),
    });
    const hs = (xs: STimeResult[]) => xs.map((x) => x.handshakesPerSecond);
    const vsAll = pairedRatio(hs(samples.node), hs(samples.nginxAll));
    const vsOne = pairedRatio(hs(samples.node), hs(samples.nginxOne));
    const realVsNode = pairedRatio(hs(samples.real), hs(samples.node));
    const perCore = pairedRatio(hs(samples.real), hs(samples.nginxOne));
    const wholeMachine = pairedRatio(hs(samples.cluster), hs(samples.nginxAll));
    const clusterVsReal = pairedRatio(hs(samples.cluster), hs(samples.real));
    const perCorePublished = pairedRatio(hs(samples.realPublished), hs(samples.nginxOne));
    const wholeMachinePublished = pairedRatio(hs(samples.clusterPublished), hs(samples.nginxAll));
    const proxyCost = pairedRatio(hs(samples.realPublished), hs(samples.real));
    return {
      id: 'b4',
      title: 'B4 new connections: full mTLS handshakes/s, Node vs nginx',
      method:
        `openssl s_time -new -www / (${processes} s_time process${processes > 1 ? 'es' : ''} side by side, ${seconds} s per round): every connection is a full TLS handshake ` +
        `(no resumption) presenting the operator's client certificate and fetching / (so the server must accept it), total connections over wall time. ` +
        `Servers on the host, 127.0.0.1, same server certificate (server.mesh.internal from the stack's CA) and client root: ` +
        `Node ${process.version} running bench/fixtures/tls-server.mjs (MODE=mtls, one process), nginx ${nginxVersion.replace(/^nginx version:\s*/, '')} (ssl_verify_client on; session cache and tickets off) ` +
        `with worker_processes = nproc and = 1. The project's server runs the same load in a container twice: the stack's own server (one process), and a copy of that container ` +
        `(same image, environment, certificate and trust volumes, hardening) with WORKERS=${cores}: ${cores} processes sharing the port (node:cluster, each accepting on the shared socket). ` +
        `Each is measured at its address on the edge network (the bridge the host routes to, as a peer reaches it) and at its port published on 127.0.0.1, which Docker 20.10 carries through its userland proxy (docker-proxy), one more process per connection on the same cores. ` +
        `Per core: the stack's server / nginx with 1 worker; whole machine: the ${cores}-process copy / nginx with ${cores} workers; both at the edge address, like nginx's direct loopback port, and again through the published port. Rounds alternate.`,
      limits: [
        `s_time clients and the servers share ${cores} cores; each handshake costs the client about as much ECDSA work as the server, so absolute rates are roughly halved.`,
        "The fixture and the stack's server are one process (one core); nginx with nproc workers and the cluster copy may use every core — the 1-worker row is the per-core comparison.",
        'The s_time clients compete for the same cores as the servers (a full handshake costs the client about as much as the server), so the whole-machine rows are bounded by the clients too: the CPU rows show, per variant, how busy the machine was, how many cores the clients took, and (containers) how many the server used.',
        "The host Node (for the fixture) is not the container's Node; the container rows add the container's network path and the real server's allow-list and logging. nginx runs on the host: no proxy, no bridge.",
        timedRunsLimit(ctx, seconds),
      ],
      rows: [
        { metric: "per core: project's server (container, 1 process, edge address) / nginx (1 worker)", value: formatRatio(perCore) },
        {
          metric: `whole machine: project's server (container, ${cores} processes, edge address) / nginx (${cores} workers)`,
          value: formatRatio(wholeMachine),
        },
        {
          metric: "per core, through the published port: project's server (container, 1 process) / nginx (1 worker)",
          value: formatRatio(perCorePublished),
          formerly: "per core: project's server (container, 1 process) / nginx (1 worker)",
        },
        {
          metric: `whole machine, through the published port: project's server (container, ${cores} processes) / nginx (${cores} workers)`,
          value: formatRatio(wholeMachinePublished),
          formerly: `whole machine: project's server (container, ${cores} processes) / nginx (${cores} workers)`,
        },
        { metric: "project's server, 1 process: published port / edge address (docker-proxy's cost)", value: formatRatio(proxyCost) },
        { metric: `project's server: ${cores} processes / 1 process (edge address)`, value: formatRatio(clusterVsReal) },
        {
          metric: `project's server (container, ${cores} processes, edge address): full mTLS handshakes/s`,
          value: formatSummary(summarize(hs(samples.cluster)), '/s'),
        },
        {
          metric: `project's server (container, ${cores} processes, published port): full mTLS handshakes/s`,
          value: formatSummary(summarize(hs(samples.clusterPublished)), '/s'),
          formerly: `project's server (container, ${cores} processes): full mTLS handshakes/s`,
        },
        { metric: 'handshake rate ratio Node / nginx (nproc workers)', value: formatRatio(vsAll) },
        { metric: 'handshake rate ratio Node / nginx (1 worker)', value: formatRatio(vsOne) },
        { metric: 'Node (host, fixture): full mTLS handshakes/s', value: formatSummary(summarize(hs(samples.node)), '/s') },
        { metric: 'nginx (nproc workers): full mTLS handshakes/s', value: formatSummary(summarize(hs(samples.nginxAll)), '/s') },
        { metric: 'nginx (1 worker): full mTLS handshakes/s', value: formatSummary(summarize(hs(samples.nginxOne)), '/s') },
        { metric: "project's server (container, 1 process, edge address): full mTLS handshakes/s", value: formatSummary(summarize(hs(samples.real)), '/s') },
        {
          metric: "project's server (container, 1 process, published port): full mTLS handshakes/s",
          value: formatSummary(summarize(hs(samples.realPublished)), '/s'),
          formerly: "project's server (container, 1 process): full mTLS handshakes/s",
        },
        { metric: "ratio project's server (edge address) / Node fixture", value: formatRatio(realVsNode) },
        cpuRow('nginx 1 worker', samples.nginxOne),
        cpuRow(`nginx ${cores} workers`, samples.nginxAll),
        cpuRow("project's server, 1 process, edge address", samples.real),
        cpuRow(`project's server, ${cores} processes, edge address`, samples.cluster),
        {
          ...cpuRow("project's server, 1 process, published port", samples.realPublished),
          formerly: `CPU during the runs, project's server, 1 process: machine busy / s_time clients / server (cores of ${cores})`,
        },
        {
          ...cpuRow(`project's server, ${cores} processes, published port`, samples.clusterPublished),
          formerly: `CPU during the runs, project's server, ${cores} processes: machine busy / s_time clients / server (cores of ${cores})`,
        },
      ],
      data: {
        seconds,
        processes,
        cores,
        nginxVersion,
        vsNginxAuto: vsAll,
        vsNginxOneWorker: vsOne,
        realVsNode,
        perCore,
        wholeMachine,
        perCorePublished,
        wholeMachinePublished,
        proxyCost,
        clusterVsReal,
        direct,
        samples,
      },
      problems,
    };
  } finally {
    for (const s of stoppers) await s.stop();
  }
}
