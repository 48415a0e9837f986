import { parseDuration } from '../stack/duration.js';
import { assertEnrolled, enrollAll } from '../scripts/lib/enrollment.js';
import { observeRotations, type RotationReport } from '../scripts/lib/rotation.js';
import { appStats } from '../scripts/lib/workloads.js';
import { startLoad } from './lib/autocannon.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { reloadLatencies, reloadsFromLog, watchCertWrites } from './lib/reload-timing.js';
import { formatSummary, quantile, round, summarize } from './lib/stats.js';
import type { RotationChart } from './lib/svg.js';

export async function b5Rotation(ctx: BenchContext): Promise<BenchResult & { chart: RotationChart }> {
  // step ca renew --daemon renews when a third of notBefore→notAfter is left,
  // and step-ca backdates notBefore by 1 min: a 1m certificate rotates every ~20 s.
  const lifetime = ctx.smoke ? '45s' : '1m';
  const rotations = ctx.smoke ? 1 : 3;
  const rate = ctx.smoke ? 50 : 200;
  const connections = 4;
  const stack = ctx.stack;
  const problems: string[] = [];

  const enrolled = await ctx.ui.step(`B5: re-enroll both workloads with ${lifetime} certificates`, () => enrollAll(stack, stack.workloads, { force: true, lifetime }));
  assertEnrolled(enrolled);
  // Start from the re-enrolled certificate being served, so that reload is not counted as a rotation.
  await ctx.ui.step('B5: wait until both apps serve the new certificates', async () => {
    const deadline = Date.now() + 30_000;
    for (const e of enrolled) {
      const w = stack.workloads.find((x) => x.name === e.workload)!;
      // Served notAfter at or past the enrolled one: the enrolled certificate, or a renewal of it.
      const enrolledNotAfter = Date.parse(e.notAfter ?? '');
      while (!(Date.parse((await appStats(w))?.credentials?.notAfter ?? '') >= enrolledNotAfter)) {
        if (Date.now() > deadline) throw new Error(`${w.name} did not load its re-enrolled certificate within 30 s; see docker logs ${w.container}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });

  const timeoutMs = (rotations + 2) * 30_000 + parseDuration(lifetime) * 1000;
  const startedAt = Date.now();
  const sinceIso = new Date(startedAt - 1000).toISOString();
  const watchers = stack.workloads.map((w) => ({ w, watch: watchCertWrites(w.renewer, timeoutMs / 1000 + 5) }));
  const load = startLoad({ url: stack.outputs.service_host_url, connections, overallRate: rate, identity: ctx.operator, rootPem: ctx.rootPem, servername: 'server.mesh.internal' });
  let report: RotationReport;
  try {
    report = await ctx.ui.step(`B5: ${rotations} rotation(s) per workload under ${rate} req/s (autocannon) + the stack's client`, () =>
      observeRotations(stack, { rotations, timeoutMs, intervalMs: 1000 }),
    );
  } finally {
    load.stop();
    for (const { watch } of watchers) watch.stop();
  }
  const traffic = await load.done;
  const endedAt = Date.now();

  const perWorkload = await Promise.all(
    watchers.map(async ({ w, watch }) => {
      const writes = watch.writes.filter((x) => x.at > startedAt - 500); // the first line is the enrollment's write
      const reloads = await reloadsFromLog(w.container, sinceIso);
      return { workload: w.name, writes, reloads, latencies: reloadLatencies(writes, reloads) };
    }),
  );
  const latencies = perWorkload.flatMap((p) => p.latencies.map((l) => l.ms));
  if (!report.ok) problems.push(...report.problems);
  if (traffic.failures) problems.push(`autocannon: ${traffic.failures} failed request(s) during rotation (errors ${traffic.errors}, timeouts ${traffic.timeouts}, non-2xx ${traffic.non2xx})`);
  if (latencies.length === 0) problems.push('no reload could be paired with a certificate write');

  const chart: RotationChart = {
    startedAt,
    endedAt,
    workloads: report.workloads.map((w) => ({
      name: w.workload,
      certificates: w.timeline.map((e) => ({ serial: e.serial, notBefore: Date.parse(e.notBefore), notAfter: Date.parse(e.notAfter) })),
      reloads: perWorkload.find((p) => p.workload === w.workload)?.reloads.map((r) => r.at) ?? [],
      writes: perWorkload.find((p) => p.workload === w.workload)?.writes.map((x) => x.at) ?? [],
    })),
    traffic: traffic.timeline.map((b) => ({ at: traffic.startedAt + b.t * 1000, ok: b.ok, failed: b.failed })),
  };
  const lat = summarize(latencies);
  // Seconds between successive reloads of a workload: the rotation period the renewers actually achieve.
  const intervals = perWorkload.flatMap((p) => p.reloads.slice(1).map((r, i) => (r.at - p.reloads[i]!.at) / 1000));
  const rotationsSeen = Math.min(...report.workloads.map((w) => w.rotations));
  return {
    id: 'b5',
    title: 'B5 rotation under load',
    method:
      `Both workloads re-enrolled with ${lifetime} certificates (renewers renew at ~2/3 of notBefore→notAfter; step-ca backdates notBefore 1 min), then, while autocannon ` +
      `sends ${rate} req/s over ${connections} keep-alive mTLS connections (operator identity) to the server's published port and the stack's client keeps its own traffic, ` +
      `scripts/lib/rotation.ts observeRotations waits for ${rotations} rotation(s) of each workload as served by the app (admin /stats). Reload latency per rotation: ` +
      `site.crt's mtime in the volume (stat -c %.Y, one streaming docker exec in the renewer, 50 ms poll) → the app's "credentials reloaded" JSON log line (ts field, same kernel clock).`,
    limits: [
      'Reload latency includes the watcher\'s debounce (RELOAD_DEBOUNCE_MS, 250 ms by default) by design: step ca renew rewrites files in place, not atomically.',
      'The mtime poll has 50 ms resolution; log timestamps have 1 ms.',
      `p99 of ${latencies.length} samples is effectively the maximum.`,
      'The long keep-alive connections are also closed by the server after MAX_CONNECTION_AGE_MS (60 s) so they move to the new certificate; autocannon reconnects.',
    ],
    rows: [
      { metric: 'rotations observed per workload (wanted)', value: `${rotationsSeen} (${rotations})` },
      { metric: 'requests during rotations: autocannon ok / failed', value: `${traffic.ok} / ${traffic.failures}` },
      { metric: "requests during rotations: stack client ok / failed", value: `${report.traffic.successes} / ${report.traffic.failures}` },
      { metric: 'reload latency file written → new serial in use, p50 / p99', value: `${round(quantile(latencies, 0.5), 0)} / ${round(quantile(latencies, 0.99), 0)} ms (n=${latencies.length})` },
      { metric: 'reload latency range', value: formatSummary(lat, 'ms') },
      { metric: 'rotation period achieved by the renewers', value: formatSummary(summarize(intervals), 's') },
      { metric: 'observation time', value: `${round(report.elapsedSeconds, 1)} s` },
    ],
    data: {
      lifetime,
      rotationsWanted: rotations,
      rotationsSeen,
      rate,
      autocannon: { ok: traffic.ok, failures: traffic.failures, errors: traffic.errors, timeouts: traffic.timeouts, non2xx: traffic.non2xx, requestsPerSecond: traffic.requestsPerSecond, latencyMs: traffic.latencyMs },
      stackClient: report.traffic,
      reloadLatencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ...lat },
      rotationPeriodSeconds: summarize(intervals),
      perWorkload: perWorkload.map((p) => ({ workload: p.workload, latencies: p.latencies })),
      rotation: report,
    },
    problems,
    chart,
  };
}
