// Connection churn: every request on a fresh mTLS connection (full handshake,
// client certificate and its intermediate sent), at a fixed rate. autocannon
// keeps its connections, so it cannot produce this load.
import { Agent } from 'node:https';
import { createSecureContext } from 'node:tls';

import { sleep } from '../../common/wait.js';
import { getOnce } from '../../services/client/request.js';
import type { HostIdentity } from './load-identity.js';

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
  // No keep-alive and no session cache: every request is a full handshake.
  // One context for every connection: the load generator should not pay a PEM parse per handshake.
  const agent = new Agent({
    keepAlive: false,
    maxCachedSessions: 0,
    servername: o.servername,
    secureContext: createSecureContext({ ca: o.rootPem, cert: o.identity.certPem, key: o.identity.keyPem, minVersion: 'TLSv1.3' }),
  });
  const target = new URL(o.url);
  const failures: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const one = async (): Promise<void> => {
    // The reference client's own GET: a deadline over the handshake too, never rejects.
    const outcome = await getOnce(target, agent, o.timeoutMs ?? 10_000);
    if (outcome.ok && outcome.status === 200) {
      ok++;
      return;
    }
    const reason = outcome.ok ? `http_${outcome.status}` : (outcome.error.code ?? 'error');
    failed++;
    failures[reason] = (failures[reason] ?? 0) + 1;
  };
  const startedAt = Date.now();
  const total = Math.round(o.rate * o.seconds);
  const pending: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < total; i++) {
      const wait = startedAt + (i * 1000) / o.rate - Date.now();
      if (wait > 0) await sleep(wait);
      pending.push(one());
    }
    await Promise.all(pending);
  } finally {
    agent.destroy();
  }
  return { ok, failed, failures, seconds: (Date.now() - startedAt) / 1000 };
}
