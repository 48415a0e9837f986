import path from 'node:path';

import { waitFor } from '../common/wait.js';
import { freePort } from '../scripts/lib/deploy/free-ports.js';
import { hostUrl } from '../scripts/lib/deploy/stack-instance.js';
import { mtlsRequest } from '../scripts/lib/identity/mtls-request.js';
import { load, type LoadResult } from './lib/autocannon.js';
import { type BenchContext, type BenchResult, timedRunsLimit } from './lib/context.js';
import { profiledCopy, type TopFrame, topFrames } from './lib/cpu-profile.js';
import { fixtureInContainer, type RunningServer } from './lib/fixture-server.js';
import { alternate, formatRatio, formatSummary, pairedRatio, summarize } from './lib/stats.js';

const SERVER_NAME = 'server.mesh.internal';

export async function b3KeepAlive(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.smoke ? 1 : 10;
  const connections = ctx.smoke ? 2 : 10;
  const prefix = ctx.settings.prefix;
  const server = ctx.stack.workloads.find((w) => w.name === 'server')!;
  const common = { prefix, image: `${prefix}-workload:local`, network: `${prefix}-edge`, certVolume: server.volume };
  const started: RunningServer[] = [];
  const problems: string[] = [];
  try {
    const mtls = await fixtureInContainer({ ...common, name: `${prefix}-b3-mtls`, hostPort: await freePort(), mode: 'mtls' });
    started.push(mtls);
    const tls = await fixtureInContainer({ ...common, name: `${prefix}-b3-tls`, hostPort: await freePort(), mode: 'tls' });
    started.push(tls);
    const targets = {
      mtls: { url: `https://127.0.0.1:${mtls.port}/`, identity: ctx.operator },
      tls: { url: `https://127.0.0.1:${tls.port}/`, identity: undefined },
      real: { url: hostUrl(ctx.stack.outputs, 'server'), identity: ctx.operator },
    };
    const run = (k: keyof typeof targets, duration: number) =>
      load({ url: targets[k].url, connections, duration, identity: targets[k].identity, rootPem: ctx.rootPem, servername: SERVER_NAME });
    // autocannon forces rejectUnauthorized: false, so each target's identity
    // is checked once here, with verification, before it takes any load.
    await ctx.ui.step('B3: verify each target (server identity, client accepted)', async () => {
      for (const [k, t] of Object.entries(targets)) {
        // Docker's proxy accepts on the published port before the app listens: retry briefly.
        const res = await waitFor(
          `B3 target ${k} (${t.url}) to answer a verified request`,
          () => mtlsRequest(t.url, { ca: ctx.rootPem, cert: t.identity?.certPem, key: t.identity?.keyPem, servername: SERVER_NAME }),
          { timeoutMs: 20_000, intervalMs: 250 },
        );
        if (res.status !== 200) throw new Error(`B3 ${k} (${t.url}) answered ${res.status}: ${res.body.slice(0, 200)}`);
      }
    });
    // JIT and TLS session caches warm before anything is recorded.
    await ctx.ui.step('B3: warm-up', async () => {
      for (const k of ['mtls', 'tls', 'real'] as const) await run(k, 1);
    });
    const check = (k: string) => (r: LoadResult) => {
      if (r.failures) problems.push(`B3 ${k}: ${r.failures} failed request(s) (errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx})`);
      if (!r.ok) problems.push(`B3 ${k}: no successful request`);
      return r;
    };
    const samples = await alternate(ctx.rounds, {
      mtls: (r) => ctx.ui.step(`B3 round ${r + 1}: fixture, mTLS (${seconds} s)`, () => run('mtls', seconds).then(check('mtls'))),
      tls: (r) => ctx.ui.step(`B3 round ${r + 1}: fixture, server-only TLS (${seconds} s)`, () => run('tls', seconds).then(check('tls'))),
      real: (r) => ctx.ui.step(`B3 round ${r + 1}: the project's server, mTLS (${seconds} s)`, () => run('real', seconds).then(check('real'))),
    });
    const rps = (xs: LoadResult[]) => xs.map((x) => x.requestsPerSecond);
    const p = (xs: LoadResult[], q: 'mean' | 'p50' | 'p99') => summarize(xs.map((x) => x.latencyMs[q]));
    const lat = (xs: LoadResult[]) => `${formatSummary(p(xs, 'mean'), 'ms')} / ${formatSummary(p(xs, 'p50'), 'ms')} / ${formatSummary(p(xs, 'p99'), 'ms')}`;
    const ratio = pairedRatio(rps(samples.mtls), rps(samples.tls));
    const realRatio = pairedRatio(rps(samples.real), rps(samples.mtls));
    const strip = (xs: LoadResult[]) => xs.map(({ timeline: _t, ...rest }) => rest);

    // Where the CPU goes: the same load on copies of the real server and of
    // the mTLS fixture (same image, environment, volumes, hardening) run with
    // node --cpu-prof; the frames the server pays and the fixture does not are
    // its per-request features.
    const profiles: Record<'server' | 'fixture', { frames: TopFrame[]; busySamples: number; requestsPerSecond: number }> = {} as never;
    for (const [k, from, port] of [
      ['server', server.container, server.port],
      ['fixture', `${prefix}-b3-mtls`, 8443],
    ] as const) {
      profiles[k] = await ctx.ui.step(`B3: CPU profile of the ${k} under the same load (${seconds} s)`, async () => {
        const hostPort = await freePort();
        const copy = await profiledCopy({
          container: from,
          name: `${prefix}-b3-profile`,
          prefix,
          network: `${prefix}-edge`,
          port,
          hostPort,
          dir: path.join(ctx.scratch, `profile-${k}`),
        });
        const loaded = (async () => {
          await waitFor(
            `the profiled ${k} to answer`,
            () =>
              mtlsRequest(`https://127.0.0.1:${hostPort}/`, { ca: ctx.rootPem, cert: ctx.operator.certPem, key: ctx.operator.keyPem, servername: SERVER_NAME }),
            { timeoutMs: 20_000, intervalMs: 250 },
          );
          return check(`profile ${k}`)(
            await load({
              url: `https://127.0.0.1:${hostPort}/`,
              connections,
              duration: seconds,
              identity: ctx.operator,
              rootPem: ctx.rootPem,
              servername: SERVER_NAME,
            }),
          );
        })();
        // Stopped whatever happened to the load, so no copy outlives the step.
        const [r, profile] = await Promise.allSettled([
          loaded,
          loaded.then(
            () => copy.stop(),
            () => copy.stop(),
          ),
        ]);
        if (r.status === 'rejected') throw r.reason;
        if (profile.status === 'rejected') throw profile.reason;
        return { ...topFrames(profile.value), requestsPerSecond: r.value.requestsPerSecond };
      });
    }
    const frameTable = (k: 'server' | 'fixture') => [
      `| self % | frame (${k}, ${Math.round(profiles[k].requestsPerSecond)} req/s while profiled) |`,
      '|---:|---|',
      ...profiles[k].frames.map((f) => `| ${f.selfPercent.toFixed(1)} | \`${f.frame.replace(/\|/g, '\\|')}\` |`),
    ];
    return {
      id: 'b3',
      title: 'B3 keep-alive serving: mTLS vs server-only TLS (requests/s, latency)',
      method:
        `autocannon (npm) on the host, ${connections} keep-alive connections, ${seconds} s per round, GET / against 127.0.0.1 published ports; ` +
        `client certificate = the host's operator identity (spiffe://mesh.internal/operator) from the stack's CA via a one-time token (enrollHostIdentity), server verified against the private root as ${SERVER_NAME}. ` +
        `The project's server has no option to skip client certificates, so the compared pair is bench/fixtures/tls-server.mjs — one node:https server, MODE=mtls (requestCert + rejectUnauthorized) vs MODE=tls (no client certificate) — ` +
        `each in a container from the stack's workload image (same Node), hardened like the stack's containers, serving the server's own certificate from its volume (read-only). ` +
        `autocannon does not verify the server (it forces rejectUnauthorized: false), so every target is first checked with one verified request (server identity ${SERVER_NAME} against the private root, client accepted). ` +
        `The stack's real server (allow-list, metrics, JSON logs) runs the same load as a third variant. Rounds alternate the order; 1 s warm-up per variant first.`,
      limits: [
        "Load generator and servers share the same 2 cores: absolute requests/s are bounded by autocannon's own CPU as much as by the server.",
        'Over keep-alive, the client certificate is only checked at the handshake: this ratio measures per-request cost, expected ≈1; handshake cost is B4.',
        'autocannon records latency percentiles in whole milliseconds (sub-millisecond p50s read 0 or 1); the mean is exact.',
        "Traffic crosses Docker's port publishing (docker-proxy/iptables) the same way for all variants.",
        timedRunsLimit(ctx, seconds),
      ],
      rows: [
        { metric: 'throughput ratio mTLS / server-only TLS (fixture)', value: formatRatio(ratio) },
        { metric: 'fixture mTLS: requests/s', value: formatSummary(summarize(rps(samples.mtls)), 'req/s') },
        { metric: 'fixture server-only TLS: requests/s', value: formatSummary(summarize(rps(samples.tls)), 'req/s') },
        { metric: 'fixture mTLS: latency mean / p50 / p99', value: lat(samples.mtls) },
        { metric: 'fixture TLS: latency mean / p50 / p99', value: lat(samples.tls) },
        { metric: "project's server (mTLS): requests/s", value: formatSummary(summarize(rps(samples.real)), 'req/s') },
        { metric: "project's server: latency mean / p50 / p99", value: lat(samples.real) },
        { metric: "throughput ratio project's server / fixture mTLS", value: formatRatio(realRatio) },
      ],
      details: [
        `**Where the CPU goes** (node --cpu-prof in a copy of each container, same load, ${seconds} s; self time of the busiest frames as a share of all non-idle samples). Frames in the server's list but not in the fixture's are what its features cost per request; \`writeUtf8String\` is where a response is written, and so encrypted, through the TLS socket, the cost both pay.`,
        '',
        ...frameTable('server'),
        '',
        ...frameTable('fixture'),
      ],
      data: {
        connections,
        seconds,
        ratio,
        realRatio,
        mtls: strip(samples.mtls),
        tls: strip(samples.tls),
        real: strip(samples.real),
        where: 'containers from the workload image',
        profiles,
      },
      problems,
    };
  } finally {
    for (const s of started) await s.stop();
  }
}
