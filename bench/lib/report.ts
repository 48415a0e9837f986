import path from 'node:path';
import { fs } from 'zx';
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
    `Produced by \`npm run bench${r.mode === 'smoke' ? ' -- --smoke' : ''}\` (bench/run.ts) on ${r.startedAt} in ${Math.round(r.totalSeconds)} s. ` +
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
    '| benchmark | metric | value |',
    '|---|---|---|',
    ...r.benchmarks.flatMap((b) => b.rows.map((row, i) => `| ${i === 0 ? b.id.toUpperCase() : ''} | ${cell(row.metric)} | ${cell(row.value)} |`)),
    '',
    r.problems.length ? `**Problems in this run:** ${r.problems.map(cell).join('; ')}` : 'No check failed in this run (every request and handshake counted succeeded unless a row says otherwise).',
    '',
  ];
  for (const b of r.benchmarks) {
    lines.push(`## ${b.title}`, '', `**Method.** ${b.method}`, '', '**What limits these figures.**', '', ...b.limits.map((l) => `- ${l}`), '');
    if (b.id === 'b5') lines.push('![B5: certificate validity windows, rotations, request rate and failures](b5-rotation.svg)', '');
    if (b.id === 'b7') lines.push('![B7: RSS of each Node process over the soak, fitted slope, rotations](b7-soak.svg)', '');
  }
  lines.push('## Reproduce', '', '```sh', 'npm ci', 'npm run bench            # full run, ~10-15 min, writes bench/results/', 'npm run bench -- --smoke # CI: tiny sizes, writes bench/tmp/', '```', '');
  return lines.join('\n');
}
