import { X509Certificate } from 'node:crypto';
import https from 'node:https';

import type { IssuedCredential } from '../../scripts/lib/identity/host-identity.js';
import { fingerprintOf } from '../../scripts/lib/identity/pki.js';

/** One answered (or failed) renewal, by when it came back and which intermediate signed the new leaf. */
export interface Renewal {
  readonly at: number;
  /** SHA-256 fingerprint of the intermediate the CA returned (`ca`), or undefined on failure. */
  readonly intermediate?: string;
  readonly error?: string;
  /** The first attempt went out on a kept-alive connection the CA closed (its reload); this is the retry's outcome. */
  readonly retriedAfterClose?: string;
}

/**
 * POST /1.0/renew over mTLS, `connections` loops at a time on keep-alive
 * connections, until stopped: the renewals a fleet sends, recorded one by
 * one so a benchmark can tell which chain each one landed on. `ca()` is read
 * for every new connection, so the client follows the host's pinned state
 * through a root rotation as an operator's tools do.
 */
export function startRenewals(opts: { caUrl: string; identity: IssuedCredential; ca: () => string; connections: number }): {
  stop: () => void;
  done: Promise<Renewal[]>;
} {
  const renewals: Renewal[] = [];
  let stopped = false;
  const loop = async () => {
    const fresh = () => new https.Agent({ keepAlive: true, maxSockets: 1, ca: opts.ca(), cert: opts.identity.certPem, key: opts.identity.keyPem });
    let agent = fresh();
    const renew = async () => {
      const body = await post(`${opts.caUrl}/1.0/renew`, agent);
      const ca = (JSON.parse(body) as { ca?: string }).ca;
      if (!ca) throw new Error('the answer holds no intermediate');
      return fingerprintOf(new X509Certificate(ca));
    };
    while (!stopped) {
      let closed: string | undefined;
      try {
        renewals.push({ at: Date.now(), intermediate: await renew() });
        continue;
      } catch (err) {
        // A new connection, with what the host trusts now.
        agent.destroy();
        agent = fresh();
        if (!(err as ClosedError).closedReused) {
          renewals.push({ at: Date.now(), error: (err as Error).message });
          continue;
        }
        closed = (err as Error).message;
      }
      // What every HTTP client does when a server closes a kept-alive
      // connection under a request it sent: one retry on a new connection.
      try {
        renewals.push({ at: Date.now(), intermediate: await renew(), retriedAfterClose: closed });
      } catch (err) {
        renewals.push({ at: Date.now(), error: (err as Error).message, retriedAfterClose: closed });
        agent.destroy();
        agent = fresh();
      }
    }
    agent.destroy();
  };
  const loops = Array.from({ length: opts.connections }, loop);
  return {
    stop: () => {
      stopped = true;
    },
    done: Promise.all(loops).then(() => renewals),
  };
}

type ClosedError = Error & { closedReused?: boolean };

/** Connection-level errors: the server closed the connection before it answered. */
const CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function post(url: string, agent: https.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        res.statusCode === 201 || res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const closed = req.reusedSocket && (CLOSED.has(err.code ?? '') || err.message === 'socket hang up');
      reject(Object.assign(err, { closedReused: closed }));
    });
    req.end();
  });
}

/** Renewals per second on each intermediate, and the gap between the last answer on `from` and the first on `to`. */
export function cutover(
  renewals: readonly Renewal[],
  from: string,
  to: string,
): {
  onOld: number;
  onNew: number;
  failed: number;
  retriedAfterClose: number;
  errors: Record<string, number>;
  lastOld?: number;
  firstNew?: number;
  gapMs?: number;
} {
  const ok = renewals.filter((r) => r.intermediate);
  const old = ok.filter((r) => r.intermediate === from);
  const fresh = ok.filter((r) => r.intermediate === to);
  const lastOld = old.at(-1)?.at;
  const firstNew = fresh[0]?.at;
  return {
    onOld: old.length,
    onNew: fresh.length,
    failed: renewals.filter((r) => r.error).length,
    retriedAfterClose: renewals.filter((r) => r.retriedAfterClose).length,
    errors: countBy(renewals.flatMap((r) => [r.error, r.retriedAfterClose].filter((e): e is string => Boolean(e)))),
    lastOld,
    firstNew,
    gapMs: lastOld !== undefined && firstNew !== undefined ? firstNew - lastOld : undefined,
  };
}

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
