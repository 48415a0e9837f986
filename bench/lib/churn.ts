// Connection churn: every request on a fresh mTLS connection (full handshake,
// client certificate and its intermediate sent), at a fixed rate. autocannon
// keeps its connections, so it cannot produce this load.
import { request, type RequestOptions } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { HostIdentity } from './host-identity.js';

export interface ChurnOptions {
  readonly url: string;
  readonly identity: HostIdentity;
  readonly rootPem: string;
  /** SNI and the name the server certificate is checked against. */
  readonly servername: string;
  /** New connections per second. */
  readonly rate: number;
  readonly seconds: number;
  /** Per request, handshake included. @default 10_000 */
  readonly timeoutMs?: number;
}

export interface ChurnResult {
  readonly ok: number;
  readonly failed: number;
  /** Failed requests by error code or HTTP status. */
  readonly failures: Record<string, number>;
  readonly seconds: number;
}

/** Sends `rate` requests per second for `seconds`, each on its own connection, and waits for the last. */
export async function churn(o: ChurnOptions): Promise<ChurnResult> {
  // One context for every connection: the load generator should not pay a PEM parse per handshake.
  const secureContext = createSecureContext({
    ca: o.rootPem,
    cert: o.identity.certPem,
    key: o.identity.keyPem,
    minVersion: 'TLSv1.3',
  });
  const target = new URL(o.url);
  const failures: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const fail = (reason: string): void => {
    failed++;
    failures[reason] = (failures[reason] ?? 0) + 1;
  };
  // https passes secureContext on to tls.connect; its RequestOptions type does not list it.
  const options: RequestOptions & { secureContext: SecureContext } = {
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    agent: false,
    secureContext,
    servername: o.servername,
    headers: { connection: 'close' },
    timeout: o.timeoutMs ?? 10_000,
  };
  const one = () =>
    new Promise<void>((resolve) => {
      let settled = false;
      const settle = (reason?: string): void => {
        if (settled) return;
        settled = true;
        if (reason === undefined) ok++;
        else fail(reason);
        resolve();
      };
      const req = request(options, (res) => {
        res.resume();
        res.on('end', () => settle(res.statusCode === 200 ? undefined : `http_${res.statusCode}`));
        res.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? 'response_error'));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'timeout' })));
      req.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? 'error'));
      req.end();
    });
  const startedAt = Date.now();
  const total = Math.round(o.rate * o.seconds);
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const wait = startedAt + (i * 1000) / o.rate - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(one());
  }
  await Promise.all(pending);
  return { ok, failed, failures, seconds: (Date.now() - startedAt) / 1000 };
}
