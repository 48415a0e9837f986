#!/usr/bin/env tsx
/**
 * The benchmark suite (bench/): deploys its own stack (prefix "bench"),
 * measures B1–B6 with side-by-side variants, writes bench/results/ (or
 * bench/tmp/ with --smoke) and always destroys what it deployed.
 */
import path from 'node:path';

import { fs } from 'zx';

import { engineSettings, parseCli, positiveInt } from '../scripts/lib/cli/flags.js';
import { createUi, main, seconds, table, UserError } from '../scripts/lib/cli/ui.js';
import { buildServices, stackDirs } from '../scripts/lib/deploy/stack-instance.js';
import { ensureToolchain } from '../scripts/lib/toolchain/index.js';
import { loadStack } from '../scripts/lib/workloads/handles.js';
import { b1BringUp, bringUpWithCdktf } from './b1-bringup.js';
import { b2Enrollment } from './b2-enrollment.js';
import { b3KeepAlive } from './b3-keepalive.js';
import { b4Handshakes } from './b4-handshakes.js';
import { b5Rotation } from './b5-rotation.js';
import { b6CaCapacity } from './b6-ca-capacity.js';
import { b7Soak } from './b7-soak.js';
import { b8CaRotation, b8Settings } from './b8-ca-rotation.js';
import { b9Churn } from './b9-churn.js';
import { b10IdleCost } from './b10-idle.js';
import { b11MeshSize } from './b11-mesh-size.js';
import { requireAutocannon } from './lib/autocannon.js';
import { benchDirs, benchSettings, operatorIdentity, teardown } from './lib/bench-stack.js';
import { writeCharts } from './lib/charts.js';
import type { BenchContext, BenchId, BenchResult } from './lib/context.js';
import { containersNamed } from './lib/docker-run.js';
import { describeMachine } from './lib/machine.js';
import { ensureNginx } from './lib/nginx.js';
import { mergeReports, readReport, type Report, sourceCommit, withBefore, writeReport } from './lib/report.js';
import type { RssChart } from './lib/rss-svg.js';
import type { RotationChart } from './lib/svg.js';

const ALL: BenchId[] = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9', 'b10', 'b11'];

const HELP = `Usage: npm run bench [-- --smoke] [--only b2,b3] [--rounds N] [--minutes N] [--json]

Measures the system against plain alternatives, side by side in one run:
  B1 bring-up: warm cdktf deploy vs plain docker run, until the first mTLS 200
  B2 enrollment: N workloads through the project's path vs a raw step loop
  B3 keep-alive serving: mTLS vs server-only TLS (autocannon)
  B4 new connections: full mTLS handshakes/s, Node vs nginx (openssl s_time)
  B5 rotation under load: failures (must be 0), reload latency, SVG chart
  B6 CA capacity: renewals/s, signs/s, implied fleet size
  B7 soak: 1-minute certificates under continuous load for --minutes;
     rotations, failures (must be 0), RSS of each Node process (slope, SVG)
  B8 CA rotation on a stack of its own: intermediate, then root prepare,
     activate, retire under traffic; phase times, renewals/s on the new
     chain, failed requests (must be 0)
  B9 connection churn: new mTLS connections at a fixed rate, the server's
     RSS before, at peak and after an idle tail; failures (must be 0)
  B10 idle cost: the whole default mesh on a stack of its own, at rest;
     CPU of every container and of the engine (goal: under 5 % of one core)
  B11 cost per workload as the mesh grows (10, 20, 40 workloads, each size
     a stack of its own): CPU and memory per workload at rest, deploy and
     enrollment time against the count

Deploys its own stack (prefix "bench", or "bench-smoke" with --smoke) on free
127.0.0.1 ports and destroys it at the end, whatever happens. Installs
nginx-light with apt-get when missing (root on Debian). Full run: ~20-25 min
plus B7's hour, results in bench/results/ (results.json, README.md,
b5-rotation.svg, b7-soak.svg).

  --smoke        tiny sizes (about 8 min, B7 soaks 2 min): every code path, nothing
                 measured; results in bench/tmp/ (git-ignored). Fails if anything failed.
  --minutes N    length of the B7 soak (default 60; 2 with --smoke)
  --only LIST    comma-separated subset of ${ALL.join(',')}
  --rounds N     rounds per compared pair (default 3; 1 with --smoke)
  --out DIR      write the results there instead (e.g. a partial --only run)
  --merge        replace only the benchmarks run now in the results already
                 there (each keeps its own date and commit), e.g. --only b7 --merge
  --prefix NAME  stack prefix (default bench / bench-smoke)
  --json         the results document on stdout
  -h, --help     this text`;

await main(async () => {
  const cli = parseCli(
    process.argv.slice(2),
    {
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      minutes: { type: 'string' },
      out: { type: 'string' },
      merge: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (cli.help) return void console.log(HELP);
  const smoke = Boolean(cli.values.smoke);
  const only = cli.values.only
    ? String(cli.values.only)
        .split(',')
        .map((s) => s.trim().toLowerCase())
    : ALL;
  const unknown = only.filter((x) => !ALL.includes(x as BenchId));
  if (unknown.length) throw new UserError(`--only: unknown benchmark(s) ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  const selected = new Set(only as BenchId[]);
  const rounds = smoke ? 1 : positiveInt('rounds', cli.values.rounds, 3);
  const soakMinutes = positiveInt('minutes', cli.values.minutes, smoke ? 2 : 60);
  const prefix = cli.values.prefix ?? (smoke ? 'bench-smoke' : 'bench');
  const ui = createUi({ json: cli.json });
  const started = Date.now();
  const startedAt = new Date().toISOString();
  const dirs = { ...benchDirs(smoke, prefix), ...(cli.values.out ? { results: path.resolve(String(cli.values.out)) } : {}) };

  // Fail before deploying anything if a load generator is missing.
  if (['b3', 'b5', 'b6', 'b7'].some((id) => selected.has(id as BenchId))) requireAutocannon();
  await ensureToolchain(ui, { engine: engineSettings(process.env).engine });
  if (selected.has('b4')) await ui.step('nginx (Debian nginx-light) for B4', ensureNginx);
  const machine = await describeMachine();

  const settings = await benchSettings(prefix);
  const results: BenchResult[] = [];
  const problems: string[] = [];
  let chart: RotationChart | undefined;
  let soakChart: RssChart | undefined;
  const b8 = await b8Settings(prefix);
  const previous = cli.values.merge ? await readReport(dirs.results) : await readReport(dirs.results).catch(() => undefined);
  if (cli.values.merge && previous && previous.mode !== (smoke ? 'smoke' : 'full'))
    throw new UserError(`--merge: ${dirs.results} holds a ${previous.mode} run; merge a ${smoke ? 'smoke' : 'full'} run into results of the same mode`);
  const commit = await sourceCommit();
  /** Runs one benchmark: its result, or its crash, is recorded; one broken benchmark must not hide the others' results, and the run still fails. */
  const record = async (id: BenchId, run: () => Promise<BenchResult>) => {
    try {
      const r = { ...(await run()), measuredAt: new Date().toISOString(), commit };
      results.push(r);
      problems.push(...r.problems.map((p) => `${id.toUpperCase()}: ${p}`));
      if (!cli.json) process.stderr.write(`\n${r.title}\n${table(r.rows.map((x) => ({ metric: x.metric, value: x.value })))}\n\n`);
    } catch (err) {
      problems.push(`${id.toUpperCase()} crashed: ${(err as Error).message}`);
      ui.warn(`${id.toUpperCase()} failed: ${(err as Error).message}`);
    }
  };
  await ui.step(`remove leftovers of earlier ${prefix} runs`, async () => {
    await teardown(settings, { viaCdktf: false });
    await teardown({ prefix: `${prefix}-b1` }, { viaCdktf: false });
    await teardown(b8, { viaCdktf: false });
    await teardown({ prefix: `${prefix}-b10` }, { viaCdktf: false });
    await teardown({ prefix: `${prefix}-b11` }, { viaCdktf: false });
  });
  await fs.remove(dirs.scratch);
  await fs.mkdirp(dirs.scratch);
  // Interrupted (Ctrl-C, CI timeout): take the stacks down before exiting.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: destroying the bench stacks before exiting…\n`);
    void Promise.allSettled([
      teardown(settings, { viaCdktf: true }),
      teardown({ prefix: `${prefix}-b1` }, { viaCdktf: false }),
      teardown(b8, { viaCdktf: false }),
      teardown({ prefix: `${prefix}-b10` }, { viaCdktf: false }),
      teardown({ prefix: `${prefix}-b11` }, { viaCdktf: false }),
      fs.remove(dirs.scratch),
    ]).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let benchStackUsed = false;
  try {
    await ui.step('bundle services', buildServices);
    // B10 first, on a stack of its own, with nothing else of the benchmark on the engine.
    if (selected.has('b10')) await record('b10', () => b10IdleCost({ ui, smoke, prefix: `${prefix}-b10` }));
    if (selected.has('b11')) await record('b11', () => b11MeshSize({ ui, smoke, scratch: dirs.scratch, prefix: `${prefix}-b11` }));
    // The others share the bench stack (the Node reference pair).
    const onBenchStack = async () => {
      benchStackUsed = true;
      const mainDeploy = await ui.step(`deploy the bench stack "${prefix}" (cdktf), bootstrap trust, enroll, first client 200`, () =>
        bringUpWithCdktf(settings),
      );
      const stack = await loadStack(prefix);
      const rootPem = await fs.readFile(path.join(stackDirs(prefix).stateDir, 'step', 'certs', 'root_ca.crt'), 'utf8');
      const operator = await ui.step('host identity spiffe://mesh.internal/operator from the CA (one-time token)', () =>
        // B7 gets one of its own for its soak; the others finish well within this.
        operatorIdentity(stack, rootPem, path.join(dirs.scratch, 'operator'), 50),
      );
      const ctx: BenchContext = { smoke, rounds, soakMinutes, ui, settings, stack, rootPem, operator, scratch: dirs.scratch, elapsed: () => seconds(started) };
      // B5 re-enrolls with short certificates, so it runs after the CPU-bound
      // benchmarks; B1 brings up whole stacks of its own, so it runs last.
      const plan: Array<[BenchId, () => Promise<BenchResult>]> = [
        ['b2', () => b2Enrollment(ctx)],
        // B9 first on the server: its RSS must start from a process no other benchmark has loaded.
        ['b9', () => b9Churn(ctx)],
        ['b3', () => b3KeepAlive(ctx)],
        ['b4', () => b4Handshakes(ctx)],
        ['b6', () => b6CaCapacity(ctx)],
        [
          'b5',
          async () => {
            const r = await b5Rotation(ctx);
            chart = r.chart;
            const { chart: _c, ...rest } = r;
            return rest;
          },
        ],
        // B7 soaks with 1-minute certificates, after the others' measurements.
        [
          'b7',
          async () => {
            const r = await b7Soak(ctx);
            soakChart = r.chart;
            const { chart: _c, ...rest } = r;
            return rest;
          },
        ],
        // B8 rotates the CA of a stack of its own (the main stack's CA log holds B6's renewals).
        ['b8', () => b8CaRotation(ctx)],
        ['b1', () => b1BringUp(ctx, { mainDeploy })],
      ];
      for (const [id, run] of plan) if (selected.has(id)) await record(id, run);
    };
    if ([...selected].some((id) => id !== 'b10' && id !== 'b11')) await onBenchStack();
    results.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  } finally {
    problems.push(...(await ui.step(`destroy the bench stack "${prefix}"`, () => teardown(settings, { viaCdktf: benchStackUsed }))));
    await teardown({ prefix: `${prefix}-b1` }, { viaCdktf: false });
    await teardown(b8, { viaCdktf: false });
    await teardown({ prefix: `${prefix}-b10` }, { viaCdktf: false });
    await fs.remove(dirs.scratch);
    const left = await containersNamed(`${prefix}-`);
    if (left.length) problems.push(`containers left behind: ${left.join(', ')} (remove them with docker rm -f)`);
  }

  const measured: Report = {
    mode: smoke ? 'smoke' : 'full',
    machine,
    startedAt,
    finishedAt: new Date().toISOString(),
    totalSeconds: (Date.now() - started) / 1000,
    stack: {
      prefix,
      certLifetime: settings.certLifetime,
      minCertLifetime: settings.minCertLifetime,
      maxCertLifetime: settings.maxCertLifetime,
      clientRate: settings.clientRate,
    },
    benchmarks: results,
    problems,
  };
  // The same mode only: a smoke run's figures are no "before" of a full run's.
  const before = previous?.mode === measured.mode ? previous : undefined;
  const report = previous && cli.values.merge ? mergeReports(previous, withBefore(measured, before)) : withBefore(measured, before);
  const written = await writeReport(dirs.results, report);
  const charts = await writeCharts(dirs.results, report, { b5: chart, b7: soakChart, soakMinutes });
  if (cli.json) console.log(JSON.stringify(report, null, 2));
  else
    console.log(
      `results: ${path.relative(process.cwd(), written.markdown)}, ${path.relative(process.cwd(), written.json)}${charts.map((f) => `, ${f}`).join('')} (${seconds(started)})`,
    );
  if (problems.length) {
    throw new UserError(
      `the benchmark finished with ${problems.length} problem(s):\n- ${problems.join('\n- ')}\nThe partial results are in ${path.relative(process.cwd(), dirs.results)}. Fix the first problem (its message says where to look) and run again; --only ${'<id>'} reruns one benchmark.`,
    );
  }
});
