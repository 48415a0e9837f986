import { caCertificate, caToken } from '../scripts/lib/ca/step.js';
import * as docker from '../scripts/lib/docker/commands.js';
import { FILES } from '../scripts/lib/workloads/handles.js';
import { rawEnrollLoop } from './lib/ca-bulk.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { alternate, formatRatio, formatSummary, pairedRatio, summarize } from './lib/stats.js';

const CONCURRENCY = 8; // enrollAll's default

/**
 * The project's enrollment path for N synthetic workloads: per workload a
 * token minted in the CA (caToken) and exchanged in a renewer (caCertificate,
 * key made there), CONCURRENCY at a time like enrollAll. The N identities
 * share one renewer (the client's), each with its own files under /tmp, so
 * the real workloads' volumes are not touched.
 */
async function projectPath(ctx: BenchContext, renewer: string, subjects: string[], outDir: string): Promise<{ seconds: number; failed: string[] }> {
  await docker.execOk(renewer, ['mkdir', '-p', outDir]);
  const t0 = Date.now();
  const failed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < subjects.length) {
      const subject = subjects[next++]!;
      const token = await caToken(ctx.stack.ca, { subject, sans: [subject] });
      const res = await caCertificate({
        renewer,
        subject,
        token,
        caUrl: ctx.stack.outputs.ca_url,
        certFile: `${outDir}/${subject}.crt`,
        keyFile: `${outDir}/${subject}.key`,
        rootFile: FILES.root,
      });
      if (!res.ok) failed.push(`${subject}: ${res.error}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, subjects.length) }, worker));
  return { seconds: (Date.now() - t0) / 1000, failed };
}

export async function b2Enrollment(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.smoke ? 3 : 50;
  const renewer = ctx.stack.workloads.find((w) => w.name === 'client')!.renewer;
  const problems: string[] = [];
  const subjects = (tag: string, r: number) => Array.from({ length: n }, (_, i) => `w${i}-${tag}${r}.bench.mesh.internal`);
  const samples = await alternate(ctx.rounds, {
    project: (r) =>
      ctx.ui.step(`B2 round ${r + 1}: ${n} workloads through caToken + caCertificate (concurrency ${CONCURRENCY})`, async () => {
        const out = await projectPath(ctx, renewer, subjects('p', r), `/tmp/bench-b2/p${r}`);
        problems.push(...out.failed);
        await docker.exec(renewer, ['rm', '-rf', `/tmp/bench-b2/p${r}`]);
        return out.seconds;
      }),
    raw: (r) =>
      ctx.ui.step(`B2 round ${r + 1}: ${n} workloads through one raw step loop`, async () => {
        const out = await rawEnrollLoop(ctx.stack.ca, renewer, {
          subjects: subjects('r', r),
          outDir: `/tmp/bench-b2/r${r}`,
          caUrl: ctx.stack.outputs.ca_url,
          rootFile: FILES.root,
        });
        if (out.issued !== n) problems.push(`raw loop round ${r + 1} issued ${out.issued} of ${n} certificates`);
        await docker.exec(renewer, ['rm', '-rf', `/tmp/bench-b2/r${r}`]);
        return { total: out.mintSeconds + out.exchangeSeconds, ...out };
      }),
  });
  const rawTotals = samples.raw.map((s) => s.total);
  const ratio = pairedRatio(samples.project, rawTotals);
  const projectPer = summarize(samples.project.map((s) => (s / n) * 1000));
  const rawPer = summarize(rawTotals.map((s) => (s / n) * 1000));
  return {
    id: 'b2',
    title: `B2 enrollment: ${n} workloads, project path vs raw step loop`,
    method:
      `N=${n} synthetic identities per round (fresh names each round). Project path: scripts/lib/ca/step.ts caToken (docker exec step ca token in the CA container) ` +
      `then caCertificate (docker exec step ca certificate in the client's renewer, P-256 key made there, token on stdin), ${CONCURRENCY} workloads in flight like enrollAll. ` +
      `Baseline: one docker exec running a shell loop of step ca token in the CA container, then one docker exec running a loop of step ca certificate in the same renewer, sequential. ` +
      `Rounds alternate; wall time per round.`,
    limits: [
      'Each project-path certificate costs two docker execs (process start-up in the CA and the renewer, ~tens of ms each on this engine); the loop pays that once per phase.',
      'step ca token decrypts the provisioner key (PBES2) on every call; that CPU is in both variants and bounds both on 2 cores.',
      'The project path overlaps 8 workloads; the raw loop is sequential — the ratio is what the operator path costs as written, not per-call overhead alone.',
      ctx.smoke ? 'Smoke: N=3, one round.' : `${ctx.rounds} rounds.`,
    ],
    rows: [
      { metric: 'time ratio project path / raw loop (per certificate and total)', value: formatRatio(ratio) },
      { metric: `project path: total for ${n}`, value: formatSummary(summarize(samples.project), 's') },
      { metric: 'project path: per certificate', value: formatSummary(projectPer, 'ms') },
      { metric: `raw loop: total for ${n}`, value: formatSummary(summarize(rawTotals), 's') },
      { metric: 'raw loop: per certificate', value: formatSummary(rawPer, 'ms') },
      { metric: 'raw loop: token minting share', value: formatSummary(summarize(samples.raw.map((s) => (s.mintSeconds / s.total) * 100)), '%') },
    ],
    data: {
      n,
      concurrency: CONCURRENCY,
      ratio,
      projectSeconds: summarize(samples.project),
      rawSeconds: summarize(rawTotals),
      projectPerCertMs: projectPer,
      rawPerCertMs: rawPer,
      raw: samples.raw,
    },
    problems,
  };
}
