import { makeCsr } from '../scripts/lib/identity/host-identity.js';
import { load, type LoadResult } from './lib/autocannon.js';
import { mintTokens } from './lib/ca-bulk.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { alternate, fmt, formatSummary, summarize } from './lib/stats.js';

/** Renewal at 2/3 of a 5-minute lifetime: every certificate renews once per 200 s. */
const RENEW_INTERVAL_SECONDS = 200;

export async function b6CaCapacity(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.smoke ? 1 : 8;
  const connections = ctx.smoke ? 2 : 8;
  const signsPerRound = ctx.smoke ? 4 : 80;
  const ca = ctx.stack.outputs.ca_host_url;
  const problems: string[] = [];
  const check = (what: string) => (r: LoadResult) => {
    if (r.failures) problems.push(`B6 ${what}: ${r.failures} failed request(s) (errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx})`);
    if (!r.ok) problems.push(`B6 ${what}: no successful request`);
    return r;
  };
  const mintSeconds: number[] = [];
  const samples = await alternate(ctx.rounds, {
    renew: (r) =>
      ctx.ui.step(`B6 round ${r + 1}: POST /1.0/renew over mTLS, ${connections} connections, ${seconds} s`, () =>
        load({ url: `${ca}/1.0/renew`, method: 'POST', connections, duration: seconds, identity: ctx.operator, rootPem: ctx.rootPem }).then(check('renew')),
      ),
    sign: async (r) => {
      const subjects = Array.from({ length: signsPerRound }, (_, i) => `s${i}-r${r}.bench.mesh.internal`);
      const t0 = Date.now();
      const tokens = await ctx.ui.step(`B6 round ${r + 1}: pre-mint ${signsPerRound} tokens in the CA container`, () =>
        mintTokens(ctx.stack.ca, subjects, { parallel: 2 }),
      );
      mintSeconds.push((Date.now() - t0) / 1000);
      const bodies = await Promise.all(subjects.map(async (s, i) => JSON.stringify({ csr: (await makeCsr(s, [s], [])).csrPem, ott: tokens[i] })));
      let next = 0;
      return ctx.ui.step(`B6 round ${r + 1}: POST /1.0/sign × ${signsPerRound}, ${connections} connections`, () =>
        load({
          url: ca,
          connections,
          amount: signsPerRound,
          rootPem: ctx.rootPem,
          requests: [
            {
              method: 'POST',
              path: '/1.0/sign',
              headers: { 'content-type': 'application/json' },
              setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
            },
          ],
        }).then(check('sign')),
      );
    },
  });
  const renewRate = summarize(samples.renew.map((x) => x.requestsPerSecond));
  const signRate = summarize(samples.sign.map((x) => x.requestsPerSecond));
  const fleet = summarize(samples.renew.map((x) => x.requestsPerSecond * RENEW_INTERVAL_SECONDS));
  const strip = (xs: LoadResult[]) => xs.map(({ timeline: _t, ...rest }) => rest);
  return {
    id: 'b6',
    title: 'B6 CA capacity: renewals/s, signs/s, implied fleet size',
    method:
      `Renewals: autocannon, ${connections} keep-alive mTLS connections for ${seconds} s, POST /1.0/renew to the CA's published port with the host's operator certificate (each response is a new certificate). ` +
      `Signs: per round ${signsPerRound} one-time tokens pre-minted in bulk inside the CA container (one docker exec, xargs -P 2, not timed in the rate), CSRs (P-256) generated in-process, ` +
      `then autocannon sends the ${signsPerRound} POST /1.0/sign requests over ${connections} connections; rate = 2xx / wall time. Rounds alternate. ` +
      `Fleet = renewals/s × ${RENEW_INTERVAL_SECONDS} s (5-minute certificates renewed at 2/3 of their lifetime).`,
    limits: [
      "The CA (256 MB container limit) shares 2 cores with autocannon; the CA's badger DB writes every certificate.",
      `A sign round lasts well under a second at these rates (${signsPerRound} tokens: minting costs ~${fmt((summarize(mintSeconds).median / signsPerRound) * 1000)} ms per token of PBES2 key decryption), so signs/s is noisier than renewals/s.`,
      'The fleet figure assumes renewals spread evenly (renewers add jitter) and no headroom; plan for a fraction of it.',
      ctx.smoke ? 'Smoke: tiny sizes, not a measurement.' : `${ctx.rounds} rounds each.`,
    ],
    rows: [
      { metric: 'renewals/s (POST /1.0/renew, mTLS)', value: formatSummary(renewRate, '/s') },
      { metric: 'signs/s (POST /1.0/sign, one-time token + CSR)', value: formatSummary(signRate, '/s') },
      { metric: 'implied fleet, 5-min certs renewed every 200 s', value: formatSummary(fleet, 'workloads') },
      {
        metric: 'renew latency p50 / p99',
        value: `${formatSummary(summarize(samples.renew.map((x) => x.latencyMs.p50)), 'ms')} / ${formatSummary(summarize(samples.renew.map((x) => x.latencyMs.p99)), 'ms')}`,
      },
      {
        metric: 'token minting in the CA container (bulk, 2 parallel)',
        value: formatSummary(summarize(mintSeconds.map((s) => signsPerRound / s)), 'tokens/s'),
      },
    ],
    data: { connections, seconds, signsPerRound, renewRate, signRate, fleet, renew: strip(samples.renew), sign: strip(samples.sign), mintSeconds },
    problems,
  };
}
