// The mTLS client: a steady request loop against one server, with its own
// certificate hot-reloaded (new agent per rotation), the server's identity
// pinned, exponential backoff while things fail, and patience with a server
// that is still starting.
import type { Agent } from 'node:https';

import { type AdminServer, type Endpoints, jsonResponse, metricsResponse, startAdminServer } from '../lib/admin.js';
import { backoffDelay } from '../lib/backoff.js';
import { credentialReadiness, credentialStats, type Health } from '../lib/credential-status.js';
import { CredentialWatcher, watchCredentials } from '../lib/credential-watcher.js';
import type { Credentials } from '../lib/credentials.js';
import { type Identity, parseIdentity } from '../lib/identity.js';
import { type Logger, silentLogger } from '../lib/logger.js';
import { processStats } from '../lib/process-stats.js';
import { classifyRequestFailure } from '../lib/tls-errors.js';
import { createAgent } from './agent.js';
import type { MtlsClientOptions } from './options.js';
import { getOnce, type Outcome, parseBody } from './request.js';
import { nextRetry, type RetryPolicy } from './retry-policy.js';
import type { ClientStats } from './stats.js';
import { RequestTracker } from './tracker.js';

export type { MtlsClientOptions } from './options.js';
export type { ClientStats } from './stats.js';

/**
 * How the client makes its call over the agent of one credential generation.
 * The agent (TLS policy), retries, bookkeeping and /stats are the client's;
 * another HTTP library brings only this.
 */
export interface Transport {
  /** Named in the log and the health detail (`calling … with axios`). @default none: Node's https.get */
  readonly name?: string;
  /** One GET of `target` over `agent`, never rejecting; called once per generation. */
  readonly caller: (target: URL, agent: Agent, timeoutMs: number) => () => Promise<Outcome>;
}

const NODE_HTTPS: Transport = { caller: (target, agent, timeoutMs) => () => getOnce(target, agent, timeoutMs) };

interface AgentSlot {
  readonly agent: Agent;
  readonly call: () => Promise<Outcome>;
  readonly generation: number;
  inFlight: number;
  retired: boolean;
}

export class MtlsClient {
  readonly credentials: CredentialWatcher;
  readonly tracker: RequestTracker;
  private readonly target: URL;
  private readonly expected: Identity;
  private readonly logger: Logger;
  private readonly retryPolicy: RetryPolicy;
  private readonly startedAt = new Date();
  private slot: AgentSlot | undefined;
  private generation = 0;
  private admin: AdminServer | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly options: MtlsClientOptions,
    private readonly transport: Transport = NODE_HTTPS,
  ) {
    this.target = new URL(options.targetUrl);
    if (this.target.protocol !== 'https:') throw new Error(`target url must use https, got ${JSON.stringify(this.target.href)}`);
    if (!((options.requestRate ?? 5) > 0)) throw new Error(`request rate must be positive, got ${options.requestRate}`);
    this.expected = parseIdentity(options.expectedServerIdentity);
    this.logger = options.logger ?? silentLogger;
    this.retryPolicy = {
      startupBudgetMs: options.startupRetryBudgetMs ?? 30_000,
      budgetMs: options.retryBudgetMs ?? 0,
      initialDelayMs: options.retryInitialDelayMs ?? 200,
      maxDelayMs: options.retryMaxDelayMs ?? 2_000,
    };
    this.credentials = watchCredentials(options, this.logger);
    this.tracker = new RequestTracker(this.credentials, this.logger);
    this.credentials.on('reload', (current) => this.useCredentials(current));
  }

  async start(): Promise<void> {
    this.admin = await startAdminServer({ port: this.options.adminPort ?? 9100, endpoints: this.endpoints(), logger: this.logger });
    await this.credentials.start();
    this.loop = this.run();
  }

  get adminPort(): number {
    if (!this.admin) throw new Error('the client is not started');
    return this.admin.port;
  }

  /** Lets the request in flight finish (bounded by its timeout), then releases everything. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.credentials.stop();
    await this.loop;
    this.slot?.agent.destroy();
    await this.admin?.close();
  }

  stats(): ClientStats {
    const t = this.tracker;
    return {
      role: 'client',
      state: this.stopped ? 'stopping' : this.slot ? 'running' : 'waiting',
      startedAt: this.startedAt.toISOString(),
      target: this.target.href,
      expectedServerIdentity: this.expected.value,
      credentials: credentialStats(this.credentials),
      agentGeneration: this.generation,
      requests: {
        successes: t.successes,
        failures: t.failures,
        retries: t.retries,
        startupRetries: t.startupRetries,
        retriedSuccesses: t.retriedSuccesses,
        consecutiveFailures: t.consecutiveFailures,
        failuresByReason: { ...t.failuresByReason },
      },
      lastSuccessAt: t.lastSuccessAt?.toISOString() ?? null,
      lastError: t.lastError ?? null,
      lastResponse: t.lastResponse ?? null,
      serverSerial: t.serverSerial ?? null,
      serverSerials: [...t.serverSerials],
      process: processStats(),
    };
  }

  private endpoints(): Endpoints {
    return {
      // Failing requests do not make the CLIENT unhealthy: the server being
      // down is the server's health problem, and /stats shows it here.
      '/healthz': () => {
        const h = this.readiness();
        return jsonResponse(h.status === 'ready' ? 200 : 503, { ...h, role: 'client', serial: this.credentials.current?.serial ?? null });
      },
      '/metrics': () => metricsResponse(this.tracker.registry.render()),
      '/stats': () => jsonResponse(200, this.stats()),
    };
  }

  /** Ready once it calls with valid credentials; waiting for them is not ready (the stack's health vocabulary). */
  private readiness(): Health {
    const c = credentialReadiness(this.credentials);
    if (this.stopped) return { status: 'unhealthy', detail: 'stopping' };
    if (c.status !== 'ready') return c;
    if (!this.slot) return { status: 'starting', detail: `building the https agent; ${c.detail}` };
    const library = this.transport.name ? ` with ${this.transport.name}` : '';
    return { status: 'ready', detail: `calling ${this.target.href}${library}; ${c.detail}` };
  }

  private useCredentials(credentials: Credentials): void {
    const previous = this.slot;
    this.generation += 1;
    const agent = createAgent(credentials, this.expected);
    const call = this.transport.caller(this.target, agent, this.options.requestTimeoutMs ?? 5_000);
    this.slot = { agent, call, generation: this.generation, inFlight: 0, retired: false };
    this.tracker.agentsBuilt.inc();
    const library = this.transport.name ? { library: this.transport.name } : {};
    this.logger.info('new https agent', { generation: this.generation, serial: credentials.serial, ...library });
    if (previous) this.retire(previous);
    this.wake?.(); // no need to sit out a backoff that our old certificate may have caused
  }

  private retire(slot: AgentSlot): void {
    slot.retired = true;
    if (slot.inFlight === 0) slot.agent.destroy();
  }

  private async run(): Promise<void> {
    const intervalMs = 1000 / (this.options.requestRate ?? 5);
    while (!this.stopped) {
      if (!this.slot) {
        await this.sleep(undefined); // until credentials arrive
        continue;
      }
      const started = Date.now();
      const ok = await this.attempt(this.slot);
      const delay = ok
        ? Math.max(0, intervalMs - (Date.now() - started))
        : Math.max(intervalMs, backoffDelay(this.tracker.consecutiveFailures, { initialMs: this.options.backoffInitialMs, maxMs: this.options.backoffMaxMs }));
      await this.sleep(delay);
    }
  }

  private async attempt(slot: AgentSlot): Promise<boolean> {
    const started = Date.now();
    let outcome = await this.request(slot);
    for (let retries = 0; !outcome.ok; retries++) {
      if (this.stopped || this.ownCertificateExpired()) break;
      const next = nextRetry(outcome, { retries, elapsedMs: Date.now() - started, succeededBefore: this.tracker.successes > 0 }, this.retryPolicy);
      if (!next) break;
      if (next.startup) this.tracker.startupRetry(classifyRequestFailure(outcome.error), outcome.error.message);
      else this.tracker.retry(classifyRequestFailure(outcome.error), outcome.error.message);
      if (next.delayMs > 0) await this.sleep(next.delayMs);
      if (this.stopped) return false; // abandoned by shutdown: neither a success nor a failure
      outcome = await this.request(this.slot ?? slot);
    }
    if (!outcome.ok) {
      // Our own expired certificate is the likeliest cause of a refused
      // handshake, and the server's refusal arrives as a bare reset: say so.
      if (this.ownCertificateExpired()) {
        this.tracker.failure('own_certificate_expired', `${this.expiredMessage()}: ${outcome.error.message}`);
      } else {
        this.tracker.failure(classifyRequestFailure(outcome.error), outcome.error.message);
      }
      return false;
    }
    const response = { status: outcome.status, body: parseBody(outcome.body) };
    if (outcome.status === 200) this.tracker.success(outcome.serverSerial, response);
    else if (this.ownCertificateExpired())
      this.tracker.failure('own_certificate_expired', `server answered ${outcome.status}: ${this.expiredMessage()}`, response);
    else this.tracker.failure(`http_${outcome.status}`, `server answered ${outcome.status}`, response);
    return outcome.status === 200;
  }

  private ownCertificateExpired(): boolean {
    const own = this.credentials.current;
    return own !== undefined && new Date() > own.notAfter;
  }

  private expiredMessage(): string {
    const own = this.credentials.current!;
    return `our certificate ${own.serial} expired at ${own.notAfter.toISOString()}`;
  }

  private async request(slot: AgentSlot): Promise<Outcome> {
    slot.inFlight += 1;
    try {
      return await slot.call();
    } finally {
      slot.inFlight -= 1;
      if (slot.retired && slot.inFlight === 0) slot.agent.destroy();
    }
  }

  /** Waits `ms` (forever when undefined) or until woken by a reload or stop(). */
  private sleep(ms: number | undefined): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }
}

export function createMtlsClient(options: MtlsClientOptions): MtlsClient {
  return new MtlsClient(options);
}
