// Outcome bookkeeping for the client: counters for /stats and /metrics, and
// log lines on state CHANGES only (start-up retrying, first success,
// recovery, a new failure reason, a new server certificate) — never one line
// per request or per retry.
import { registerCredentialMetrics } from '../lib/credential-status.js';
import type { CredentialWatcher } from '../lib/credential-watcher.js';
import type { Logger } from '../lib/logger.js';
import { type Counter, type Gauge, Registry } from '../lib/metrics.js';
import type { RequestFailureReason } from '../lib/tls-errors.js';

/** Enough to show several rotations in /stats and to check rotation from outside. */
export const MAX_SERVER_SERIALS = 16;

const KNOWN_REASONS: readonly RequestFailureReason[] = ['identity_mismatch', 'tls', 'timeout', 'connection', 'other'];

export interface LastError {
  readonly at: string;
  readonly reason: RequestFailureReason;
  readonly message: string;
}

export interface LastResponse {
  readonly status: number;
  readonly body: unknown;
}

export class RequestTracker {
  readonly registry = new Registry();
  successes = 0;
  failures = 0;
  consecutiveFailures = 0;
  readonly failuresByReason: Record<string, number> = {};
  lastSuccessAt: Date | undefined;
  lastError: LastError | undefined;
  lastResponse: LastResponse | undefined;
  /**
   * The most recent distinct server certificate serials, oldest first; at
   * most MAX_SERVER_SERIALS, so a client that runs for months through a
   * rotation every few minutes does not grow without bound.
   */
  readonly serverSerials: string[] = [];
  /** Server certificates seen since start (a serial counts again only after it left the window). */
  serverCertificatesSeen = 0;
  serverSerial: string | undefined;

  /** Extra attempts after a connection error or timeout; a retried request that then succeeds is not a failure. */
  retries = 0;
  /** Extra attempts while the server could not be reached before the first success (it is still starting). */
  startupRetries = 0;
  /** Requests that succeeded only after one or more retries. */
  retriedSuccesses = 0;
  private retrying = false;
  private pendingRetries = 0;

  private readonly requests: Counter;
  private readonly failureReasons: Counter;
  private readonly retryReasons: Counter;
  private readonly startupRetryCount: Counter;
  private readonly consecutive: Gauge;
  private readonly lastSuccess: Gauge;
  private readonly serverCertificate: Gauge;
  private readonly serialsSeen: Gauge;
  readonly agentsBuilt: Counter;

  constructor(
    watcher: CredentialWatcher,
    private readonly logger: Logger,
  ) {
    const r = this.registry;
    this.requests = r.counter('mtls_client_requests_total', 'Requests sent, by result (success, failure)', ['result']);
    this.failureReasons = r.counter('mtls_client_request_failures_total', 'Failed requests by reason', ['reason']);
    this.retryReasons = r.counter(
      'mtls_client_request_retries_total',
      'Retries of idempotent requests after a connection error or timeout, by reason (not failures)',
      ['reason'],
    );
    this.startupRetryCount = r.counter(
      'mtls_client_startup_retries_total',
      'Retries before the first success while the server could not be reached (not failures)',
    );
    this.consecutive = r.gauge('mtls_client_consecutive_failures', 'Failures since the last success');
    this.lastSuccess = r.gauge('mtls_client_last_success_timestamp_seconds', 'Time of the last successful request (unix seconds, 0 = never)');
    this.serverCertificate = r.gauge('mtls_client_server_certificate_info', 'Certificate the server presented most recently; value 1, serial as label', [
      'serial',
    ]);
    this.serialsSeen = r.gauge('mtls_client_server_serials_seen', 'Server certificates (distinct serials) seen since start');
    this.agentsBuilt = r.counter('mtls_client_agents_built_total', 'HTTPS agents built (one per own credential generation)');
    for (const result of ['success', 'failure']) this.requests.inc({ result }, 0);
    for (const reason of KNOWN_REASONS) this.failureReasons.inc({ reason }, 0);
    for (const reason of ['connection', 'timeout']) this.retryReasons.inc({ reason }, 0);
    this.consecutive.set({}, 0);
    this.lastSuccess.set({}, 0);
    this.serialsSeen.set({}, 0);
    registerCredentialMetrics(r, watcher);
  }

  /** One more attempt of the request in progress is about to be made. */
  retry(reason: RequestFailureReason, message: string): void {
    // One line per outage, not per retry: the first retry after a clean success.
    if (!this.retrying) this.logger.info('peer unreachable; retrying', { reason, message });
    this.retrying = true;
    this.retries += 1;
    this.pendingRetries += 1;
    this.retryReasons.inc({ reason });
  }

  /** One more attempt of a request before any has succeeded: the server is not answering yet. */
  startupRetry(reason: RequestFailureReason, message: string): void {
    if (this.startupRetries === 0) this.logger.info('server not answering yet; retrying (start-up)', { reason, message });
    this.startupRetries += 1;
    this.startupRetryCount.inc();
  }

  success(serverSerial: string | undefined, response: LastResponse): void {
    if (this.pendingRetries > 0) {
      this.retriedSuccesses += 1;
      if (this.consecutiveFailures === 0) this.logger.info('reached the peer after retrying', { retries: this.pendingRetries, serverSerial });
    } else {
      this.retrying = false;
    }
    this.pendingRetries = 0;
    if (this.successes === 0) this.logger.info('first successful request', { serverSerial, startupRetries: this.startupRetries, response: response.body });
    else if (this.consecutiveFailures > 0) this.logger.info('requests succeed again', { after: this.consecutiveFailures, serverSerial });
    this.successes += 1;
    this.consecutiveFailures = 0;
    this.lastSuccessAt = new Date();
    this.lastResponse = response;
    this.requests.inc({ result: 'success' });
    this.consecutive.set({}, 0);
    this.lastSuccess.set({}, Math.floor(this.lastSuccessAt.getTime() / 1000));
    if (serverSerial) this.sawServerSerial(serverSerial);
  }

  failure(reason: RequestFailureReason, message: string, response?: LastResponse): void {
    this.pendingRetries = 0;
    // Log the first failure of a streak and any change of reason, not each retry.
    if (this.consecutiveFailures === 0 || this.lastError?.reason !== reason) {
      this.logger.warn('request failed', { reason, message, consecutiveFailures: this.consecutiveFailures + 1 });
    }
    this.failures += 1;
    this.consecutiveFailures += 1;
    this.failuresByReason[reason] = (this.failuresByReason[reason] ?? 0) + 1;
    this.lastError = { at: new Date().toISOString(), reason, message };
    if (response) this.lastResponse = response;
    this.requests.inc({ result: 'failure' });
    this.failureReasons.inc({ reason });
    this.consecutive.set({}, this.consecutiveFailures);
  }

  private sawServerSerial(serial: string): void {
    if (serial === this.serverSerial) return;
    if (this.serverSerial !== undefined) this.logger.info('server presents a new certificate', { serial, previousSerial: this.serverSerial });
    this.serverSerial = serial;
    if (!this.serverSerials.includes(serial)) {
      this.serverSerials.push(serial);
      this.serverCertificatesSeen += 1;
      if (this.serverSerials.length > MAX_SERVER_SERIALS) this.serverSerials.splice(0, this.serverSerials.length - MAX_SERVER_SERIALS);
    }
    this.serverCertificate.reset();
    this.serverCertificate.set({ serial }, 1);
    this.serialsSeen.set({}, this.serverCertificatesSeen);
  }
}
