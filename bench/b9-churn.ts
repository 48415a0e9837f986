import { sleep } from '../common/wait.js';
import { hostUrl } from '../scripts/lib/deploy/stack-instance.js';
import { APP_MEMORY_MB } from '../stack/mtls-workload.js';
import { PEAK_RSS_SHARE, type Sample, sampleApps } from './lib/app-samples.js';
import { churn } from './lib/churn.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { round } from './lib/stats.js';

export interface ChurnSummary {
  readonly firstMb: number;
  readonly peakMb: number;
  readonly lastMb: number;
  /** (peak - first) per connection, in kB: what one closed connection costs until the GC frees it. */
  readonly peakKbPerConnection: number;
  readonly pids: readonly number[];
}

export function summariseChurn(samples: readonly Pick<Sample, 'rssMb' | 'pid'>[], connections: number): ChurnSummary {
  const rss = samples.map((s) => s.rssMb);
  const firstMb = rss[0] ?? NaN;
  const peakMb = Math.max(...rss);
  return {
    firstMb,
    peakMb,
    lastMb: rss.at(-1) ?? NaN,
    peakKbPerConnection: connections > 0 ? ((peakMb - firstMb) * 1024) / connections : NaN,
    pids: [...new Set(samples.map((s) => s.pid))],
  };
}

/**
 * B9: many short mTLS connections from an allowed identity, the server's RSS
 * sampled throughout and after an idle tail. A closed TLS connection's native
 * memory is freed only when V8 collects its JS objects, and V8 does not count
 * that memory, so churn shows what steady keep-alive traffic (B7) cannot.
 */
export async function b9Churn(ctx: BenchContext): Promise<BenchResult> {
  const rate = ctx.smoke ? 20 : 40;
  const seconds = ctx.smoke ? 15 : 180;
  const idleSeconds = ctx.smoke ? 6 : 60;
  const sampleMs = ctx.smoke ? 2_000 : 5_000;
  const server = ctx.stack.workloads.find((w) => w.name === 'server');
  if (!server) throw new Error('B9 needs the bench stack\'s "server" workload');
  const problems: string[] = [];
  const startedAt = Date.now();
  let sampling = true;
  const sampler = sampleApps([server], { from: startedAt, everyMs: sampleMs, more: () => sampling });
  let result;
  let sampled: Awaited<typeof sampler>;
  try {
    result = await ctx.ui.step(
      `B9: ${rate} new mTLS connections/s for ${seconds} s, then ${idleSeconds} s idle; server RSS every ${sampleMs / 1000} s`,
      async () => {
        const r = await churn({
          url: hostUrl(ctx.stack.outputs, 'server'),
          identity: ctx.operator,
          rootPem: ctx.rootPem,
          servername: 'server.mesh.internal',
          rate,
          seconds,
        });
        await sleep(idleSeconds * 1000);
        return r;
      },
    );
  } finally {
    sampling = false;
    sampled = await sampler;
  }
  const { samples, missed } = sampled;
  const connections = result.ok + result.failed;
  const summary = summariseChurn(samples, connections);
  const peakBoundMb = APP_MEMORY_MB * PEAK_RSS_SHARE;
  if (result.failed) problems.push(`${result.failed} of ${connections} requests failed (${JSON.stringify(result.failures)})`);
  if (summary.pids.length > 1) problems.push(`the server restarted during the churn (pids ${summary.pids.join(', ')})`);
  if (summary.peakMb > peakBoundMb) problems.push(`peak RSS ${round(summary.peakMb, 1)} MB above ${PEAK_RSS_SHARE * 100}% of the ${APP_MEMORY_MB} MB limit`);
  if (missed.length > samples.length / 10) problems.push(`${missed.length} samples could not be taken (${missed.slice(0, 5).join(', ')}…)`);
  return {
    id: 'b9',
    title: "B9 connection churn: the server's memory under many short mTLS connections",
    method:
      `${rate} requests/s from the host for ${seconds} s, each on a new TLS 1.3 connection (no keep-alive, no session resumption: a full handshake in which the client sends its ` +
      `certificate and intermediate) with the operator identity, to the server's published port; then ${idleSeconds} s without traffic. Every ${sampleMs / 1000} s the server's /stats is read ` +
      `(RSS, heap, pid). Fails on a failed request, a restart, or peak RSS above ${PEAK_RSS_SHARE * 100}% of the ${APP_MEMORY_MB} MB limit.`,
    limits: [
      'Growth per connection is (peak - first RSS) / connections: it is what closed connections hold until V8 collects their objects, not a leak by itself; the idle tail shows how much comes back.',
      'V8 schedules major GCs by its own heap, not by the native memory behind each connection, so the peak depends on the GC, not only on the rate.',
      'The load generator shares the 2 cores with the server.',
    ],
    rows: [
      {
        metric: 'connections: ok / failed (achieved rate)',
        value: `${result.ok} / ${result.failed} (${round(connections / result.seconds, 1)}/s)`,
      },
      {
        metric: 'server RSS first → peak → after the idle tail, MB',
        value: `${round(summary.firstMb, 1)} → ${round(summary.peakMb, 1)} → ${round(summary.lastMb, 1)}`,
      },
      {
        metric: 'server RSS at peak, per connection',
        value: `${round(summary.peakKbPerConnection, 2)} kB`,
      },
      {
        metric: `peak RSS / the ${APP_MEMORY_MB} MB limit`,
        value: `${round((summary.peakMb / APP_MEMORY_MB) * 100, 0)}% (bound ${PEAK_RSS_SHARE * 100}%)`,
      },
    ],
    data: {
      rate,
      seconds,
      idleSeconds,
      sampleSeconds: sampleMs / 1000,
      result,
      summary,
      peakBoundMb,
      samples,
      missedSamples: missed,
    },
    problems,
  };
}
