// The Prometheus registry the Node services share: counters and gauges, merging workers' metrics, the text format.
import { describe, expect, it } from 'vitest';

import { mergeMetrics, Registry, renderMetrics } from '../../../services/lib/metrics.js';

describe('metrics registry', () => {
  it('renders the Prometheus text format with escaped labels', () => {
    const registry = new Registry();
    const counter = registry.counter('demo_total', 'A demo\ncounter', ['who']);
    const gauge = registry.gauge('demo_gauge', 'A gauge');
    counter.inc({ who: 'a"b\\c' }, 2);
    counter.inc({ who: 'a"b\\c' });
    gauge.set({}, 1.5);
    expect(registry.render()).toBe(
      [
        '# HELP demo_total A demo\\ncounter',
        '# TYPE demo_total counter',
        'demo_total{who="a\\"b\\\\c"} 3',
        '# HELP demo_gauge A gauge',
        '# TYPE demo_gauge gauge',
        'demo_gauge 1.5',
        '',
      ].join('\n'),
    );
    expect(() => counter.inc({ nobody: 'x' })).toThrow(/takes labels \[who\]/);
    expect(() => counter.inc({ who: 'x' }, -1)).toThrow(/cannot decrease/);
    expect(() => registry.gauge('demo_gauge', 'again')).toThrow(/twice/);
  });

  it('merges several processes: counters summed per label set, gauges kept per process under a worker label', () => {
    const worker = (requests: Record<string, number>, loaded: number) => {
      const registry = new Registry();
      const counter = registry.counter('req_total', 'Requests', ['status']);
      for (const [status, n] of Object.entries(requests)) counter.inc({ status }, n);
      registry.gauge('loaded', 'Loaded').set({}, loaded);
      registry.counter('reloads_total', 'Reloads');
      return registry.snapshot();
    };
    const merged = mergeMetrics([
      { process: '0', metrics: worker({ '200': 3, '403': 1 }, 1) },
      { process: '1', metrics: worker({ '200': 4 }, 0) },
    ]);
    expect(renderMetrics(merged)).toBe(
      [
        '# HELP req_total Requests',
        '# TYPE req_total counter',
        'req_total{status="200"} 7',
        'req_total{status="403"} 1',
        '# HELP loaded Loaded',
        '# TYPE loaded gauge',
        'loaded{worker="0"} 1',
        'loaded{worker="1"} 0',
        '# HELP reloads_total Reloads',
        '# TYPE reloads_total counter',
        'reloads_total 0',
        '',
      ].join('\n'),
    );
    // One process renders exactly as its own registry does.
    const single = new Registry();
    single.counter('c_total', 'C', ['k']).inc({ k: 'v' }, 2);
    expect(renderMetrics(single.snapshot())).toBe(single.render());
    // Snapshots are plain data: they cross the IPC channel unchanged.
    expect(structuredClone(single.snapshot())).toEqual(single.snapshot());
  });

  it('refuses to merge a metric whose type or labels differ between processes', () => {
    const a = new Registry();
    a.counter('x_total', 'X', ['k']);
    const b = new Registry();
    b.gauge('x_total', 'X', ['k']);
    const c = new Registry();
    c.counter('x_total', 'X', ['other']);
    expect(() =>
      mergeMetrics([
        { process: '0', metrics: a.snapshot() },
        { process: '1', metrics: b.snapshot() },
      ]),
    ).toThrow(/differs between processes/);
    expect(() =>
      mergeMetrics([
        { process: '0', metrics: a.snapshot() },
        { process: '1', metrics: c.snapshot() },
      ]),
    ).toThrow(/differs between processes/);
    const d = new Registry();
    d.gauge('g', 'G', ['worker']);
    expect(() => mergeMetrics([{ process: '0', metrics: d.snapshot() }])).toThrow(/already has a worker label/);
  });
});
