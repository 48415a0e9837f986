// A tiny Prometheus text-format registry (exposition format 0.0.4): counters
// and gauges with labels, enough for a service this size without pulling a
// client library into an image that must run on Node built-ins only.

export type Labels = Readonly<Record<string, string>>;

interface Series {
  readonly labels: Labels;
  value: number;
}

abstract class Metric {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly labelNames: readonly string[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    // An unlabelled metric is always exported, so `0` is visible before the first event.
    if (labelNames.length === 0) this.series.set('', { labels: {}, value: 0 });
  }

  /** Current value of one series; 0 when it was never touched. */
  get(labels: Labels = {}): number {
    return this.series.get(this.key(labels))?.value ?? 0;
  }

  /** Every series, for /stats and tests. */
  entries(): ReadonlyArray<Readonly<Series>> {
    return [...this.series.values()];
  }

  protected update(labels: Labels, change: (value: number) => number): void {
    const key = this.key(labels);
    const series = this.series.get(key) ?? { labels: { ...labels }, value: 0 };
    series.value = change(series.value);
    this.series.set(key, series);
  }

  protected clear(): void {
    this.series.clear();
  }

  snapshot(): MetricSnapshot {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      labelNames: [...this.labelNames],
      series: this.entries().map(({ labels, value }) => ({ labels: { ...labels }, value })),
    };
  }

  private key(labels: Labels): string {
    const names = Object.keys(labels);
    if (names.length !== this.labelNames.length || !this.labelNames.every((name) => name in labels)) {
      throw new Error(`${this.name} takes labels [${this.labelNames.join(', ')}], got [${names.join(', ')}]`);
    }
    return this.labelNames.map((name) => labels[name]).join('\u0000');
  }
}

export class Counter extends Metric {
  inc(labels: Labels = {}, amount = 1): void {
    if (amount < 0) throw new Error(`counter ${this.name} cannot decrease (got ${amount})`);
    this.update(labels, (value) => value + amount);
  }
}

export class Gauge extends Metric {
  set(labels: Labels, value: number): void {
    this.update(labels, () => value);
  }

  /** Drops every series: used for "info" gauges whose label (a serial) changes. */
  reset(): void {
    this.clear();
  }
}

export class Registry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, 'counter', labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, 'gauge', labelNames));
  }

  /** The body of a `/metrics` response (`text/plain; version=0.0.4`). */
  render(): string {
    return renderMetrics(this.snapshot());
  }

  /** Plain data (structured-clone safe): what a cluster worker sends its primary. */
  snapshot(): MetricSnapshot[] {
    return [...this.metrics.values()].map((metric) => metric.snapshot());
  }

  private add<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

export interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
  readonly series: ReadonlyArray<{ readonly labels: Labels; readonly value: number }>;
}

/** The exposition text of a set of metrics. */
export function renderMetrics(metrics: readonly MetricSnapshot[]): string {
  const blocks = metrics.map((m) => {
    const lines = [`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`];
    for (const { labels, value } of m.series) lines.push(`${m.name}${renderLabels(m.labelNames, labels)} ${renderValue(value)}`);
    return lines.join('\n');
  });
  return `${blocks.join('\n')}\n`;
}

/**
 * One process's view of several processes' metrics (cluster workers): a
 * counter is the sum of its series over the processes (a scraper sees one
 * server); a gauge keeps each process's value under an extra label, since
 * summing e.g. seconds-to-expiry would mean nothing. A metric is taken from
 * the first process that has it; the same name with another type or other
 * labels elsewhere is a bug and throws.
 */
export function mergeMetrics(
  perProcess: ReadonlyArray<{ readonly process: string; readonly metrics: readonly MetricSnapshot[] }>,
  label = 'worker',
): MetricSnapshot[] {
  const merged = new Map<string, { metric: MetricSnapshot; series: Map<string, { labels: Labels; value: number }> }>();
  for (const { process, metrics } of perProcess) {
    for (const m of metrics) {
      let entry = merged.get(m.name);
      if (!entry) {
        if (m.type === 'gauge' && m.labelNames.includes(label)) throw new Error(`gauge ${m.name} already has a ${label} label`);
        entry = { metric: m, series: new Map() };
        merged.set(m.name, entry);
      } else if (entry.metric.type !== m.type || entry.metric.labelNames.join() !== m.labelNames.join()) {
        throw new Error(`metric ${m.name} differs between processes`);
      }
      for (const s of m.series) {
        const labels = m.type === 'gauge' ? { ...s.labels, [label]: process } : s.labels;
        const key = [...m.labelNames, ...(m.type === 'gauge' ? [label] : [])].map((name) => labels[name]).join('\u0000');
        const existing = entry.series.get(key);
        if (existing) existing.value += s.value;
        else entry.series.set(key, { labels, value: s.value });
      }
    }
  }
  return [...merged.values()].map(({ metric, series }) => ({
    ...metric,
    labelNames: metric.type === 'gauge' ? [...metric.labelNames, label] : metric.labelNames,
    series: [...series.values()],
  }));
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderLabels(names: readonly string[], labels: Labels): string {
  if (names.length === 0) return '';
  return `{${names.map((name) => `${name}="${escapeLabelValue(labels[name] ?? '')}"`).join(',')}}`;
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
