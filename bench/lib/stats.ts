/**
 * Summaries the benchmark reports: medians and spreads of repeated rounds,
 * and ratios of variants measured side by side (never across runs: the
 * machine is shared and noisy, so only same-run ratios mean much).
 */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** (max - min) / median, in percent: how much the rounds disagree. */
  readonly spreadPct: number;
  readonly samples: number[];
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const samples = values.map((v) => round(v, 4));
  if (values.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN, spreadPct: NaN, samples };
  const median = quantile(values, 0.5);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return {
    n: values.length,
    median: round(median, 4),
    min: round(min, 4),
    max: round(max, 4),
    spreadPct: round(median ? ((max - min) / Math.abs(median)) * 100 : 0, 1),
    samples,
  };
}

/**
 * Ratio a/b per round (rounds are paired: variant a and b ran next to each
 * other), summarised. Pairing cancels slow drifts of the shared machine.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): Summary {
  const n = Math.min(a.length, b.length);
  return summarize(Array.from({ length: n }, (_, i) => a[i]! / b[i]!));
}

export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** "1.23× (1.10–1.31, ±9%)" for tables. */
export function formatRatio(s: Summary): string {
  if (!s.n) return 'n/a';
  return s.n > 1 ? `${fmt(s.median)}× (${fmt(s.min)}–${fmt(s.max)}, n=${s.n})` : `${fmt(s.median)}× (n=1)`;
}

/** "123.4 (110.0–131.2)" for tables. */
export function formatSummary(s: Summary, unit = ''): string {
  if (!s.n) return 'n/a';
  const u = unit ? ` ${unit}` : '';
  return s.n > 1 ? `${fmt(s.median)}${u} (${fmt(s.min)}–${fmt(s.max)})` : `${fmt(s.median)}${u}`;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/**
 * Runs `variants` for `rounds` rounds, alternating the order every round
 * (ABBA…) so neither variant always goes first on a warming or cooling
 * machine. Returns the samples per variant, in round order.
 */
export async function alternate<V extends Record<string, unknown>>(
  rounds: number,
  variants: { [K in keyof V]: (round: number) => Promise<V[K]> },
): Promise<{ [K in keyof V]: Array<V[K]> }> {
  const keys = Object.keys(variants) as Array<keyof V>;
  const out = Object.fromEntries(keys.map((k) => [k, []])) as unknown as { [K in keyof V]: Array<V[K]> };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? keys : [...keys].reverse();
    for (const k of order) out[k].push(await variants[k](r));
  }
  return out;
}

/** Least-squares line through (x, y): slope and intercept; NaN with fewer than two distinct x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): { slope: number; intercept: number } {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { slope: NaN, intercept: NaN };
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (sxx === 0) return { slope: NaN, intercept: NaN };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}
