import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { writeCharts } from '../../../bench/lib/charts.js';
import type { Report } from '../../../bench/lib/report.js';
import { type RssChart, rssSvg } from '../../../bench/lib/rss-svg.js';
import { type RotationChart, rotationSvg } from '../../../bench/lib/svg.js';
import { packRows, textWidth, wrapText } from '../../../bench/lib/svg-layout.js';
import { outside, overlaps, textBoxes } from './svg-boxes.js';

const results = path.join(__dirname, '..', '..', '..', 'bench', 'results');
const T0 = Date.UTC(2026, 10, 27, 0, 20, 45);

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Dense B5 input: many short-lived, overlapping certificates per workload, rotations seconds apart. */
function denseRotation(workloads: number, certs: number, seconds: number): RotationChart {
  return {
    startedAt: T0,
    endedAt: T0 + seconds * 1000,
    workloads: Array.from({ length: workloads }, (_, w) => ({
      name: ['server', 'client', 'a-workload-with-a-long-name', 'w'][w % 4]!,
      certificates: Array.from({ length: certs }, (_, i) => ({
        serial: `${(i * 7919 + w).toString(16).toUpperCase().padStart(8, '0')}ABCDEF0123456789`,
        notBefore: T0 - 60_000 + (i * seconds * 1000) / certs,
        notAfter: T0 + (i * seconds * 1000) / certs + 2_000 + (i % 3) * 500,
      })),
      reloads: Array.from({ length: certs }, (_, i) => T0 + (i * seconds * 1000) / certs + 300),
      writes: Array.from({ length: certs }, (_, i) => T0 + (i * seconds * 1000) / certs),
    })),
    traffic: Array.from({ length: seconds }, (_, i) => ({ at: T0 + i * 1000, ok: 180 + (i % 7) * 3, failed: i % 11 === 0 ? 4 : 0 })),
  };
}

function expectReadable(svg: string) {
  const { boxes } = textBoxes(svg);
  expect(boxes.length).toBeGreaterThan(5);
  expect(overlaps(boxes)).toEqual([]);
  expect(outside(svg)).toEqual([]);
}

describe('svg layout arithmetic', () => {
  it('packRows never puts two intersecting extents (plus the gap) in one row', () => {
    const next = rng(7);
    const extents = Array.from({ length: 300 }, () => {
      const start = next() * 800;
      return { start, end: start + 5 + next() * 120 };
    });
    const rows = packRows(extents, 4);
    extents.forEach((a, i) =>
      extents.forEach((b, j) => {
        if (i < j && rows[i] === rows[j]) expect(a.end + 4 <= b.start || b.end + 4 <= a.start, `${i} and ${j} share row ${rows[i]}`).toBe(true);
      }),
    );
    // Disjoint extents share the first row.
    expect(
      packRows([
        { start: 0, end: 10 },
        { start: 20, end: 30 },
        { start: 40, end: 50 },
      ]),
    ).toEqual([0, 0, 0]);
    expect(
      packRows([
        { start: 0, end: 10 },
        { start: 5, end: 30 },
        { start: 12, end: 50 },
      ]),
    ).toEqual([0, 1, 2]);
  });

  it('wrapText keeps every line within the width and loses no word', () => {
    const caption =
      'Bars: certificate validity, clipped to the window (full range in the tooltips) '.repeat(6) +
      'Averyveryverylongwordwithoutanyspacesthatcannotfitononelineatall';
    const lines = wrapText(caption, 10, 200);
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(textWidth(line, 10)).toBeLessThanOrEqual(200);
    expect(lines.join('').replace(/\s/g, '')).toBe(caption.replace(/\s/g, ''));
  });

  it('textWidth grows with the text and the font size, and estimates capitals wider than lowercase', () => {
    expect(textWidth('6E91C5CD', 9)).toBeGreaterThan(textWidth('6e91c5cd', 9) - 1e-9);
    expect(textWidth('server certs', 12)).toBeGreaterThan(textWidth('server certs', 10));
    expect(textWidth('abc', 10, true)).toBeGreaterThan(textWidth('abc', 10));
  });
});

describe('B5 rotation chart', () => {
  it('the committed b5-rotation.svg is rendered from the committed results.json, with no overlapping or clipped text', async () => {
    const report = JSON.parse(readFileSync(path.join(results, 'results.json'), 'utf8')) as Report;
    const chart = (report.benchmarks.find((b) => b.id === 'b5')?.data as { chart?: RotationChart } | undefined)?.chart;
    expect(chart?.workloads.length).toBeGreaterThan(0);
    // Through the runner's own writer: a merged report titles B5 with B5's own time.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'charts-committed-'));
    let svg: string;
    try {
      await writeCharts(dir, report, { b5: chart! });
      svg = readFileSync(path.join(dir, 'b5-rotation.svg'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(svg).toContain(`B5: rotation under load (${report.mode} run, `);
    expect(readFileSync(path.join(results, 'b5-rotation.svg'), 'utf8')).toBe(svg);
    expectReadable(svg);
    // Every certificate of the run is drawn, with its serial's first 8 digits.
    const serials = chart!.workloads.flatMap((w) => w.certificates.map((c) => c.serial));
    expect(serials.length).toBeGreaterThan(0);
    for (const serial of serials) expect(svg).toContain(`>${serial.slice(0, 8)}</text>`);
  });

  it.each([
    [2, 4, 60],
    [4, 20, 30],
    [3, 40, 600],
    [1, 1, 2],
  ])('%i workloads × %i certificates over %i s: no text overlaps, nothing leaves the viewBox', (workloads, certs, seconds) => {
    const chart = denseRotation(workloads, certs, seconds);
    expectReadable(
      rotationSvg(chart, 'B5: rotation under load (full run, 2026-11-27T00:15Z) with a title long enough that it has to wrap onto a second line of the chart'),
    );
  });

  it('labels the axes with their units', () => {
    const { boxes } = textBoxes(rotationSvg(denseRotation(2, 4, 60), 'B5'));
    const texts = boxes.map((b) => b.text);
    expect(texts).toContain('requests/s');
    expect(texts.some((t) => t.startsWith('time since the start of the load, in seconds'))).toBe(true);
    expect(texts).toContain('30s');
  });

  it('escapes names and serials that look like markup', () => {
    const chart = denseRotation(1, 2, 10);
    const svg = rotationSvg({ ...chart, workloads: [{ ...chart.workloads[0]!, name: '<x&"y>' }] }, 'B5 <&>');
    expect(svg).not.toContain('<x&');
    expect(svg).toContain('&lt;x&amp;&quot;y&gt; certs');
  });
});

describe('B7 soak chart', () => {
  function soak(processes: number, minutes: number, steadyAt: number): RssChart {
    const end = T0 + minutes * 60_000;
    return {
      startedAt: T0,
      endedAt: end,
      steadyFrom: T0 + steadyAt * (end - T0),
      limitMb: 192,
      slopeJudged: minutes >= 20,
      processes: Array.from({ length: processes }, (_, p) => ({
        name: p === 2 ? 'a-renewer-sidecar-with-a-rather-long-container-name-for-the-legend' : `process-${p}`,
        samples: Array.from({ length: 50 }, (_, i) => ({ at: T0 + (i / 49) * (end - T0), rssMb: 60 + p * 10 + i * 0.2 })),
        fit: { slopeMbPerHour: p === 1 ? Number.NaN : 1.23, interceptMb: 60 },
        rotations: Array.from({ length: minutes }, (_, i) => T0 + i * 60_000),
      })),
    };
  }

  it.each([
    [2, 60, 0.2],
    [4, 2, 0.99],
    [3, 1440, 0.5],
  ])('%i processes over %i min: no text overlaps, nothing leaves the viewBox, axes carry units', (processes, minutes, steadyAt) => {
    const svg = rssSvg(
      soak(processes, minutes, steadyAt),
      'B7: RSS of each Node process, 60 min soak, 1-minute certificates, and a title long enough to wrap',
      'full run 2026-11-27T00:15Z',
    );
    expectReadable(svg);
    const texts = textBoxes(svg).boxes.map((b) => b.text);
    expect(texts).toContain('RSS (MB)');
    expect(texts).toContain('minutes since the start of the soak');
  });
});

describe('writeCharts (the runner and npm run bench:charts)', () => {
  it('writes the charts it has data for, titled from the run, and only those', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'charts-'));
    try {
      const b5 = denseRotation(2, 4, 60);
      const b7: RssChart = {
        startedAt: T0,
        endedAt: T0 + 120_000,
        steadyFrom: T0 + 30_000,
        limitMb: 192,
        slopeJudged: false,
        processes: [{ name: 'server (node)', samples: [{ at: T0, rssMb: 70 }], fit: { slopeMbPerHour: 1, interceptMb: 70 }, rotations: [] }],
      };
      expect(await writeCharts(dir, { mode: 'smoke', startedAt: '2026-11-28T02:50:12.345Z', benchmarks: [] }, { b5 })).toEqual(['b5-rotation.svg']);
      expect(readdirSync(dir)).toEqual(['b5-rotation.svg']);
      expect(readFileSync(path.join(dir, 'b5-rotation.svg'), 'utf8')).toBe(rotationSvg(b5, 'B5: rotation under load (smoke run, 2026-11-28T02:50Z)'));
      // Merged results: the B7 chart is titled with B7's own time, not the first run's.
      const merged = {
        mode: 'full' as const,
        startedAt: '2026-11-28T02:50:12.345Z',
        benchmarks: [{ id: 'b7' as const, title: 'B7', method: '', limits: [], rows: [], data: {}, problems: [], measuredAt: '2026-12-01T12:40:00.000Z' }],
      };
      expect(await writeCharts(dir, merged, { b7 })).toEqual(['b7-soak.svg']);
      expect(readFileSync(path.join(dir, 'b7-soak.svg'), 'utf8')).toBe(
        rssSvg(b7, 'B7: RSS of each Node process, 2 min soak, 1-minute certificates', 'full run, 2026-12-01T12:40Z'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
