// --merge and B8's cutover arithmetic: a partial run replaces only its own
// benchmarks, and renewals are told apart by the chain they landed on.
import { describe, expect, it } from 'vitest';

import type { BenchResult } from '../../../bench/lib/context.js';
import { cutover } from '../../../bench/lib/renewal-load.js';
import { mergeReports, renderMarkdown, type Report, withBefore } from '../../../bench/lib/report.js';

const machine = { nproc: 2, cpuModel: 'cpu', memoryGiB: 24, kernel: 'k', dockerServer: '26', node: 'v20', openssl: 'OpenSSL 3', date: 'd' };
const result = (id: BenchResult['id'], value: string, extra: Partial<BenchResult> = {}): BenchResult => ({
  id,
  title: `${id.toUpperCase()} title`,
  method: 'm',
  limits: [],
  rows: [{ metric: 'figure', value }],
  data: {},
  problems: [],
  ...extra,
});
const report = (benchmarks: BenchResult[], extra: Partial<Report> = {}): Report => ({
  mode: 'full',
  machine,
  startedAt: '2026-11-01T10:00:00.000Z',
  finishedAt: '2026-11-01T10:15:00.000Z',
  totalSeconds: 900,
  stack: {},
  benchmarks,
  problems: [],
  ...extra,
});

describe('mergeReports', () => {
  it('replaces the benchmarks run now, keeps the others with their own date, and keeps only the problems of what it kept', () => {
    const before = report([result('b3', 'old b3'), result('b7', 'old b7')], { problems: ['B3: slow', 'B7: leak'] });
    const now = report([result('b7', 'new b7', { measuredAt: '2026-12-01T12:00:00.000Z', commit: 'abc' })], {
      startedAt: '2026-12-01T11:00:00.000Z',
      finishedAt: '2026-12-01T12:00:00.000Z',
      totalSeconds: 3600,
    });
    const merged = mergeReports(before, now);
    expect(merged.benchmarks.map((b) => [b.id, b.rows[0]!.value, b.measuredAt, b.commit])).toEqual([
      ['b3', 'old b3', '2026-11-01T10:15:00.000Z', 'unknown'],
      ['b7', 'new b7', '2026-12-01T12:00:00.000Z', 'abc'],
    ]);
    expect(merged.problems).toEqual(['B3: slow']);
    expect([merged.merged, merged.startedAt, merged.finishedAt]).toEqual([true, '2026-11-01T10:00:00.000Z', '2026-12-01T12:00:00.000Z']);
  });

  it('says in the README that the figures come from several runs, and when each section was measured', () => {
    const md = renderMarkdown(
      mergeReports(report([result('b3', 'x')]), report([result('b8', 'y', { measuredAt: '2026-12-01T12:00:00.000Z', commit: 'abc' })])),
    );
    expect(md).toContain('in more than one run');
    expect(md).toContain('*Measured 2026-12-01 12:00 UTC on commit abc.*');
    expect(md).toContain('*Measured 2026-11-01 10:15 UTC on commit unknown.*');
  });
});

describe('withBefore', () => {
  it('finds the before value of a renamed figure under its former name', () => {
    const previous = report([
      {
        ...result('b1', 'x'),
        rows: [
          { metric: 'cdktf deploy: apply', value: '9.78 s' },
          { metric: 'figure', value: '1' },
        ],
      },
    ]);
    const next = report([
      {
        ...result('b1', 'x'),
        rows: [
          { metric: 'deploy: apply', value: '3.1 s', formerly: 'cdktf deploy: apply' },
          { metric: 'other', value: '2', formerly: 'gone' },
        ],
      },
    ]);
    expect(withBefore(next, previous).benchmarks[0]!.rows).toEqual([
      { metric: 'deploy: apply', value: '3.1 s', formerly: 'cdktf deploy: apply', before: '9.78 s' },
      { metric: 'other', value: '2', formerly: 'gone' },
    ]);
  });

  it('gives each re-measured figure the value it replaces, says when that was measured, and leaves new metrics and benchmarks alone', () => {
    const previous = report([result('b1', '4.66×', { measuredAt: '2026-11-30T09:33:00.000Z', commit: 'old' })]);
    const next = report([
      {
        ...result('b1', '3.81×'),
        rows: [
          { metric: 'figure', value: '3.81×' },
          { metric: 'new metric', value: '5 s' },
        ],
        measuredAt: '2026-12-01T11:40:00.000Z',
        commit: 'new',
      },
      result('b8', '0 failed'),
    ]);
    const out = withBefore(next, previous);
    expect(out.benchmarks[0]!.rows).toEqual([
      { metric: 'figure', value: '3.81×', before: '4.66×' },
      { metric: 'new metric', value: '5 s' },
    ]);
    expect(out.benchmarks[0]!.replaced).toEqual({ measuredAt: '2026-11-30T09:33:00.000Z', commit: 'old' });
    expect(out.benchmarks[1]).toEqual(next.benchmarks[1]);
    expect(withBefore(next, undefined)).toBe(next);
    const md = renderMarkdown(out);
    expect(md).toContain('| B1 | figure | 3.81× | 4.66× |');
    expect(md).toContain('|  | new metric | 5 s |  |');
    expect(md).toContain('"Before": measured 2026-11-30 09:33 UTC on commit old.');
  });
});

describe('cutover', () => {
  it('counts renewals per chain and failures, and measures the gap between the last old and the first new answer', () => {
    const c = cutover(
      [
        { at: 100, intermediate: 'old' },
        { at: 200, intermediate: 'old' },
        { at: 250, error: 'ECONNRESET' },
        { at: 400, intermediate: 'new' },
        { at: 500, intermediate: 'new' },
      ],
      'old',
      'new',
    );
    expect(c).toEqual({ onOld: 2, onNew: 2, failed: 1, retriedAfterClose: 0, errors: { ECONNRESET: 1 }, lastOld: 200, firstNew: 400, gapMs: 200 });
  });

  it('counts a renewal retried after the CA closed its connection apart from a failure, and keeps both reasons', () => {
    const c = cutover(
      [
        { at: 100, intermediate: 'new', retriedAfterClose: 'socket hang up' },
        { at: 120, error: 'HTTP 500: x', retriedAfterClose: 'ECONNRESET' },
      ],
      'old',
      'new',
    );
    expect([c.onNew, c.failed, c.retriedAfterClose, c.errors]).toEqual([1, 1, 2, { 'socket hang up': 1, 'HTTP 500: x': 1, ECONNRESET: 1 }]);
  });

  it('reports an overlap as a negative gap, and no gap when one side is missing', () => {
    expect(
      cutover(
        [
          { at: 100, intermediate: 'new' },
          { at: 150, intermediate: 'old' },
        ],
        'old',
        'new',
      ).gapMs,
    ).toBe(-50);
    expect(cutover([{ at: 100, intermediate: 'old' }], 'old', 'new').gapMs).toBeUndefined();
  });
});
