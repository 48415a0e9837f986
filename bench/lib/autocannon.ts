import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';

import { UserError } from '../../scripts/lib/cli/ui.js';
import type { HostIdentity } from './load-identity.js';

/**
 * autocannon (npm) as the HTTP load generator: keep-alive connections, a
 * latency histogram (HdrHistogram), and per-response events for timelines.
 * Typed here with just what the benchmark uses; the package ships no types.
 * Note: autocannon always connects with rejectUnauthorized: false (its
 * httpClient overrides tlsOptions), so callers verify the server separately.
 */
interface AutocannonOptions {
  url: string;
  connections: number;
  duration?: number;
  amount?: number;
  overallRate?: number;
  timeout?: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: Array<{
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    setupRequest?: (req: Record<string, unknown>) => Record<string, unknown>;
  }>;
  tlsOptions?: Record<string, unknown>;
  servername?: string;
}
interface AutocannonResult {
  requests: { average: number; total: number; sent: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  resets?: number;
  duration: number;
  '2xx': number;
}
type Instance = EventEmitter & { stop: () => void };
type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, res: AutocannonResult) => void) => Instance;

const autocannon = (() => {
  try {
    return createRequire(import.meta.url)('autocannon') as Autocannon;
  } catch {
    return undefined;
  }
})();

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly mean: number; readonly max: number };
  readonly ok: number;
  readonly failures: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** The non-2xx responses by status code, and when the first of each came (ms since start). */
  readonly non2xxByStatus: Record<string, { readonly count: number; readonly firstAtMs: number }>;
  readonly seconds: number;
  /** Per wall-clock second since start: responses and failures (for charts). */
  readonly timeline: Array<{ readonly t: number; readonly ok: number; readonly failed: number }>;
  readonly startedAt: number;
}

/** The counts every benchmark under load reports (B5, B7): what was answered and how the rest failed. */
export function loadTotals(r: LoadResult) {
  return { ok: r.ok, failures: r.failures, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, requestsPerSecond: r.requestsPerSecond };
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  /** Seconds; or stop with the returned `stop()`. */
  readonly duration?: number;
  readonly amount?: number;
  readonly overallRate?: number;
  /** Client certificate (mTLS) and the root the server must chain to. */
  readonly identity?: HostIdentity;
  readonly rootPem: string;
  /** SNI and the name the server certificate is checked against. */
  readonly servername?: string;
  readonly requests?: AutocannonOptions['requests'];
  readonly method?: string;
}

export function requireAutocannon(): Autocannon {
  if (!autocannon) throw new UserError('autocannon is not installed: run npm ci (it is a devDependency), then run the benchmark again.');
  return autocannon;
}

/** Starts a load run; `done` resolves with the summary, `stop()` ends an open-ended run early. */
export function startLoad(o: LoadOptions): { done: Promise<LoadResult>; stop: () => void } {
  const run = requireAutocannon();
  const startedAt = Date.now();
  const buckets = new Map<number, { ok: number; failed: number }>();
  const bucket = () => {
    const t = Math.floor((Date.now() - startedAt) / 1000);
    let b = buckets.get(t);
    if (!b) buckets.set(t, (b = { ok: 0, failed: 0 }));
    return b;
  };
  const tlsOptions: Record<string, unknown> = {
    ca: o.rootPem,
    minVersion: 'TLSv1.2',
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.identity ? { cert: o.identity.certPem, key: o.identity.keyPem } : {}),
  };
  let lastResponseAt = startedAt;
  const non2xxByStatus: Record<string, { count: number; firstAtMs: number }> = {};
  let instance: Instance | undefined;
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = run(
      {
        url: o.url,
        connections: o.connections,
        ...(o.duration !== undefined ? { duration: o.duration } : o.amount === undefined ? { duration: 3600 } : {}),
        ...(o.amount !== undefined ? { amount: o.amount } : {}),
        ...(o.overallRate ? { overallRate: o.overallRate } : {}),
        ...(o.method ? { method: o.method } : {}),
        ...(o.requests ? { requests: o.requests } : {}),
        timeout: 10,
        tlsOptions,
        ...(o.servername ? { servername: o.servername } : {}),
      },
      (err, res) => {
        if (err) return reject(new UserError(`autocannon against ${o.url} failed: ${err.message}`));
        const seconds = (Date.now() - startedAt) / 1000;
        const timeline = [...buckets.entries()].sort(([a], [b]) => a - b).map(([t, b]) => ({ t, ...b }));
        const failures = res.errors + res.timeouts + res.non2xx;
        // autocannon ends a run on its 1 s sampling tick: a fixed-count run
        // (amount) is timed from start to its last response instead.
        const active = o.amount !== undefined ? Math.max(0.001, (lastResponseAt - startedAt) / 1000) : res.duration || seconds;
        resolve({
          requestsPerSecond: res['2xx'] / active,
          latencyMs: { p50: res.latency.p50, p90: res.latency.p90, p99: res.latency.p99, mean: res.latency.average, max: res.latency.max },
          ok: res['2xx'],
          failures,
          errors: res.errors,
          timeouts: res.timeouts,
          non2xx: res.non2xx,
          non2xxByStatus,
          seconds: active,
          timeline,
          startedAt,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number) => {
      lastResponseAt = Date.now();
      if (status >= 200 && status < 300) {
        bucket().ok++;
        return;
      }
      bucket().failed++;
      const seen = (non2xxByStatus[String(status)] ??= { count: 0, firstAtMs: lastResponseAt - startedAt });
      seen.count++;
    });
    instance.on('reqError', () => bucket().failed++);
  });
  return { done, stop: () => instance?.stop() };
}

/** A fixed-length run. */
export function load(o: LoadOptions): Promise<LoadResult> {
  return startLoad(o).done;
}
