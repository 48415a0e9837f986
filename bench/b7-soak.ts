import path from 'node:path';

import { hostUrl } from '../scripts/lib/deploy/stack-instance.js';
import * as docker from '../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../scripts/lib/identity/enrollment.js';
import { waitForWorkloads } from '../scripts/lib/workloads/readiness.js';
import { renewerHealthCheck } from '../scripts/lib/workloads/status.js';
import { APP_MEMORY_MB } from '../stack/mtls-workload.js';
import { PEAK_RSS_SHARE, type Sample, sampleApps } from './lib/app-samples.js';
import { loadTotals, startLoad } from './lib/autocannon.js';
import { operatorIdentity } from './lib/bench-stack.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import type { RssChart } from './lib/rss-svg.js';
import { linearFit, round } from './lib/stats.js';

/**
 * The bound on the growth of RSS after a full GC over the steady window. A
 * leak of 10 MB/h takes an app from its ~60-70 MB working set to its 192 MB
 * limit in about half a day, so it must fail the run.
 */
export const RSS_SLOPE_BOUND_MB_PER_HOUR = 10;
/**
 * How often each process is fully collected and read again (full-gc.ts).
 * Between two such points V8 runs on its own; the slope is fitted to the
 * points, not to the sawtooth in between (V8's own full collections come
 * about every half hour here, too rarely for an hour's fit).
 */
export function fullGcEveryMs(smoke: boolean): number {
  return smoke ? 30_000 : 5 * 60_000;
}
/** The first part of the run, left out of the slope: min(10 min, a quarter of the run). */
export function warmupMs(minutes: number): number {
  return Math.min(10 * 60_000, (minutes * 60_000) / 4);
}
/** The full-GC points: the end of warm-up, then every `everyMs`, on the sampling grid. */
export function isFullGcPoint(sinceStartMs: number, warmup: number, everyMs: number): boolean {
  return sinceStartMs >= warmup && (sinceStartMs - warmup) % everyMs === 0;
}
/** A slope is judged only over a steady window this long, through at least this many post-GC readings. */
export const MIN_JUDGED_WINDOW_MINUTES = 20;
export const MIN_FULL_GC_POINTS = 4;
/** The load generator's identity outlives the soak by this much. */
const IDENTITY_MARGIN_MINUTES = 10;
/** Longer without a 2xx response and the soak was not under continuous load. */
export const MAX_LOAD_GAP_SECONDS = 10;

/**
 * The longest run of whole seconds, from 0 up to `untilSeconds`, in which no
 * 2xx response arrived (the timeline lists only seconds that had a response).
 */
export function longestGapSeconds(timeline: ReadonlyArray<{ readonly t: number; readonly ok: number }>, untilSeconds: number): number {
  const withOk = timeline.filter((b) => b.ok > 0).map((b) => b.t);
  let longest = 0;
  let previous = -1;
  for (const t of [...withOk, Math.floor(untilSeconds)]) {
    longest = Math.max(longest, t - previous - 1);
    previous = t;
  }
  return longest;
}

/** `: 502 x2 (first at 63.1 s), 503 x1 (…)`, or nothing when every response was 2xx. */
export function describeStatuses(byStatus: Record<string, { readonly count: number; readonly firstAtMs: number }>): string {
  const parts = Object.entries(byStatus).map(([status, s]) => `${status} x${s.count} (first at ${(s.firstAtMs / 1000).toFixed(1)} s)`);
  return parts.length ? `: ${parts.join(', ')}` : '';
}

export async function b7Soak(ctx: BenchContext): Promise<BenchResult & { chart: RssChart }> {
  const minutes = ctx.soakMinutes;
  const lifetime = '1m';
  const rate = ctx.smoke ? 20 : 50;
  const sampleMs = ctx.smoke ? 5_000 : 15_000;
  const stack = ctx.stack;
  const problems: string[] = [];

  // Fresh app processes, as B9 has: the peak and the slope must judge this soak, not the
  // handshake storms of B3 and B4 before it (RSS stays up after them: a smoke run's server
  // began the soak at 148.6 MB, above the peak bound). Server first, so the client's first
  // calls find it; their certificates stay in their volumes.
  await ctx.ui.step('B7: start both apps afresh (server, then client)', async () => {
    for (const w of [...stack.workloads].sort((a, b) => Number(b.role === 'server') - Number(a.role === 'server'))) {
      await docker.stop(w.container);
      await docker.start(w.container);
      await waitForWorkloads([w]);
    }
  });
  assertEnrolled(
    await ctx.ui.step(`B7: re-enroll both workloads with ${lifetime} certificates`, () => enrollAll(stack, stack.workloads, { force: true, lifetime })),
  );
  // autocannon keeps the certificate it starts with: it must outlive the soak.
  const identity = await ctx.ui.step(`B7: an operator identity valid for the soak and ${IDENTITY_MARGIN_MINUTES} min more`, () =>
    operatorIdentity(stack, ctx.rootPem, path.join(ctx.scratch, 'b7-operator'), minutes + IDENTITY_MARGIN_MINUTES),
  );
  const startedAt = Date.now();
  const endAt = startedAt + minutes * 60_000;
  const load = startLoad({
    url: hostUrl(stack.outputs, 'server'),
    connections: 2,
    overallRate: rate,
    duration: minutes * 60 + 120,
    identity,
    rootPem: ctx.rootPem,
    servername: 'server.mesh.internal',
  });
  const warmup = warmupMs(minutes);
  const gcEvery = fullGcEveryMs(ctx.smoke);
  let sampled: { samples: Sample[]; missed: string[]; gcFailures: string[] };
  try {
    sampled = await ctx.ui.step(
      `B7: soak for ${minutes} min under ${rate} req/s (autocannon) + the stack's client, RSS every ${sampleMs / 1000} s, after a full GC every ${gcEvery / 60_000} min`,
      () =>
        sampleApps(stack.workloads, {
          from: startedAt,
          everyMs: sampleMs,
          more: (next) => next <= endAt,
          fullGcAt: (next) => isFullGcPoint(next - startedAt, warmup, gcEvery),
        }),
    );
  } finally {
    load.stop();
  }
  const { samples, missed, gcFailures } = sampled;
  const traffic = await load.done;
  // What each renewer says at the end of the soak, before the re-enrollment below replaces its state: the reason if it stopped rotating.
  const renewerSaid = new Map(
    await Promise.all(
      stack.workloads.map(async (w) => {
        const out = await renewerHealthCheck(w);
        return [w.name, (out.stdout + out.stderr).trim() || `exit ${out.exitCode}`] as const;
      }),
    ),
  );
  const endedAt = Date.now();
  assertEnrolled(
    await ctx.ui.step("B7: re-enroll both workloads with the stack's default lifetime", () =>
      enrollAll(stack, stack.workloads, { force: true, lifetime: ctx.settings.certLifetime }),
    ),
  );

  const steadyFrom = startedAt + warmup;
  const steadyMinutes = (endedAt - steadyFrom) / 60_000;
  const peakBoundMb = APP_MEMORY_MB * PEAK_RSS_SHARE;
  const hours = (list: readonly Sample[]) => list.map((s) => (s.at - startedAt) / 3_600_000);
  const per = stack.workloads.map((w) => {
    const own = samples.filter((s) => s.workload === w.name);
    const steady = own.filter((s) => s.at >= steadyFrom);
    const afterGc = steady.filter((s) => s.afterFullGc);
    const fit = linearFit(
      hours(afterGc),
      afterGc.map((s) => s.rssMb),
    );
    const rawFit = linearFit(
      hours(steady),
      steady.map((s) => s.rssMb),
    );
    const judged = steadyMinutes >= MIN_JUDGED_WINDOW_MINUTES && afterGc.length >= MIN_FULL_GC_POINTS;
    const rotations = own
      .slice(1)
      .filter((s, i) => s.serial !== own[i]!.serial)
      .map((s) => s.at);
    const reloads = own.length ? own.at(-1)!.reloads - own[0]!.reloads : 0;
    const pids = [...new Set(own.map((s) => s.pid))];
    const peak = Math.max(...own.map((s) => s.rssMb));
    if (pids.length > 1) problems.push(`${w.name}: the process restarted during the soak (pids ${pids.join(', ')})`);
    if (reloads < 1) problems.push(`${w.name}: no rotation during the soak (its renewer said: ${renewerSaid.get(w.name) ?? 'nothing'})`);
    if (judged && fit.slope > RSS_SLOPE_BOUND_MB_PER_HOUR)
      problems.push(
        `${w.name}: RSS grows ${round(fit.slope, 1)} MB/h over the last ${round(steadyMinutes, 0)} min, above the ${RSS_SLOPE_BOUND_MB_PER_HOUR} MB/h bound`,
      );
    if (peak > peakBoundMb) problems.push(`${w.name}: peak RSS ${round(peak, 1)} MB above ${PEAK_RSS_SHARE * 100}% of the ${APP_MEMORY_MB} MB limit`);
    return {
      workload: w.name,
      samples: own,
      fit,
      rawFit,
      judged,
      gcPoints: afterGc.length,
      rotations,
      reloads,
      peak,
      first: own[0]?.rssMb ?? NaN,
      last: own.at(-1)?.rssMb ?? NaN,
    };
  });
  const judged = per.length > 0 && per.every((p) => p.judged);
  const client = per.find((p) => p.workload === 'client');
  const clientFailures = client?.samples.length ? client.samples.at(-1)!.failures - client.samples[0]!.failures : NaN;
  const clientRetries = client?.samples.length ? client.samples.at(-1)!.retries - client.samples[0]!.retries : NaN;
  if (traffic.failures)
    problems.push(
      `autocannon: ${traffic.failures} failed request(s) (errors ${traffic.errors}, timeouts ${traffic.timeouts}, non-2xx ${traffic.non2xx}${describeStatuses(traffic.non2xxByStatus)})`,
    );
  const loadGap = longestGapSeconds(traffic.timeline, (endedAt - traffic.startedAt) / 1000);
  if (loadGap > MAX_LOAD_GAP_SECONDS) problems.push(`autocannon had no 2xx response for ${loadGap} s in a row: the load was not continuous`);
  if (clientFailures !== 0) problems.push(`the stack's client counted ${clientFailures} failed request(s)`);
  if (gcFailures.length) problems.push(`${gcFailures.length} full GC(s) failed: ${gcFailures.slice(0, 3).join('; ')}`);
  if (missed.length > samples.length / 10) problems.push(`${missed.length} samples could not be taken (${missed.slice(0, 5).join(', ')}…)`);

  const chart: RssChart = {
    startedAt,
    endedAt,
    steadyFrom,
    limitMb: APP_MEMORY_MB,
    slopeJudged: judged,
    processes: per.map((p) => ({
      name: `${p.workload} (node)`,
      samples: p.samples.map((s) => ({ at: s.at, rssMb: s.rssMb, ...(s.afterFullGc ? { afterFullGc: true } : {}) })),
      fit: { slopeMbPerHour: p.fit.slope, interceptMb: p.fit.intercept },
      rotations: p.rotations,
    })),
  };
  const signed = (slope: number) => (Number.isFinite(slope) ? `${slope >= 0 ? '+' : ''}${round(slope, 1)} MB/h` : 'n/a');
  const slopeText = (p: (typeof per)[number]) => `${signed(p.fit.slope)} over ${p.gcPoints} points${p.judged ? '' : ' (not judged: window too short)'}`;
  return {
    id: 'b7',
    title: 'B7 soak: rotation every minute under continuous load',
    method:
      `Both apps started afresh (server, then client: their RSS must not carry the earlier benchmarks' load), both workloads re-enrolled with ${lifetime} certificates (step-ca backdates notBefore by 1 min; the renewers renew at ~2/3 of notBefore→notAfter), then for ${minutes} min autocannon sends ${rate} req/s over 2 keep-alive mTLS connections ` +
      `(operator identity) to the server's published port while the stack's client keeps its own traffic. Every ${sampleMs / 1000} s each app's admin /stats is read (docker exec … probe): RSS, heap, pid, served serial, reload count, ` +
      `client failures and retries. At the end of warm-up (the first ${round(warmup / 60_000, 1)} min: min(10 min, a quarter of the run)) and every ${gcEvery / 60_000} min after it, each process is also fully garbage-collected ` +
      `(SIGUSR1 opens its inspector on the container's loopback; HeapProfiler.collectGarbage, as DevTools does) and read again. RSS slope: least-squares line through those post-GC readings. ` +
      `The run fails on any failed request, a process restart, a failed full GC, a workload that never rotated, peak RSS above ${PEAK_RSS_SHARE * 100}% of the ${APP_MEMORY_MB} MB limit, or - over a steady window of at least ${MIN_JUDGED_WINDOW_MINUTES} min with ${MIN_FULL_GC_POINTS} post-GC readings or more - a slope above ${RSS_SLOPE_BOUND_MB_PER_HOUR} MB/h ` +
      `(a leak that fast reaches the limit in about half a day).`,
    limits: [
      `Why after a full GC: V8 collects the old generation on its own only about every half hour here, and native memory behind garbage objects (~50 kB of OpenSSL memory per retired TLS context) waits for it, so RSS between collections climbs by several MB without a leak; a line through that sawtooth over one hour says more about where the GC cycles fall than about leaks. The slope through all samples is reported beside it, not judged.`,
      `The full GCs change the process they measure: between them V8 runs on its own, but garbage never piles up for more than ${gcEvery / 60_000} min, so the peak here is lower than a process left alone would reach (B9 bounds the peak under a connection storm).`,
      `Windows under ${MIN_JUDGED_WINDOW_MINUTES} min (the smoke run) report the slope without judging it.`,
      'RSS is what the kernel charges to the process; freed memory goes back to the system lazily, so RSS lags a leak fix and a leak alike.',
      'Each sample costs a `docker exec` of the probe in every app container; at one sample per 15 s this is far below the load itself.',
    ],
    rows: [
      {
        metric: 'soak length / samples per workload',
        value: `${round((endedAt - startedAt) / 60_000, 1)} min / ${per.map((p) => `${p.workload} ${p.samples.length}`).join(', ')}`,
      },
      ...per.map((p) => ({
        metric: `${p.workload}: rotations (reloads) in the soak, mean period`,
        value: `${p.reloads}, ${p.reloads ? round((endedAt - startedAt) / 1000 / p.reloads, 1) : 'n/a'} s`,
      })),
      { metric: 'autocannon requests: ok / failed', value: `${traffic.ok} / ${traffic.failures}` },
      { metric: 'autocannon: longest stretch without a 2xx response', value: `${loadGap} s (bound ${MAX_LOAD_GAP_SECONDS} s)` },
      { metric: 'stack client: failed requests / retries', value: `${clientFailures} / ${clientRetries}` },
      ...per.map((p) => ({ metric: `${p.workload}: RSS first → last (peak), MB`, value: `${round(p.first, 1)} → ${round(p.last, 1)} (${round(p.peak, 1)})` })),
      ...per.map((p) => ({ metric: `${p.workload}: RSS slope after full GC, last ${round(steadyMinutes, 1)} min`, value: slopeText(p) })),
      ...per.map((p) => ({ metric: `${p.workload}: RSS slope through all samples (GC sawtooth, not judged)`, value: signed(p.rawFit.slope) })),
    ],
    data: {
      minutes,
      lifetime,
      rate,
      sampleSeconds: sampleMs / 1000,
      warmupMinutes: warmup / 60_000,
      fullGcEveryMinutes: gcEvery / 60_000,
      steadyMinutes,
      slopeJudged: judged,
      slopeBoundMbPerHour: RSS_SLOPE_BOUND_MB_PER_HOUR,
      peakBoundMb,
      autocannon: { ...loadTotals(traffic), non2xxByStatus: traffic.non2xxByStatus },
      stackClient: { failures: clientFailures, retries: clientRetries },
      workloads: per.map((p) => ({
        workload: p.workload,
        reloads: p.reloads,
        rotationsSeen: p.rotations.length,
        slopeMbPerHour: p.fit.slope,
        fullGcPoints: p.gcPoints,
        allSamplesSlopeMbPerHour: p.rawFit.slope,
        peakMb: p.peak,
        samples: p.samples,
      })),
      missedSamples: missed,
      fullGcFailures: gcFailures,
      // What the chart is drawn from, so npm run bench:charts can redraw it from results.json.
      chart,
    },
    problems,
    chart,
  };
}
