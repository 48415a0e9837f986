#!/usr/bin/env tsx
/**
 * Re-renders the charts of a finished run from its results.json (the data
 * each chart was drawn from is kept there), without measuring anything:
 * `npm run bench:charts [-- DIR]` (default bench/results).
 */
import path from 'node:path';

import { fs } from 'zx';

import { main, UserError } from '../scripts/lib/cli/ui.js';
import { projectDir } from '../scripts/lib/deploy/stack-instance.js';
import { writeCharts } from './lib/charts.js';
import type { Report } from './lib/report.js';
import type { RssChart } from './lib/rss-svg.js';
import type { RotationChart } from './lib/svg.js';

const HELP = `Usage: npm run bench:charts [-- DIR]

Reads DIR/results.json (default bench/results) and rewrites the charts of the
benchmarks it holds (b5-rotation.svg, b7-soak.svg) in DIR. Measures nothing.`;

await main(async () => {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) return void console.log(HELP);
  if (args.length > 1) throw new UserError(`expected at most one directory, got: ${args.join(' ')}\n\n${HELP}`);
  const dir = path.resolve(args[0] ?? path.join(projectDir, 'bench', 'results'));
  const file = path.join(dir, 'results.json');
  if (!(await fs.pathExists(file))) throw new UserError(`${file} not found: run npm run bench first, or name the directory that holds results.json`);
  let report: Report;
  try {
    report = JSON.parse(await fs.readFile(file, 'utf8')) as Report;
  } catch (err) {
    throw new UserError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(report.benchmarks) || typeof report.startedAt !== 'string' || typeof report.mode !== 'string') {
    throw new UserError(`${file} is not a benchmark results document (no benchmarks / startedAt / mode)`);
  }
  const results: readonly { readonly id: string; readonly data?: unknown }[] = report.benchmarks;
  const chartOf = <T>(id: string) => (results.find((b) => b.id === id)?.data as { chart?: T } | undefined)?.chart;
  const b5 = chartOf<RotationChart>('b5');
  const b7 = chartOf<RssChart>('b7');
  const soakMinutes = (results.find((b) => b.id === 'b7')?.data as { minutes?: number } | undefined)?.minutes;
  const written = await writeCharts(dir, report, { b5, b7, soakMinutes });
  if (!written.length) throw new UserError(`${file} holds no chart data (no B5 or B7 result)`);
  console.log(`rewrote ${written.map((f) => path.relative(process.cwd(), path.join(dir, f))).join(', ')}`);
});
