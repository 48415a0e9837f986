// The worker side of the server cluster (see cluster.ts): each worker is a
// whole MtlsServer; it reports its health, stats and metrics to the primary
// every second and on every reload, shows the cluster's metrics (sent back by
// the primary) on its own /metrics, and stops when the primary asks or goes.
import type { Health } from '../lib/credential-status.js';
import type { ListenerLimits } from '../lib/http-limits.js';
import type { Logger } from '../lib/logger.js';
import type { MetricSnapshot } from '../lib/metrics.js';
import type { MtlsServer, ServerStats } from './app.js';

/** How often a worker reports to its primary (and the primary sends back the cluster's metrics). */
export const REPORT_INTERVAL_MS = 1_000;
/** Set in each worker's environment: its slot, 0 … workers-1. */
export const WORKER_INDEX_ENV = 'MTLS_WORKER_INDEX';

export interface WorkerReport {
  readonly type: 'report';
  readonly index: number;
  readonly health: Health & { readonly serial: string | null };
  readonly stats: ServerStats;
  readonly metrics: readonly MetricSnapshot[];
}

export type ToWorker = { readonly type: 'metrics'; readonly text: string } | { readonly type: 'stop' };

/** The connection cap of each of `workers` processes sharing `limits.maxConnections`. */
export function workerLimits(limits: ListenerLimits, workers: number): ListenerLimits {
  return { ...limits, maxConnections: Math.max(1, Math.ceil(limits.maxConnections / workers)) };
}

/** Runs in a worker: reports to the primary, shows its metrics, stops when told to. */
export function serveAsWorker(server: MtlsServer, index: number, logger: Logger): void {
  let clusterMetrics: string | undefined;
  server.setMetricsSource(() => clusterMetrics ?? server.metrics.registry.render());
  const report = (): void => {
    if (!process.connected) return;
    const message: WorkerReport = { type: 'report', index, health: server.health(), stats: server.stats(), metrics: server.metrics.registry.snapshot() };
    process.send?.(message);
  };
  const timer = setInterval(report, REPORT_INTERVAL_MS);
  timer.unref();
  server.credentials.on('reload', () => setImmediate(report));
  server.serving().then(report, () => undefined);
  const stop = (why: string): void => {
    clearInterval(timer);
    logger.info('worker stopping', { worker: index, why });
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('message', (message: ToWorker) => {
    if (message?.type === 'metrics' && typeof message.text === 'string') clusterMetrics = message.text;
    else if (message?.type === 'stop') stop('primary asked');
  });
  // The primary is gone (killed): nobody will ever ask this worker to stop.
  process.on('disconnect', () => stop('primary gone'));
  // Ctrl-C reaches the whole process group; the primary drains the workers itself.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => stop('SIGTERM'));
  report();
}
