import { sleep, waitFor } from '../common/wait.js';
import { hostUrl } from '../scripts/lib/deploy/stack-instance.js';
import { assertEnrolled, enrollAll } from '../scripts/lib/identity/enrollment.js';
import { appStats } from '../scripts/lib/workloads/handles.js';
import { observeRotations, type RotationReport } from '../scripts/lib/workloads/rotation-check.js';
import { parseDuration } from '../stack/duration.js';
import { loadTotals, startLoad } from './lib/autocannon.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { reloadLatencies, reloadsFromLog, watchCertWrites } from './lib/reload-timing.js';
import { formatSummary, quantile, round, summarize } from './lib/stats.js';
import type { RotationChart } from './lib/svg.js';

export async function b5Rotation(ctx: BenchContext): Promise<BenchResult & { chart: RotationChart }> {
  // Short certificates: the CA's range allows down to 20 s; the renewers work
  // on notBefore→notAfter, which step-ca backdates by 1 min. The rotation
  // period the renewers actually achieve is measured and reported.
  const lifetime = ctx.smoke ? '45s' : '1m';
  const rotations = ctx.smoke ? 1 : 3;
  const rate = ctx.smoke ? 50 : 200;
  const connections = 4;
  const minSeconds = ctx.smoke ? 3 : 30;
  const stack = ctx.stack;
  const problems: string[] = [];

  const enrolled = await ctx.ui.step(`B5: re-enroll both workloads with ${lifetime} certificates`, () =>
    enrollAll(stack, stack.workloads, { force: true, lifetime }),
  );
  assertEnrolled(enrolled);
  // Start from the re-enrolled certificate being served, so that reload is not counted as a rotation.
  await ctx.ui.step('B5: wait until both apps serve the new certificates', async () => {
    const workloads = enrolled.map((e) => ({ w: stack.workloads.find((x) => x.name === e.workload)!, enrolledNotAfter: Date.parse(e.notAfter ?? '') }));
    let behind = workloads[0];
    await waitFor(
      'both apps to serve their re-enrolled certificates',
      async () => {
        // Served notAfter at or past the enrolled one: the enrolled certificate, or a renewal of it.
        const served = await Promise.all(workloads.map(async ({ w }) => Date.parse((await appStats(w))?.credentials?.notAfter ?? '')));
        behind = workloads.find((x, i) => !(served[i]! >= x.enrolledNotAfter));
        return behind === undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch(() => {
      throw new Error(`${behind!.w.name} did not load its re-enrolled certificate within 30 s; see docker logs ${behind!.w.container}`);
    });
  });

  const timeoutMs = (rotations + 2) * 30_000 + parseDuration(lifetime) * 1000;
  const startedAt = Date.now();
  const sinceIso = new Date(startedAt - 1000).toISOString();
  const watchers = stack.workloads.map((w) => ({ w, watch: watchCertWrites(w.renewer, timeoutMs / 1000 + 5) }));
  const load = startLoad({
    url: hostUrl(stack.outputs, 'server'),
    connections,
    overallRate: rate,
    identity: ctx.operator,
    rootPem: ctx.rootPem,
    servername: 'server.mesh.internal',
  });
  let report: RotationReport;
  try {
    report = await ctx.ui.step(`B5: ${rotations} rotation(s) per workload under ${rate} req/s (autocannon) + the stack's client`, () =>
      observeRotations(stack, { rotations, timeoutMs, intervalMs: 1000 }),
    );
    // A measurement window, not a wait for a condition: when the renewers
    // rotate faster than expected, keep the load on long enough for the
    // request and latency figures to rest on more than a few seconds.
    const rest = minSeconds * 1000 - (Date.now() - startedAt);
    if (rest > 0) await ctx.ui.step(`B5: keep the load on for the ${minSeconds} s minimum window`, () => sleep(rest));
  } finally {
    load.stop();
    await Promise.all(watchers.map(({ watch }) => watch.stop()));
  }
  const traffic = await load.done;
  const endedAt = Date.now();
  // Back to long certificates, so constant rotation does not load the machine during later benchmarks.
  await ctx.ui.step("B5: re-enroll both workloads with the stack's default lifetime", async () =>
    assertEnrolled(await enrollAll(stack, stack.workloads, { force: true, lifetime: ctx.settings.certLifetime })),
  );

  const perWorkload = await Promise.all(
    watchers.map(async ({ w, watch }) => {
      const writes = watch.writes.filter((x) => x.at > startedAt - 500); // the first line is the enrollment's write
      const reloads = await reloadsFromLog(w.container, sinceIso);
      return { workload: w.name, writes, reloads, latencies: reloadLatencies(writes, reloads) };
    }),
  );
  const latencies = perWorkload.flatMap((p) => p.latencies.map((l) => l.ms));
  if (!report.ok) problems.push(...report.problems);
  if (traffic.failures)
    problems.push(
      `autocannon: ${traffic.failures} failed request(s) during rotation (errors ${traffic.errors}, timeouts ${traffic.timeouts}, non-2xx ${traffic.non2xx})`,
    );
  if (latencies.length === 0) problems.push('no reload could be paired with a certificate write');

  const chart: RotationChart = {
    startedAt,
    endedAt,
    // Certificates: the one served at the start (observeRotations), then every reload the app logged.
    workloads: perWorkload.map((p) => {
      const first = report.workloads.find((w) => w.workload === p.workload)?.timeline[0];
      const initial = first ? [{ serial: first.serial, notBefore: Date.parse(first.notBefore), notAfter: Date.parse(first.notAfter) }] : [];
      const reloaded = p.reloads.filter((r) => r.serial !== first?.serial).map((r) => ({ serial: r.serial, notBefore: r.notBefore, notAfter: r.notAfter }));
      return { name: p.workload, certificates: [...initial, ...reloaded], reloads: p.reloads.map((r) => r.at), writes: p.writes.map((x) => x.at) };
    }),
    traffic: traffic.timeline.map((b) => ({ at: traffic.startedAt + b.t * 1000, ok: b.ok, failed: b.failed })),
  };
  const lat = summarize(latencies);
  // Seconds between successive reloads of a workload: the rotation period the renewers actually achieve.
  const intervals = perWorkload.flatMap((p) => p.reloads.slice(1).map((r, i) => (r.at - p.reloads[i]!.at) / 1000));
  const rotationsSeen = Math.min(...report.workloads.map((w) => w.rotations));
  const reloadCount = Math.min(...perWorkload.map((p) => p.reloads.length));
  return {
    id: 'b5',
    title: 'B5 rotation under load',
    method:
      `Both workloads re-enrolled with ${lifetime} certificates (the renewers are meant to renew at ~2/3 of notBefore→notAfter, which step-ca backdates 1 min; the period they achieve is measured below), then, while autocannon ` +
      `sends ${rate} req/s over ${connections} keep-alive mTLS connections (operator identity) to the server's published port and the stack's client keeps its own traffic, ` +
      `scripts/lib/workloads/rotation-check.ts observeRotations waits for ${rotations} rotation(s) of each workload as served by the app (admin /stats), and the load stays on for at least ${minSeconds} s. Reload latency per rotation: ` +
      `site.crt's mtime in the volume (stat -c %.Y, one streaming docker exec in the renewer, 50 ms poll) → the app's "credentials reloaded" JSON log line (ts field, same kernel clock).`,
    limits: [
      "Reload latency includes the watcher's debounce (RELOAD_DEBOUNCE_MS, 250 ms by default) by design: step ca renew rewrites files in place, not atomically.",
      'The mtime poll has 50 ms resolution; log timestamps have 1 ms.',
      `p99 of ${latencies.length} samples is effectively the maximum.`,
      'Keep-alive connections older than MAX_CONNECTION_AGE_MS (60 s) are closed by the server so they move to the new certificate; a window shorter than that does not exercise it (autocannon would reconnect).',
    ],
    rows: [
      {
        metric: 'rotations per workload: proven by observeRotations (wanted) / logged in the window',
        value: `${rotationsSeen} (${rotations}) / ${reloadCount}`,
      },
      { metric: 'autocannon requests in the load window: ok / failed', value: `${traffic.ok} / ${traffic.failures}` },
      { metric: "stack client's own requests while observeRotations ran: ok / failed", value: `${report.traffic.successes} / ${report.traffic.failures}` },
      {
        metric: 'reload latency file written → new serial in use, p50 / p99',
        value: `${round(quantile(latencies, 0.5), 0)} / ${round(quantile(latencies, 0.99), 0)} ms (n=${latencies.length})`,
      },
      { metric: 'reload latency range', value: formatSummary(lat, 'ms') },
      { metric: 'rotation period achieved by the renewers', value: formatSummary(summarize(intervals), 's') },
      { metric: 'load window / observeRotations time', value: `${round(traffic.seconds, 1)} s / ${round(report.elapsedSeconds, 1)} s` },
    ],
    data: {
      lifetime,
      rotationsWanted: rotations,
      rotationsSeen,
      rate,
      autocannon: { ...loadTotals(traffic), latencyMs: traffic.latencyMs },
      stackClient: report.traffic,
      reloadLatencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ...lat },
      rotationPeriodSeconds: summarize(intervals),
      perWorkload: perWorkload.map((p) => ({ workload: p.workload, latencies: p.latencies })),
      rotation: report,
      chart,
    },
    problems,
    chart,
  };
}
