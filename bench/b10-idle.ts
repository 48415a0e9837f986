import { freePort } from '../scripts/lib/net.js';
import { waitForWorkloads } from '../scripts/lib/readiness.js';
import { untilEveryClientAnswered } from '../scripts/lib/rotation.js';
import { cdktf, freeHostPorts, type StackSettings } from '../scripts/lib/stack.js';
import { loadStack, type Stack } from '../scripts/lib/workloads.js';
import { bootstrapAndEnroll, teardown } from './lib/bench-stack.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { cpuSnapshot } from './lib/cpu-accounting.js';
import { idleCost, idleSnapshot, type IdleCost } from './lib/idle-cpu.js';

/** The goal for the whole default mesh at rest: under 5 % of one core. */
export const IDLE_GOAL_CORES = 0.05;
/** The default mesh with the CA's default certificate lifetime. */
const LIFETIME = '5m';

const pct = (cores: number) => `${(cores * 100).toFixed(2)} % of a core`;

/** Settings of B10's own stack: the whole default mesh, default lifetime, free 127.0.0.1 ports. */
async function idleSettings(prefix: string): Promise<StackSettings> {
  const caPort = await freePort();
  return { prefix, certLifetime: LIFETIME, minCertLifetime: '1m', caPort, hostPorts: await freeHostPorts({ avoid: [caPort] }) };
}

/** Containers by what they are: the CA, each workload's app, each renewer. */
function groups(stack: Stack, cost: IdleCost) {
  const of = (names: readonly string[]) => names.reduce((n, c) => n + (cost.containers[c] ?? 0), 0);
  const apps = stack.workloads.map((w) => ({ name: w.name, cores: cost.containers[w.container] ?? 0 }));
  const renewers = stack.workloads.map((w) => ({ name: w.name, cores: cost.containers[w.renewer] ?? 0 }));
  return { ca: of([stack.ca.container]), apps, renewers, appsTotal: of(stack.workloads.map((w) => w.container)), renewersTotal: of(stack.workloads.map((w) => w.renewer)) };
}

/**
 * B10: what the default mesh costs at rest. Deploys it (every workload, 5-minute
 * certificates, the clients at their default call rates), lets it settle,
 * then reads each container's cgroup and the engine's processes over a window.
 * Runs before the bench stack is deployed, so nothing else of the benchmark
 * runs on the engine meanwhile.
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
    // A settling period, not a wait on a condition: what is measured is the steady state after start-up.
    await ctx.ui.step(`B10: let the stack settle for ${settleMs / 1000} s`, () => new Promise((r) => setTimeout(r, settleMs)));
    const { cost, busy } = await ctx.ui.step(`B10: read CPU over ${windowMs / 1000} s at rest`, async () => {
      const [a, ma] = [await idleSnapshot(names), await cpuSnapshot()];
      await new Promise((r) => setTimeout(r, windowMs));
      const [b, mb] = [await idleSnapshot(names), await cpuSnapshot()];
      return { cost: idleCost(a, b), busy: ma && mb ? (mb.machineBusy - ma.machineBusy) / (mb.machineTotal - ma.machineTotal) : NaN };
    });
    const g = groups(stack, cost);
    const top = Object.entries(cost.containers).sort((x, y) => y[1] - x[1]).slice(0, 3);
    if (!ctx.smoke && cost.total >= IDLE_GOAL_CORES) problems.push(`the default mesh at rest costs ${pct(cost.total)}, over the goal of ${pct(IDLE_GOAL_CORES)}`);
    const maxRenewer = g.renewers.reduce((m, r) => (r.cores > m.cores ? r : m));
    return {
      id: 'b10',
      title: `B10 idle cost: the default mesh (${stack.workloads.length} workloads, ${names.length} containers) at rest`,
      method:
        `Deploy the default mesh (mesh.ts: every workload, ${LIFETIME} certificates, the clients at their default call rates), bootstrap, enroll, wait until every workload is ready and every client answered once, ` +
        `settle ${settleMs / 1000} s, then read CPU over ${windowMs / 1000} s: each container's cgroup from the host (no exec into it), and dockerd, containerd, the shims (their waited-for children: the runc of every health check) and docker-proxy from /proc.`,
      limits: [
        `A ${windowMs / 1000} s window holds at most one renewal per workload (at ~2/3 of ${LIFETIME}) and several health checks per container; the clients' own calls are part of "at rest".`,
        'The machine is shared: anything else running in the window adds to the engine figure (the containers\' cgroups are theirs alone).',
        ctx.smoke ? 'Smoke: short settle and window; the goal is not judged.' : `Goal: the whole stack (containers + engine) under ${pct(IDLE_GOAL_CORES)}.`,
      ],
      rows: [
        { metric: 'whole stack at rest (containers + engine)', value: pct(cost.total) },
        { metric: 'engine (dockerd, containerd, shims and health-check runs, docker-proxy)', value: pct(cost.engine) },
        { metric: 'CA container', value: pct(g.ca) },
        { metric: `apps (${g.apps.length} containers)`, value: pct(g.appsTotal) },
        { metric: `renewers (${g.renewers.length} containers)`, value: pct(g.renewersTotal) },
        { metric: 'busiest renewer', value: `${maxRenewer.name}: ${pct(maxRenewer.cores)}` },
        { metric: 'busiest containers', value: top.map(([n, c]) => `${n.replace(`${settings.prefix}-`, '')} ${pct(c)}`).join(', ') },
        { metric: 'machine busy over the window (all processes, 2 cores = 100 %)', value: Number.isFinite(busy) ? `${(busy * 100).toFixed(1)} %` : 'n/a' },
      ],
      data: { settleSeconds: settleMs / 1000, cost, groups: g, machineBusy: busy, goalCores: IDLE_GOAL_CORES },
      problems,
    };
  } finally {
    problems.push(...(await teardown(settings, { viaCdktf: true })));
  }
}
