// B7's arithmetic and chart: the slope that fails a soak, and an SVG that says what it shows.
import { describe, expect, it } from 'vitest';

import { describeStatuses, fullGcEveryMs, isFullGcPoint, longestGapSeconds, MIN_FULL_GC_POINTS, warmupMs } from '../../../bench/b7-soak.js';
import { summariseChurn } from '../../../bench/b9-churn.js';
import { rssSvg } from '../../../bench/lib/rss-svg.js';
import { linearFit } from '../../../bench/lib/stats.js';

describe('linearFit', () => {
  it('recovers slope and intercept of a noisy-free line, and refuses degenerate input', () => {
    const xs = [0, 0.25, 0.5, 0.75, 1];
    expect(
      linearFit(
        xs,
        xs.map((x) => 60 + 12 * x),
      ),
    ).toEqual({ slope: expect.closeTo(12, 9), intercept: expect.closeTo(60, 9) });
    expect(linearFit([1], [2]).slope).toBeNaN();
    expect(linearFit([1, 1], [2, 3]).slope).toBeNaN();
  });

  it('sees through a GC sawtooth: flat on average means a slope near zero', () => {
    const xs = Array.from({ length: 240 }, (_, i) => i / 240);
    const ys = xs.map((_, i) => 70 + ((i % 20) / 20) * 8); // 8 MB sawtooth, 12 cycles
    expect(Math.abs(linearFit(xs, ys).slope)).toBeLessThan(1);
  });
});

describe('rssSvg', () => {
  it('draws one line per process, the warm-up mark, and the slope and rotations in the legend', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const svg = rssSvg(
      {
        startedAt: t0,
        endedAt: t0 + 120_000,
        steadyFrom: t0 + 30_000,
        limitMb: 192,
        slopeJudged: true,
        processes: [
          {
            name: 'server (node)',
            samples: [
              { at: t0, rssMb: 60 },
              { at: t0 + 120_000, rssMb: 62 },
            ],
            fit: { slopeMbPerHour: 4.2, interceptMb: 60 },
            rotations: [t0 + 50_000, t0 + 90_000],
          },
          { name: 'client <node>', samples: [{ at: t0, rssMb: 50 }], fit: { slopeMbPerHour: NaN, interceptMb: NaN }, rotations: [] },
        ],
      },
      'B7 & test',
      'smoke run',
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg).toContain('warm-up ends');
    expect(svg).toContain('server (node): 62.0 MB at the end, steady-window slope +4.2 MB/h, 2 rotations');
    expect(svg).toContain('client &lt;node&gt;: 50.0 MB at the end, steady-window slope n/a, 0 rotations');
    expect(svg).toContain('B7 &amp; test');
    expect(svg).toContain('smoke run');
  });
});

describe('describeStatuses', () => {
  it('names each non-2xx status with its count and first time, and says nothing for none', () => {
    expect(describeStatuses({})).toBe('');
    expect(describeStatuses({ '502': { count: 2, firstAtMs: 63_140 }, '503': { count: 1, firstAtMs: 900 } })).toBe(
      ': 502 x2 (first at 63.1 s), 503 x1 (first at 0.9 s)',
    );
  });
});

describe('summariseChurn', () => {
  it('reports first, peak and last RSS, the peak growth per connection in kB, and every pid seen', () => {
    const samples = [
      { rssMb: 64, pid: 7 },
      { rssMb: 74, pid: 7 },
      { rssMb: 69, pid: 7 },
    ];
    expect(summariseChurn(samples, 1024)).toEqual({ firstMb: 64, peakMb: 74, lastMb: 69, peakKbPerConnection: 10, pids: [7] });
  });

  it('names a restart (two pids) and reports no per-connection figure without connections', () => {
    const summary = summariseChurn(
      [
        { rssMb: 64, pid: 7 },
        { rssMb: 40, pid: 9 },
      ],
      0,
    );
    expect(summary.pids).toEqual([7, 9]);
    expect(summary.peakKbPerConnection).toBeNaN();
  });
});

describe('longestGapSeconds', () => {
  it('finds the longest run of seconds without a 2xx, at the start, between responses and at the end', () => {
    const busy = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ t: from + i, ok: 3 }));
    expect(longestGapSeconds(busy(0, 59), 60)).toBe(0);
    // The soak's identity expired at 50 min: nothing in the last 10.
    expect(longestGapSeconds(busy(0, 2999), 3600)).toBe(600);
    expect(longestGapSeconds([...busy(4, 10), ...busy(30, 59)], 60)).toBe(19);
    // Seconds with only failures do not count as served.
    expect(
      longestGapSeconds(
        [
          { t: 0, ok: 1 },
          { t: 1, ok: 0 },
          { t: 2, ok: 0 },
          { t: 3, ok: 1 },
        ],
        4,
      ),
    ).toBe(2);
  });
});

describe('full-GC points', () => {
  it('fall at the end of warm-up and then every interval, on the sampling grid, in both run lengths', () => {
    const points = (minutes: number, sampleMs: number, everyMs: number) => {
      const warmup = warmupMs(minutes);
      const out: number[] = [];
      for (let t = 0; t <= minutes * 60_000; t += sampleMs) if (isFullGcPoint(t, warmup, everyMs)) out.push(t / 1000);
      return out;
    };
    expect(points(2, 5_000, fullGcEveryMs(true))).toEqual([30, 60, 90, 120]);
    expect(points(60, 15_000, fullGcEveryMs(false))).toEqual([600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000, 3300, 3600]);
    expect(points(60, 15_000, fullGcEveryMs(false)).length).toBeGreaterThanOrEqual(MIN_FULL_GC_POINTS);
  });
});

describe('rssSvg with post-GC readings', () => {
  it('draws each post-GC reading as a dot and says the fit goes through them', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const samples = [
      { at: t0, rssMb: 60 },
      { at: t0 + 60_000, rssMb: 70 },
      { at: t0 + 61_000, rssMb: 62, afterFullGc: true },
      { at: t0 + 120_000, rssMb: 71 },
      { at: t0 + 121_000, rssMb: 63, afterFullGc: true },
    ];
    const svg = rssSvg(
      {
        startedAt: t0,
        endedAt: t0 + 121_000,
        steadyFrom: t0 + 30_000,
        limitMb: 192,
        slopeJudged: false,
        processes: [{ name: 'server (node)', samples, fit: { slopeMbPerHour: 60, interceptMb: 61 }, rotations: [] }],
      },
      'B7',
    );
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('slope after full GC +60.0 MB/h (not judged)');
    expect(svg).toContain('Dots: RSS right after a forced full GC');
  });
});
