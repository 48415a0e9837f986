// The server's metrics: requests by identity and status, handshake failures
// by reason, plus the credential metrics every workload exports.
import { registerCredentialMetrics } from '../lib/credential-status.js';
import type { CredentialWatcher } from '../lib/credential-watcher.js';
import { type Counter, Registry } from '../lib/metrics.js';
import { HANDSHAKE_FAILURE_REASONS, type HandshakeFailureReason } from '../lib/tls-errors.js';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter;
  readonly handshakeFailures: Counter;
  readonly requestProblems: Counter;

  constructor(watcher: CredentialWatcher) {
    this.requests = this.registry.counter('mtls_server_requests_total', 'HTTP requests over verified mTLS connections, by client identity and status', [
      'identity',
      'status',
    ]);
    this.handshakeFailures = this.registry.counter(
      'mtls_server_handshake_failures_total',
      'TLS handshakes refused, by reason (no_certificate, unknown_ca, expired, bad_certificate, other)',
      ['reason'],
    );
    this.requestProblems = this.registry.counter(
      'mtls_server_request_problems_total',
      'Malformed requests and connections refused before routing, by kind (invalid_target, headers_too_large, request_timeout, invalid_method, malformed_request, connection_cap, handler_error)',
      ['kind'],
    );
    // Every reason starts at 0 so a dashboard can tell "none yet" from "not exported".
    for (const reason of HANDSHAKE_FAILURE_REASONS) this.handshakeFailures.inc({ reason }, 0);
    registerCredentialMetrics(this.registry, watcher);
  }

  countRequest(identity: string, status: number): void {
    this.requests.inc({ identity, status: String(status) });
  }

  countHandshakeFailure(reason: HandshakeFailureReason): void {
    this.handshakeFailures.inc({ reason });
  }

  /** `{ identity: { status: count } }` for /stats. */
  requestsByIdentity(): Record<string, Record<string, number>> {
    const table: Record<string, Record<string, number>> = {};
    for (const { labels, value } of this.requests.entries()) {
      const identity = labels['identity'] ?? '';
      const row = (table[identity] ??= {});
      row[labels['status'] ?? ''] = value;
    }
    return table;
  }

  handshakeFailuresByReason(): Record<string, number> {
    return Object.fromEntries(this.handshakeFailures.entries().map(({ labels, value }) => [labels['reason'] ?? '', value]));
  }

  totalRequests(): number {
    return this.requests.entries().reduce((sum, { value }) => sum + value, 0);
  }
}
