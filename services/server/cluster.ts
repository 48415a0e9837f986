// Several server processes on one mTLS port (node:cluster), so full
// handshakes use every core. Each worker is a whole MtlsServer with its own
// credential watcher (a rotation reaches every process by the same file
// watch, not by a message that could be lost) and its own share of the
// connection cap; the primary serves no traffic. It owns the loopback admin
// listener and answers it from the reports the workers send every second and
// on every reload: /healthz is healthy only when every worker is, /stats and
// /metrics add up the workers (counters summed, gauges per worker), and the
// workers' /metrics on the mTLS port show the same sums. SIGTERM drains every
// worker; a worker that dies is forked again with backoff. The workers' side
// is cluster-worker.ts.
import cluster, { type Worker } from 'node:cluster';

import { type AdminServer, jsonResponse, metricsResponse, startAdminServer } from '../lib/admin.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Health, Readiness } from '../lib/credential-status.js';
import type { ListenerLimits } from '../lib/http-limits.js';
import type { Logger } from '../lib/logger.js';
import { mergeMetrics, type MetricSnapshot, renderMetrics } from '../lib/metrics.js';
import { type ProcessStats, processStats } from '../lib/process-stats.js';
import type { ServerStats } from './app.js';
import { REPORT_INTERVAL_MS, type ToWorker, WORKER_INDEX_ENV, type WorkerReport } from './cluster-worker.js';

/** A worker whose last report is older than this counts as unhealthy. */
export const STALE_REPORT_MS = 5_000;
/** A worker that has listened this long and then dies starts the restart backoff over. */
export const WORKER_SETTLED_MS = 60_000;

export interface ClusterOptions {
  readonly workers: number;
  /** Loopback admin port of the primary. */
  readonly adminPort: number;
  readonly adminLimits?: ListenerLimits;
  /** A worker gets this long to drain after the primary's stop, then is killed. */
  readonly shutdownGraceMs: number;
  readonly logger: Logger;
  /** Starts a worker process with this environment. @default cluster.fork */
  readonly forkWorker?: (env: NodeJS.ProcessEnv) => Worker;
}

/** The counts /stats adds up over the workers. */
interface Counts {
  total: number;
  byIdentity: Record<string, Record<string, number>>;
  handshakeFailures: Record<string, number>;
}

const noCounts = (): Counts => ({ total: 0, byIdentity: {}, handshakeFailures: {} });

const countsOf = (stats: ServerStats): Counts => ({
  total: stats.requests.total,
  byIdentity: stats.requests.byIdentity,
  handshakeFailures: stats.handshakeFailures,
});

function addCounts(into: Counts, from: Counts): void {
  const addInto = (target: Record<string, number>, source: Readonly<Record<string, number>>) => {
    for (const [key, count] of Object.entries(source)) target[key] = (target[key] ?? 0) + count;
  };
  into.total += from.total;
  for (const [identity, row] of Object.entries(from.byIdentity)) addInto((into.byIdentity[identity] ??= {}), row);
  addInto(into.handshakeFailures, from.handshakeFailures);
}

interface Slot {
  worker: Worker | undefined;
  report: WorkerReport | undefined;
  reportedAt: number;
  restarts: number;
  exits: number;
}

/** Runs in the primary. */
export class ServerCluster {
  private readonly slots: Slot[];
  private readonly startedAt = new Date();
  /** What workers that have exited had counted, kept so that sums never go down. */
  private retired: { counts: Counts; counters: MetricSnapshot[] } = { counts: noCounts(), counters: [] };
  private admin: AdminServer | undefined;
  private stopping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ClusterOptions) {
    this.slots = Array.from({ length: options.workers }, () => ({ worker: undefined, report: undefined, reportedAt: 0, restarts: 0, exits: 0 }));
  }

  async start(): Promise<void> {
    // Every worker accepts on the shared socket itself: the primary handing each
    // connection over (round-robin) would put every handshake through one process.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    this.admin = await startAdminServer({
      port: this.options.adminPort,
      endpoints: this.endpoints(),
      limits: this.options.adminLimits,
      logger: this.options.logger,
    });
    this.slots.forEach((_, index) => this.fork(index));
    this.timer = setInterval(() => this.broadcastMetrics(), REPORT_INTERVAL_MS);
    this.timer.unref();
    this.options.logger.info('cluster started', { workers: this.options.workers });
  }

  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  /**
   * Ready when every worker reported ready within STALE_REPORT_MS; otherwise
   * the worst of the workers (unhealthy, then starting, then waiting), named.
   * A worker that has not reported yet is starting; one that is down or
   * silent is unhealthy.
   */
  health(
    now = Date.now(),
  ): Health & { serial: string | null; workers: Array<{ index: number; pid: number | null; status: Readiness; detail: string; serial: string | null }> } {
    const workers = this.slots.map((slot, index) => {
      const [status, detail, reported]: [Readiness, string, boolean] = !slot.worker
        ? ['unhealthy', `worker ${index} is down (it exited; forked again with backoff)`, false]
        : !slot.report
          ? ['starting', `worker ${index} has not reported yet`, false]
          : now - slot.reportedAt > STALE_REPORT_MS
            ? ['unhealthy', `worker ${index} has been silent for ${Math.round((now - slot.reportedAt) / 1000)} s`, false]
            : [slot.report.health.status, slot.report.health.detail, true];
      return { index, pid: slot.worker?.process.pid ?? null, status, detail, reported, serial: slot.report?.health.serial ?? null };
    });
    const serials = [...new Set(workers.map((w) => w.serial))];
    const serial = serials.length === 1 ? serials[0]! : null;
    const listed = workers.map(({ reported: _, ...w }) => w);
    if (this.stopping) return { status: 'unhealthy', detail: 'stopping', serial, workers: listed };
    const worst = (['unhealthy', 'starting', 'waiting'] as const).map((s) => workers.find((w) => w.status === s)).find((w) => w !== undefined);
    if (worst) {
      const same = workers.every((w) => w.status === worst.status && w.detail === worst.detail);
      return { status: worst.status, detail: same || !worst.reported ? worst.detail : `worker ${worst.index}: ${worst.detail}`, serial, workers: listed };
    }
    return { status: 'ready', detail: `${workers.length} workers; ${workers[0]!.detail}`, serial, workers: listed };
  }

  /** The workers' /stats added up; each worker's own figures under `workers`. */
  stats(): Omit<ServerStats, 'process' | 'state' | 'credentials'> & {
    state: string;
    credentials: ServerStats['credentials'] | null;
    process: ProcessStats;
    processes: ProcessStats[];
    workers: unknown[];
  } {
    const reports = this.slots.map((s) => s.report).filter((r): r is WorkerReport => r !== undefined);
    const first = reports[0]?.stats;
    const counts = noCounts();
    for (const c of [this.retired.counts, ...reports.map((r) => countsOf(r.stats))]) addCounts(counts, c);
    const primary = processStats();
    const processes = [primary, ...reports.map((r) => r.stats.process)];
    const health = this.health();
    return {
      role: 'server',
      state: health.status === 'ready' ? 'serving' : health.status,
      startedAt: this.startedAt.toISOString(),
      listen: first?.listen ?? null,
      allowedIdentities: first?.allowedIdentities ?? [],
      // The first worker's (each worker loads the same files); null before any report.
      credentials: first?.credentials ?? null,
      requests: { total: counts.total, byIdentity: counts.byIdentity },
      handshakeFailures: counts.handshakeFailures,
      // What the container is charged for: every process of the cluster.
      process: {
        ...primary,
        rssBytes: processes.reduce((sum, p) => sum + p.rssBytes, 0),
        heapUsedBytes: processes.reduce((sum, p) => sum + p.heapUsedBytes, 0),
        externalBytes: processes.reduce((sum, p) => sum + p.externalBytes, 0),
      },
      processes,
      workers: this.slots.map((slot, index) => ({
        index,
        pid: slot.worker?.process.pid ?? null,
        restarts: slot.restarts,
        reportAgeMs: slot.report ? Date.now() - slot.reportedAt : null,
        state: slot.report?.stats.state ?? null,
        serial: slot.report?.stats.credentials.serial ?? null,
        reloads: slot.report?.stats.credentials.reloads ?? null,
        requests: slot.report?.stats.requests.total ?? 0,
        rssBytes: slot.report?.stats.process.rssBytes ?? null,
      })),
    };
  }

  /**
   * The cluster's metrics: counters summed over the workers, gauges per
   * worker. Counters include what exited workers had counted, so a restart
   * never makes a sum go down (which a scraper would read as a reset).
   */
  metricsText(): string {
    const live = this.slots.flatMap((slot, index) => (slot.report ? [{ process: String(index), metrics: slot.report.metrics }] : []));
    // The retired ones are counters only: they add to the sums and bring no worker label.
    return renderMetrics(mergeMetrics([...live, { process: 'retired', metrics: this.retired.counters }]));
  }

  private retire(report: WorkerReport): void {
    addCounts(this.retired.counts, countsOf(report.stats));
    const counters = report.metrics.filter((m) => m.type === 'counter');
    this.retired.counters = mergeMetrics([
      { process: 'retired', metrics: this.retired.counters },
      { process: 'exited', metrics: counters },
    ]);
  }

  private endpoints() {
    return {
      '/healthz': () => {
        const health = this.health();
        return jsonResponse(health.status === 'ready' ? 200 : 503, { ...health, role: 'server' });
      },
      '/metrics': () => metricsResponse(this.metricsText()),
      '/stats': () => jsonResponse(200, this.stats()),
    };
  }

  private fork(index: number): void {
    const slot = this.slots[index]!;
    const worker = (this.options.forkWorker ?? ((env) => cluster.fork(env)))({ [WORKER_INDEX_ENV]: String(index) });
    slot.worker = worker;
    // Only this worker having served WORKER_SETTLED_MS resets the backoff: its
    // timer dies with it, so a crash loop keeps backing off up to the cap.
    let settled: NodeJS.Timeout | undefined;
    worker.once('listening', () => {
      settled = setTimeout(() => {
        if (slot.worker === worker) slot.exits = 0;
      }, WORKER_SETTLED_MS).unref();
    });
    slot.report = undefined;
    worker.on('message', (message: WorkerReport) => {
      if (message?.type !== 'report' || message.index !== index) return;
      slot.report = message;
      slot.reportedAt = Date.now();
    });
    worker.on('exit', (code, signal) => {
      clearTimeout(settled);
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      // Counted up to its last report; anything after that is lost with it.
      if (slot.report) this.retire(slot.report);
      slot.report = undefined;
      if (this.stopping) return;
      slot.exits += 1;
      const delay = backoffDelay(slot.exits, { initialMs: 500, maxMs: 30_000 });
      this.options.logger.error('worker exited; forking it again', { worker: index, code, signal, inMs: delay });
      setTimeout(() => {
        if (this.stopping) return;
        slot.restarts += 1;
        this.fork(index);
      }, delay).unref();
    });
  }

  private broadcastMetrics(): void {
    const text = this.metricsText();
    for (const slot of this.slots) {
      if (slot.worker?.isConnected()) slot.worker.send({ type: 'metrics', text } satisfies ToWorker, () => undefined);
    }
  }

  private async drain(): Promise<void> {
    clearInterval(this.timer);
    const running = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined && !w.isDead());
    await Promise.all(
      running.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), this.options.shutdownGraceMs + 5_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (worker.isConnected()) worker.send({ type: 'stop' } satisfies ToWorker, () => undefined);
            else worker.process.kill('SIGTERM');
          }),
      ),
    );
    await this.admin?.close();
  }
}
