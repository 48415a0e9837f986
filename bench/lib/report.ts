import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';
import type { BenchResult } from './context.js';
import type { Machine } from './machine.js';

export interface Report {
  readonly mode: 'full' | 'smoke';
  readonly machine: Machine;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly totalSeconds: number;
  readonly stack: Record<string, unknown>;
  readonly benchmarks: readonly BenchResult[];
  readonly problems: readonly string[];
  /** Put together by --merge from more than one run: each benchmark's section gives its own date and commit. */
  readonly merged?: boolean;
}

/** The commit the measured code is at, with "+changes" when the tree differs from it. */
export async function sourceCommit(): Promise<string> {
  const head = await $({ quiet: true, nothrow: true })`git rev-parse --short=12 HEAD`;
  if (head.exitCode !== 0) return 'unknown';
  const dirty = await $({ quiet: true, nothrow: true })`git status --porcelain --untracked-files=no`;
  return `${head.stdout.trim()}${dirty.stdout.trim() ? '+changes' : ''}`;
}

/** The results.json already in `dir` (for --merge); a clear error when there is none or it is not one. */
export async function readReport(dir: string): Promise<Report> {
  const file = path.join(dir, 'results.json');
  if (!(await fs.pathExists(file))) throw new UserError(`--merge: ${file} does not exist; run without --merge first`);
  const report = (await fs.readJson(file)) as Report;
  if (!Array.isArray(report.benchmarks) || typeof report.mode !== 'string') throw new UserError(`--merge: ${file} is not a benchmark results document`);
  return report;
}

/**
 * `next`'s benchmarks replace those with the same id in `previous`; the
 * others stay, each with its own date and commit, and so do their problems.
 */
export function mergeReports(previous: Report, next: Report): Report {
  const replaced = new Set(next.benchmarks.map((b) => b.id));
  const kept = previous.benchmarks
    .filter((b) => !replaced.has(b.id))
    .map((b) => ({ ...b, measuredAt: b.measuredAt ?? previous.finishedAt, commit: b.commit ?? 'unknown' }));
  const ownProblem = (p: string) => [...replaced].some((id) => p.startsWith(`${id.toUpperCase()}:`) || p.startsWith(`${id.toUpperCase()} `));
  return {
    ...next,
    merged: true,
    startedAt: [previous.startedAt, next.startedAt].sort()[0]!,
    totalSeconds: previous.totalSeconds + next.totalSeconds,
    benchmarks: [...kept, ...next.benchmarks].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })),
    problems: [...previous.problems.filter((p) => !ownProblem(p)), ...next.problems],
  };
}

/**
 * Each benchmark of `next` gets, per metric, the value the same benchmark
 * had in `previous` (the results it replaces): the "before" column.
 */
export function withBefore(next: Report, previous: Report | undefined): Report {
  if (!previous) return next;
  return {
    ...next,
    benchmarks: next.benchmarks.map((b) => {
      const old = previous.benchmarks.find((x) => x.id === b.id);
      if (!old) return b;
      const was = new Map(old.rows.map((r) => [r.metric, r.value]));
      return {
        ...b,
        rows: b.rows.map((r) => {
          const before = was.get(r.metric) ?? (r.formerly === undefined ? undefined : was.get(r.formerly));
          return before === undefined ? r : { ...r, before };
        }),
        replaced: { measuredAt: old.measuredAt ?? previous.finishedAt, commit: old.commit ?? 'unknown' },
      };
    }),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** results.json + README.md (+ the B5 chart, written by the caller) in `dir`. */
export async function writeReport(dir: string, report: Report): Promise<{ json: string; markdown: string }> {
  await fs.mkdirp(dir);
  const json = path.join(dir, 'results.json');
  const markdown = path.join(dir, 'README.md');
  await fs.writeJson(json, report, { spaces: 2 });
  await fs.writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}

export function renderMarkdown(r: Report): string {
  const m = r.machine;
  const lines: string[] = [
    `# Benchmark results${r.mode === 'smoke' ? ' (smoke run — sizes too small to mean anything)' : ''}`,
    '',
    (r.merged
      ? `Produced by \`npm run bench\` (bench/run.ts) in more than one run between ${r.startedAt} and ${r.finishedAt} (\`--only … --merge\`, on the machine below); each section says when and on which commit it was measured. `
      : `Produced by \`npm run bench${r.mode === 'smoke' ? ' -- --smoke' : ''}\` (bench/run.ts) on ${r.startedAt} in ${Math.round(r.totalSeconds)} s. `) +
      'The machine is shared and noisy, so the figures that matter are the **ratios of variants measured side by side in this run** ' +
      '(rounds alternate the order; median with min–max over rounds). Absolute numbers describe this machine only. ' +
      'The charts are drawn from the data kept in results.json; `npm run bench:charts` redraws them from it without measuring anything.',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| CPUs (nproc) | ${m.nproc} |`,
    `| CPU model | ${cell(m.cpuModel)} |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| kernel | ${cell(m.kernel)} |`,
    `| Docker server | ${m.dockerServer} |`,
    `| Node (host) | ${m.node} |`,
    `| OpenSSL (host) | ${cell(m.openssl)} |`,
    ...(m.nginx ? [`| nginx | ${cell(m.nginx)} |`] : []),
    `| date | ${m.date} |`,
    '',
    '## Summary',
    '',
    '"before" is the same figure in the results these replaced (each section says when and on which commit that was measured); empty for a new metric, or where the figure was not re-measured.',
    '',
    '| benchmark | metric | value | before |',
    '|---|---|---|---|',
    ...r.benchmarks.flatMap((b) =>
      b.rows.map((row, i) => `| ${i === 0 ? b.id.toUpperCase() : ''} | ${cell(row.metric)} | ${cell(row.value)} | ${cell(row.before ?? '')} |`),
    ),
    '',
    r.problems.length
      ? `**Problems in this run:** ${r.problems.map(cell).join('; ')}`
      : 'No check failed in this run (every request and handshake counted succeeded unless a row says otherwise).',
    '',
  ];
  for (const b of r.benchmarks) {
    const when = (at: string) => `${at.slice(0, 16).replace('T', ' ')} UTC`;
    const stamp = b.measuredAt
      ? `*Measured ${when(b.measuredAt)}${b.commit ? ` on commit ${b.commit}` : ''}.${b.replaced ? ` "Before": measured ${when(b.replaced.measuredAt)} on commit ${b.replaced.commit}.` : ''}*`
      : '';
    lines.push(
      `## ${b.title}`,
      '',
      ...(stamp ? [stamp, ''] : []),
      `**Method.** ${b.method}`,
      '',
      '**What limits these figures.**',
      '',
      ...b.limits.map((l) => `- ${l}`),
      '',
      ...(b.details?.length ? [...b.details, ''] : []),
    );
    if (b.id === 'b5') lines.push('![B5: certificate validity windows, rotations, request rate and failures](b5-rotation.svg)', '');
    if (b.id === 'b7') lines.push('![B7: RSS of each Node process over the soak, fitted slope, rotations](b7-soak.svg)', '');
  }
  lines.push(
    '## Reproduce',
    '',
    '```sh',
    'npm ci',
    'npm run bench            # full run, ~20-25 min plus B7, writes bench/results/',
    'npm run bench -- --smoke # CI: tiny sizes, writes bench/tmp/',
    '```',
    '',
  );
  return lines.join('\n');
}
