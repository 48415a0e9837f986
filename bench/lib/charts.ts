import path from 'node:path';

import { fs } from 'zx';

import type { Report } from './report.js';
import { type RssChart, rssSvg } from './rss-svg.js';
import { type RotationChart, rotationSvg } from './svg.js';

/** File names of the charts next to results.json. */
export const CHART_FILES = { b5: 'b5-rotation.svg', b7: 'b7-soak.svg' } as const;

/**
 * Writes the charts of a run into `dir`, titled from the report (mode, start
 * time); used by the runner and by render-charts.ts, which re-renders them
 * from a committed results.json. Returns the file names written.
 */
export async function writeCharts(
  dir: string,
  report: Pick<Report, 'mode' | 'startedAt' | 'benchmarks'>,
  charts: { b5?: RotationChart; b7?: RssChart; soakMinutes?: number },
): Promise<string[]> {
  const written: string[] = [];
  // A merged report mixes runs: each chart is titled with its own benchmark's time.
  const run = (id: 'b5' | 'b7') => `${report.mode} run, ${(report.benchmarks.find((b) => b.id === id)?.measuredAt ?? report.startedAt).slice(0, 16)}Z`;
  if (charts.b5) {
    await fs.writeFile(path.join(dir, CHART_FILES.b5), rotationSvg(charts.b5, `B5: rotation under load (${run('b5')})`));
    written.push(CHART_FILES.b5);
  }
  if (charts.b7) {
    const minutes = charts.soakMinutes ?? Math.round((charts.b7.endedAt - charts.b7.startedAt) / 60_000);
    await fs.writeFile(
      path.join(dir, CHART_FILES.b7),
      rssSvg(charts.b7, `B7: RSS of each Node process, ${minutes} min soak, 1-minute certificates`, run('b7')),
    );
    written.push(CHART_FILES.b7);
  }
  return written;
}
