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

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values()) {
      lines.push(`${this.name}${renderLabels(this.labelNames, labels)} ${renderValue(value)}`);
    }
    return lines.join('\n');
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
    return `${[...this.metrics.values()].map((metric) => metric.render()).join('\n')}\n`;
  }

  private add<M extends Metric>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`metric ${metric.name} is registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
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
