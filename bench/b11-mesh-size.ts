import path from 'node:path';

import { fs } from 'zx';

import { sleep } from '../common/wait.js';
import { bootstrapTrust } from '../scripts/lib/ca/trust-bootstrap.js';
import { freePort } from '../scripts/lib/deploy/free-ports.js';
import { cdktf, type StackSettings } from '../scripts/lib/deploy/stack-instance.js';
import * as docker from '../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../scripts/lib/identity/enrollment.js';
import { loadStack } from '../scripts/lib/workloads/handles.js';
import { waitForWorkloads } from '../scripts/lib/workloads/readiness.js';
import { untilEveryClientAnswered } from '../scripts/lib/workloads/rotation-check.js';
import type { MeshSpec } from '../stack/mesh-spec.js';
import { teardown } from './lib/bench-stack.js';
import { containerRss } from './lib/container-memory.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { measureWindow } from './lib/idle-cpu.js';
import { summarize } from './lib/stats.js';

/** Goals of the issue that asked for this benchmark, per workload at rest. */
export const GOALS = { idleCoresPerWorkload: 0.005, renewerRssBytes: 16 * 1024 * 1024, growth: 1.5 } as const;
const LIFETIME = '5m';
const MiB = 1024 * 1024;

/** A mesh of `n` workloads: n/2 Node reference servers, each called by its own Node client. */
export function pairsMesh(n: number): MeshSpec {
  const pairs = Array.from({ length: Math.max(1, Math.floor(n / 2)) }, (_, i) => i + 1);
  return {
    domain: 'mesh.internal',
    operators: ['operator'],
    workloads: pairs.flatMap((i) => [
      { name: `server-${i}`, runs: 'node-server' as const, role: 'server' as const, port: 8443, allow: [`client-${i}`, 'operator'] },
      { name: `client-${i}`, runs: 'node-client' as const, role: 'client' as const, calls: `server-${i}` },
    ]),
  };
}

interface SizeResult {
  readonly workloads: number;
  readonly containers: number;
  readonly deploySeconds: number;
  readonly enrollSeconds: number;
  /** Cores per workload at rest (clients paused): containers + engine, over the workload count. */
  readonly idlePerWorkload: number;
  readonly caCores: number;
  readonly renewerRss: { readonly max: number; readonly median: number };
  readonly serverRss: number;
  readonly clientRss: number;
}

async function rssByName(names: readonly string[]): Promise<Map<string, number>> {
  const ids = await docker.containerIds(names);
  return new Map(await Promise.all(names.map(async (n) => [n, await containerRss(ids.get(n)!)] as const)));
}

const median = (xs: number[]) => summarize(xs).median;

/** One size: deploy, enroll (timed apart), every client answered, settle, then CPU and memory at rest. */
async function measureSize(ctx: Pick<BenchContext, 'ui' | 'smoke'>, settings: StackSettings, n: number): Promise<SizeResult> {
  const settleMs = ctx.smoke ? 5_000 : 30_000;
  const windowMs = ctx.smoke ? 10_000 : 60_000;
  const t0 = Date.now();
  await ctx.ui.step(`B11 n=${n}: deploy`, () => cdktf('deploy', settings, { quiet: true }));
  const deploySeconds = (Date.now() - t0) / 1000;
  await bootstrapTrust(settings.prefix, { quiet: true });
  const stack = await loadStack(settings.prefix);
  const t1 = Date.now();
  await ctx.ui.step(`B11 n=${n}: enroll`, async () => assertEnrolled(await enrollAll(stack, stack.workloads)));
  const enrollSeconds = (Date.now() - t1) / 1000;
  await waitForWorkloads(stack.workloads);
  await untilEveryClientAnswered(stack, { timeoutMs: 60_000 + n * 3_000 });
  const names = [stack.ca.container, ...stack.workloads.flatMap((w) => [w.container, w.renewer])];
  const clients = stack.workloads.filter((w) => w.role === 'client').map((w) => w.container);
  // A settling period, not a wait on a condition: what is measured is the steady state after start-up.
  await ctx.ui.step(`B11 n=${n}: settle ${settleMs / 1000} s`, () => sleep(settleMs));
  await docker.pause(clients);
  try {
    const quiet = await ctx.ui.step(`B11 n=${n}: CPU over ${windowMs / 1000} s, clients paused`, () => measureWindow(names, windowMs));
    const rss = await rssByName(names);
    const of = (pick: (w: (typeof stack.workloads)[number]) => string, role?: string) =>
      stack.workloads.filter((w) => !role || (role === 'client' ? w.role === 'client' : w.role !== 'client')).map((w) => rss.get(pick(w))!);
    const renewers = of((w) => w.renewer);
    return {
      workloads: stack.workloads.length,
      containers: names.length,
      deploySeconds,
      enrollSeconds,
      idlePerWorkload: quiet.cost.total / stack.workloads.length,
      caCores: quiet.cost.containers[stack.ca.container] ?? 0,
      renewerRss: { max: Math.max(...renewers), median: median(renewers) },
      serverRss: median(of((w) => w.container, 'server')),
      clientRss: median(of((w) => w.container, 'client')),
    };
  } finally {
    await docker.pause(clients, false);
  }
}

const pct = (cores: number) => `${(cores * 100).toFixed(2)} % of a core`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The problems of a run against GOALS: per-workload cost and memory, and per-workload times growing no faster than GOALS.growth from the smallest size to the largest. */
export function judge(sizes: readonly SizeResult[]): string[] {
  const problems: string[] = [];
  for (const s of sizes) {
    if (s.idlePerWorkload > GOALS.idleCoresPerWorkload)
      problems.push(`n=${s.workloads}: ${pct(s.idlePerWorkload)} per workload at rest, over ${pct(GOALS.idleCoresPerWorkload)}`);
    if (s.renewerRss.max > GOALS.renewerRssBytes)
      problems.push(`n=${s.workloads}: a renewer holds ${mib(s.renewerRss.max)}, over ${mib(GOALS.renewerRssBytes)}`);
  }
  const [first, last] = [sizes[0]!, sizes.at(-1)!];
  for (const [what, key] of [
    ['deploy', 'deploySeconds'],
    ['enrollment', 'enrollSeconds'],
  ] as const) {
    const growth = last[key] / last.workloads / (first[key] / first.workloads);
    if (growth > GOALS.growth)
      problems.push(
        `${what} per workload grew ${growth.toFixed(2)}× from n=${first.workloads} to n=${last.workloads}, more than linear (goal ≤ ${GOALS.growth}×)`,
      );
  }
  return problems;
}

/**
 * B11: what a workload costs as the mesh grows. For each size, a stack of
 * its own runs a generated mesh (Node reference pairs, MTLS_MESH pointing at
 * a JSON file); deploy and enrollment are timed apart, then CPU (containers
 * and engine) and each container's anonymous memory are read at rest.
 */
export async function b11MeshSize(ctx: Pick<BenchContext, 'ui' | 'smoke' | 'scratch'> & { readonly prefix: string }): Promise<BenchResult> {
  const counts = ctx.smoke ? [2, 4] : [10, 20, 40];
  const sizes: SizeResult[] = [];
  const leftovers: string[] = [];
  for (const n of counts) {
    const mesh = path.join(ctx.scratch, `b11-mesh-${n}.json`);
    await fs.outputJson(mesh, pairsMesh(n));
    const settings: StackSettings = { prefix: ctx.prefix, mesh, certLifetime: LIFETIME, minCertLifetime: '1m', caPort: await freePort(), hostPorts: {} };
    try {
      sizes.push(await measureSize(ctx, settings, n));
    } finally {
      leftovers.push(...(await teardown(settings, { viaCdktf: true })));
    }
  }
  const problems = [...leftovers, ...(ctx.smoke ? [] : judge(sizes))];
  return {
    id: 'b11',
    title: `B11 cost per workload as the mesh grows: ${counts.join(', ')} workloads`,
    method:
      `Per size n, a stack of its own (prefix ${ctx.prefix}) deploys a generated mesh file (MTLS_MESH=<scratch>/b11-mesh-n.json: n/2 Node reference servers, each called by its own Node client, no published ports, ${LIFETIME} certificates). ` +
      'Timed apart: cdktf deploy (synth, apply, every container up), then enrollAll after bootstrap-trust. Then every client answers once, the stack settles, the clients are paused (docker pause), ' +
      "and CPU is read over a window from each container's cgroup and the engine's processes (as B10), and anonymous memory (cgroup memory.stat) of each container. The stack is destroyed before the next size.",
    limits: [
      'Node pairs only: the other technologies cost what their own process costs on top of the same renewer and health checks.',
      `At rest the CA signs a renewal per workload about every ${LIFETIME} × 2/3; the window holds about n × 0.3 renewals, which the CA figure includes.`,
      'The machine is shared: deploy and enrollment times move with whatever else runs; the per-workload ratio between sizes is the figure to read.',
      ctx.smoke
        ? 'Smoke: tiny sizes, short windows; no goal judged.'
        : `Goals: ≤ ${pct(GOALS.idleCoresPerWorkload)} per workload at rest, renewer ≤ ${mib(GOALS.renewerRssBytes)}, deploy and enrollment per workload growing ≤ ${GOALS.growth}× from the smallest size to the largest.`,
    ],
    rows: sizes.flatMap((s) => [
      { metric: `n=${s.workloads}: at rest per workload (app + renewer + engine share)`, value: pct(s.idlePerWorkload) },
      { metric: `n=${s.workloads}: deploy / enrollment`, value: `${s.deploySeconds.toFixed(1)} s / ${s.enrollSeconds.toFixed(1)} s` },
      {
        metric: `n=${s.workloads}: deploy / enrollment per workload`,
        value: `${(s.deploySeconds / s.workloads).toFixed(2)} s / ${(s.enrollSeconds / s.workloads).toFixed(2)} s`,
      },
      {
        metric: `n=${s.workloads}: memory: renewer max (median) / server / client`,
        value: `${mib(s.renewerRss.max)} (${mib(s.renewerRss.median)}) / ${mib(s.serverRss)} / ${mib(s.clientRss)}`,
      },
      { metric: `n=${s.workloads}: the CA at rest (renewals included)`, value: pct(s.caCores) },
    ]),
    data: { sizes, goals: GOALS },
    problems,
  };
}
