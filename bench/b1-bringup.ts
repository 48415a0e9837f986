import { waitFor } from '../common/wait.js';
import { httpsGet } from '../scripts/lib/ca/api.js';
import { cdktf, type StackSettings } from '../scripts/lib/deploy/stack-instance.js';
import { appStats, loadStack } from '../scripts/lib/workloads/handles.js';
import { benchSettings, bootstrapAndEnroll, teardown } from './lib/bench-stack.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { type DeployPhases, deployPhases } from './lib/deploy-phases.js';
import { type PlainStack, plainStackFromSynth, startPlainStack, writeOutputs } from './lib/plain-docker.js';
import { alternate, formatRatio, formatSummary, pairedRatio, summarize } from './lib/stats.js';

/** One bring-up, from nothing to the client's first 200 over mTLS. */
export interface BringUp {
  readonly totalSeconds: number;
  /** cdktf deploy, or creating networks, volumes and containers with docker. */
  readonly infraSeconds: number;
  /** Part of infraSeconds spent building images (cdktf only; from Terraform's log). */
  readonly imageBuildSeconds?: number;
  readonly bootstrapEnrollSeconds: number;
  readonly firstRequestSeconds: number;
  /** cdktf only: where the deploy's time went (synth, init, plan, apply, and the apply's critical path). */
  readonly phases?: DeployPhases;
}

const since = (t: number) => (Date.now() - t) / 1000;

/** Waits for the stack's client to count its first successful request (a 200 over mTLS). */
async function firstClientSuccess(prefix: string, timeoutMs = 120_000): Promise<void> {
  const stack = await loadStack(prefix);
  const client = stack.workloads.find((w) => w.name === 'client')!;
  await waitFor(`the client of ${prefix} to count a successful request`, async () => ((await appStats(client))?.requests?.successes ?? 0) > 0, {
    timeoutMs,
    intervalMs: 200,
  }).catch(() => {
    throw new Error(`the client of ${prefix} made no successful request within ${timeoutMs / 1000} s; see docker logs ${client.container}`);
  });
}

async function afterInfra(prefix: string, t0: number, infraSeconds: number, imageBuildSeconds?: number, phases?: DeployPhases): Promise<BringUp> {
  const t1 = Date.now();
  await bootstrapAndEnroll(prefix);
  const bootstrapEnrollSeconds = since(t1);
  const t2 = Date.now();
  await firstClientSuccess(prefix);
  return { totalSeconds: since(t0), infraSeconds, imageBuildSeconds, bootstrapEnrollSeconds, firstRequestSeconds: since(t2), ...(phases ? { phases } : {}) };
}

/** Warm deploy (base images and layers cached) → bootstrap → enroll → first 200. */
export async function bringUpWithCdktf(settings: StackSettings): Promise<BringUp> {
  const t0 = Date.now();
  const out = await cdktf('deploy', settings, { quiet: true });
  const builds = [...(out.stdout + out.stderr).matchAll(/docker_image\.[^\n]*?Creation complete after (?:(\d+)m)?(\d+)s/g)].map(
    (m) => Number(m[1] ?? 0) * 60 + Number(m[2]),
  );
  return afterInfra(settings.prefix, t0, since(t0), builds.length ? Math.max(...builds) : 0, deployPhases(out.lines));
}

/** The same containers with plain docker commands (images already built) → bootstrap → enroll → first 200. */
async function bringUpWithDocker(settings: StackSettings, plain: PlainStack): Promise<BringUp> {
  const t0 = Date.now();
  await startPlainStack(plain);
  await writeOutputs(settings.prefix, plain.outputs);
  // No health gating: wait for exactly what the next step needs, the CA's API.
  await waitFor(
    `the CA of ${settings.prefix} to answer`,
    async () => (await httpsGet(`${plain.outputs.ca_host_url}/health`, { timeoutMs: 1000 })).status === 200,
    { timeoutMs: 60_000, intervalMs: 100 },
  ).catch(() => {
    throw new Error(`the CA of ${settings.prefix} did not answer within 60 s; see docker logs ${plain.outputs.ca_container}`);
  });
  return afterInfra(settings.prefix, t0, since(t0));
}

export async function b1BringUp(ctx: BenchContext, opts: { mainDeploy: BringUp }): Promise<BenchResult> {
  const main = ctx.settings.prefix;
  const settings = await benchSettings(`${main}-b1`);
  const problems: string[] = [];
  // The baseline's specs come from this stack's own synthesized JSON; its
  // images are the bench stack's, already built (same Dockerfiles, same tree).
  await ctx.ui.step(`B1: synthesize ${settings.prefix} for the docker-run baseline`, () => cdktf('synth', settings, { quiet: true }));
  const plain = await plainStackFromSynth(settings.prefix, (name) => name.replace(new RegExp(`^${settings.prefix}-`), `${main}-`));
  let samples: { cdktf: BringUp[]; docker: BringUp[] };
  try {
    if (ctx.smoke) {
      // One of each: the bench stack's own deploy is the cdktf sample.
      const docker = await ctx.ui.step('B1: docker run bring-up', async () => {
        try {
          return await bringUpWithDocker(settings, plain);
        } finally {
          problems.push(...(await teardown(settings, { viaCdktf: false })));
        }
      });
      samples = { cdktf: [opts.mainDeploy], docker: [docker] };
    } else {
      samples = await alternate(ctx.rounds, {
        cdktf: (r) =>
          ctx.ui.step(`B1 round ${r + 1}: deploy bring-up (${ctx.elapsed()})`, async () => {
            try {
              return await bringUpWithCdktf(settings);
            } finally {
              problems.push(...(await teardown(settings, { viaCdktf: true })));
            }
          }),
        docker: (r) =>
          ctx.ui.step(`B1 round ${r + 1}: docker run bring-up`, async () => {
            try {
              return await bringUpWithDocker(settings, plain);
            } finally {
              problems.push(...(await teardown(settings, { viaCdktf: false })));
            }
          }),
      });
    }
  } finally {
    await teardown(settings, { viaCdktf: false });
  }
  const total = (xs: BringUp[]) => xs.map((x) => x.totalSeconds);
  const ratio = pairedRatio(total(samples.cdktf), total(samples.docker));
  const cdktfTotal = summarize(total(samples.cdktf));
  const dockerTotal = summarize(total(samples.docker));
  const cdktfInfra = summarize(samples.cdktf.map((x) => x.infraSeconds));
  const cdktfImages = summarize(samples.cdktf.map((x) => x.imageBuildSeconds ?? 0));
  const dockerInfra = summarize(samples.docker.map((x) => x.infraSeconds));
  const enroll = summarize([...samples.cdktf, ...samples.docker].map((x) => x.bootstrapEnrollSeconds + x.firstRequestSeconds));
  const phase = (k: 'synth' | 'init' | 'plan' | 'apply' | 'finish' | 'ready') => summarize(samples.cdktf.map((x) => x.phases?.[k] ?? 0));
  const path = samples.cdktf.at(-1)?.phases?.slowest ?? [];
  return {
    id: 'b1',
    title: 'B1 bring-up: warm deploy of the CDKTF stack vs plain docker run, until the first mTLS 200',
    method:
      `Per round, from nothing to the stack's client counting its first successful mTLS request: (a) \`npm run deploy\`'s code (scripts/lib/deploy/stack-instance.ts cdktf('deploy'): the CDKTF app synthesizes, terraform init + apply, then every container's health check passes) of a fresh prefix ` +
      `(${ctx.smoke ? 'the bench stack itself' : settings.prefix}; base images and Docker layer cache warm, the prefix's own images rebuilt from cache) → bootstrapTrust → enrollAll → first client 200; ` +
      `(b) the same networks, volumes and containers created with \`docker network/volume create\` + \`docker create/network connect/start\`, flags derived from the stack's cdk.tf.json, ` +
      `using the bench stack's already-built images, then waiting only for the CA API to answer → the same bootstrap, enroll, first 200. ` +
      `Rounds alternate (ABBA…); each stack is destroyed between rounds (not timed).`,
    limits: [
      "The deploy includes synth (a Node process running main.ts), terraform init/plan/apply, and waiting until every container (CA, apps, renewers) passes its own health check; the baseline waits only for the CA API. Deploy probes each container itself, at once and then every second (scripts/lib/workloads/readiness.ts): the provider's wait would wait for Docker's first probe, one interval (5 s) after start, because Docker 20.10 has no start interval (API 1.44).",
      'The deploy runs the CDKTF app and the engine directly, not through the cdktf CLI, which spends about 3 s per command loading modules a deploy does not use (jsii-rosetta, hcl2cdk, TypeScript) and asking the engine its version four times; test/unit/scripts/deploy/iac.test.ts checks that both synthesize the same cdk.tf.json.',
      'The cdktf variant rebuilds its prefix-specific images from the layer cache; the baseline reuses built images. The image share is reported separately.',
      'Bootstrap + enrollment + the first request are the same code in both variants (scripts/lib/ca/trust-bootstrap.ts, enrollment.ts); only the infrastructure step differs.',
      ctx.smoke ? 'Smoke: one sample each, not a measurement.' : `${ctx.rounds} rounds per variant on a shared 2-core machine.`,
    ],
    rows: [
      { metric: 'bring-up time ratio cdktf / docker run', value: formatRatio(ratio) },
      { metric: 'cdktf: deploy → first 200', value: formatSummary(cdktfTotal, 's') },
      { metric: 'cdktf: of which the deploy', value: formatSummary(cdktfInfra, 's'), formerly: 'cdktf: of which `cdktf deploy`' },
      {
        metric: 'deploy: synth (the CDKTF app; before: cdktf CLI start + synth)',
        value: formatSummary(phase('synth'), 's'),
        formerly: 'cdktf deploy: cdktf start + synth',
      },
      { metric: 'deploy: terraform init', value: formatSummary(phase('init'), 's'), formerly: 'cdktf deploy: terraform init' },
      { metric: 'deploy: refresh + plan', value: formatSummary(phase('plan'), 's'), formerly: 'cdktf deploy: refresh + plan' },
      {
        metric: 'deploy: apply (before: the provider also waited for Docker health)',
        value: formatSummary(phase('apply'), 's'),
        formerly: 'cdktf deploy: apply',
      },
      { metric: 'deploy: after apply (outputs)', value: formatSummary(phase('finish'), 's'), formerly: 'cdktf deploy: after apply (outputs, exit)' },
      { metric: 'deploy: every container ready (health checks run by deploy)', value: formatSummary(phase('ready'), 's') },
      { metric: 'cdktf: of which image builds (from cache)', value: formatSummary(cdktfImages, 's') },
      { metric: 'apply critical path (last round)', value: path.map((c) => `${c.resource} ${c.seconds.toFixed(1)} s`).join(' → ') || 'n/a' },
      { metric: 'docker run: create → first 200', value: formatSummary(dockerTotal, 's') },
      { metric: 'docker run: of which containers up + CA answering', value: formatSummary(dockerInfra, 's') },
      { metric: 'bootstrap + enroll + first request (both)', value: formatSummary(enroll, 's') },
    ],
    data: { ratio, cdktfTotal, dockerTotal, cdktfInfra, cdktfImages, dockerInfra, samples, prefix: settings.prefix },
    problems,
  };
}
