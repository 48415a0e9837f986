import { sleep } from '../common/wait.js';
import { freePort } from '../scripts/lib/deploy/free-ports.js';
import { cdktf, freeHostPorts, type StackSettings } from '../scripts/lib/deploy/stack-instance.js';
import * as docker from '../scripts/lib/docker/commands.js';
import { loadStack, type Stack } from '../scripts/lib/workloads/handles.js';
import { waitForWorkloads } from '../scripts/lib/workloads/readiness.js';
import { untilEveryClientAnswered } from '../scripts/lib/workloads/rotation-check.js';
import { bootstrapAndEnroll, teardown } from './lib/bench-stack.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { type IdleCost, measureWindow as measure, type Window } from './lib/idle-cpu.js';

/** The goal for the default mesh's own cost at rest (no calls): under 5 % of one core. */
export const IDLE_GOAL_CORES = 0.05;
/** The default mesh with the CA's default certificate lifetime. */
const LIFETIME = '5m';

const pct = (cores: number) => `${(cores * 100).toFixed(2)} % of a core`;

/** Settings of B10's own stack: the whole default mesh, default lifetime and call pace, free 127.0.0.1 ports. */
async function idleSettings(prefix: string): Promise<StackSettings> {
  const caPort = await freePort();
  return { prefix, certLifetime: LIFETIME, minCertLifetime: '1m', caPort, hostPorts: await freeHostPorts({ avoid: [caPort] }) };
}

/** The cost by kind of container: the CA, the apps (clients and servers apart), the renewers. */
function breakdown(stack: Stack, cost: IdleCost) {
  const of = (names: readonly string[]) => names.reduce((n, c) => n + (cost.containers[c] ?? 0), 0);
  const clients = stack.workloads.filter((w) => w.role === 'client');
  const servers = stack.workloads.filter((w) => w.role !== 'client');
  const renewers = stack.workloads.map((w) => ({ name: w.name, cores: cost.containers[w.renewer] ?? 0 }));
  return {
    ca: of([stack.ca.container]),
    clients: of(clients.map((w) => w.container)),
    servers: of(servers.map((w) => w.container)),
    renewers: of(stack.workloads.map((w) => w.renewer)),
    busiestRenewer: renewers.reduce((m, r) => (r.cores > m.cores ? r : m)),
  };
}

/**
 * B10: what the default mesh costs at rest. Deploys it (every workload,
 * 5-minute certificates, the clients at their default pace), lets it settle,
 * then reads each container's cgroup and the engine's processes over two
 * windows: with the clients calling, and with the clients paused (the
 * stack's own cost: CA, renewers, servers, health checks). Runs before the
 * bench stack is deployed, so nothing else of the benchmark runs on the engine.
 */
export async function b10IdleCost(ctx: Pick<BenchContext, 'ui' | 'smoke'> & { readonly prefix: string }): Promise<BenchResult> {
  const settings = await idleSettings(ctx.prefix);
  const settleMs = ctx.smoke ? 5_000 : 45_000;
  const windowMs = ctx.smoke ? 10_000 : 60_000;
  const problems: string[] = [];
  try {
    await ctx.ui.step(`B10: deploy the default mesh as "${settings.prefix}", bootstrap, enroll, every client answered`, async () => {
      await cdktf('deploy', settings, { quiet: true });
      const { stack } = await bootstrapAndEnroll(settings.prefix);
      await waitForWorkloads(stack.workloads);
      await untilEveryClientAnswered(stack, { timeoutMs: 90_000 });
    });
    const stack = await loadStack(settings.prefix);
    const names = [stack.ca.container, ...stack.workloads.flatMap((w) => [w.container, w.renewer])];
    const clients = stack.workloads.filter((w) => w.role === 'client').map((w) => w.container);
    // A settling period, not a wait on a condition: what is measured is the steady state after start-up.
    await ctx.ui.step(`B10: let the stack settle for ${settleMs / 1000} s`, () => sleep(settleMs));
    const calling = await ctx.ui.step(`B10: read CPU over ${windowMs / 1000} s, the clients calling`, () => measure(names, windowMs));
    await docker.pause(clients);
    const quiet = await ctx.ui
      .step(`B10: read CPU over ${windowMs / 1000} s, the clients paused`, () => measure(names, windowMs))
      .finally(() => docker.pause(clients, false));
    const [c, q] = [breakdown(stack, calling.cost), breakdown(stack, quiet.cost)];
    if (!ctx.smoke && quiet.cost.total >= IDLE_GOAL_CORES)
      problems.push(`the default mesh at rest (no calls) costs ${pct(quiet.cost.total)}, over the goal of ${pct(IDLE_GOAL_CORES)}`);
    const busy = (w: Window) => (Number.isFinite(w.machineBusy) ? `${(w.machineBusy * 100).toFixed(1)} %` : 'n/a');
    return {
      id: 'b10',
      title: `B10 idle cost: the default mesh (${stack.workloads.length} workloads, ${names.length} containers) at rest`,
      method:
        `Deploy the default mesh (mesh.ts: every workload, ${LIFETIME} certificates, the clients at their default pace), bootstrap, enroll, wait until every workload is ready and every client answered once, ` +
        `settle ${settleMs / 1000} s, then read CPU over ${windowMs / 1000} s with the clients calling, and over ${windowMs / 1000} s more with the clients paused (docker pause): ` +
        "each container's cgroup from the host (no exec into it), and dockerd, containerd, the shims (their waited-for children: the runc of every health check) and docker-proxy from /proc.",
      limits: [
        `A ${windowMs / 1000} s window holds at most one renewal per workload (at ~2/3 of ${LIFETIME}) and one or two Docker health checks per container (every 60 s).`,
        'With the clients paused, their health checks fail fast in Docker (no exec), so the engine figure of that window is a little lower than a stack whose clients idle.',
        "The machine is shared: anything else running adds to the engine figure and the machine share (the containers' cgroups are theirs alone).",
        ctx.smoke
          ? 'Smoke: short settle and windows; the goal is not judged.'
          : `Goal: the stack's own cost (clients paused) under ${pct(IDLE_GOAL_CORES)}; the calling figure is reported, not judged.`,
      ],
      rows: [
        { metric: 'at rest, clients paused: the whole stack (containers + engine)', value: pct(quiet.cost.total) },
        { metric: 'at rest, clients paused: engine (dockerd, containerd, shims and health-check runs)', value: pct(quiet.cost.engine) },
        { metric: 'at rest, clients paused: CA / servers / renewers', value: `${pct(q.ca)} / ${pct(q.servers)} / ${pct(q.renewers)}` },
        { metric: 'at rest, clients paused: busiest renewer', value: `${q.busiestRenewer.name}: ${pct(q.busiestRenewer.cores)}` },
        { metric: 'clients calling at their default pace: the whole stack', value: pct(calling.cost.total) },
        {
          metric: 'clients calling: engine / CA / clients / servers / renewers',
          value: [calling.cost.engine, c.ca, c.clients, c.servers, c.renewers].map(pct).join(' / '),
        },
        { metric: 'machine busy (all processes, 2 cores = 100 %): calling / paused', value: `${busy(calling)} / ${busy(quiet)}` },
      ],
      data: { settleSeconds: settleMs / 1000, calling, quiet, breakdown: { calling: c, quiet: q }, goalCores: IDLE_GOAL_CORES },
      problems,
    };
  } finally {
    problems.push(...(await teardown(settings, { viaCdktf: true })));
  }
}
