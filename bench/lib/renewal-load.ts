import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { fingerprintOf } from '../../scripts/lib/pki.js';
import type { IssuedCredential } from '../../scripts/lib/host-identity.js';

/** One answered (or failed) renewal, by when it came back and which intermediate signed the new leaf. */
export interface Renewal {
  readonly at: number;
  /** SHA-256 fingerprint of the intermediate the CA returned (`ca`), or undefined on failure. */
  readonly intermediate?: string;
  readonly error?: string;
}

/**
 * POST /1.0/renew over mTLS, `connections` loops at a time on keep-alive
 * connections, until stopped: the renewals a fleet sends, recorded one by
 * one so a benchmark can tell which chain each one landed on. `ca()` is read
 * for every new connection, so the client follows the host's pinned state
 * through a root rotation as an operator's tools do.
 */
export function startRenewals(opts: { caUrl: string; identity: IssuedCredential; ca: () => string; connections: number }): { stop: () => void; done: Promise<Renewal[]> } {
  const renewals: Renewal[] = [];
  let stopped = false;
  const loop = async () => {
    let agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: opts.ca(), cert: opts.identity.certPem, key: opts.identity.keyPem });
    while (!stopped) {
      try {
        const body = await post(`${opts.caUrl}/1.0/renew`, agent);
        const ca = (JSON.parse(body) as { ca?: string }).ca;
        if (!ca) throw new Error('the answer holds no intermediate');
        renewals.push({ at: Date.now(), intermediate: fingerprintOf(new X509Certificate(ca)) });
      } catch (err) {
        renewals.push({ at: Date.now(), error: (err as Error).message });
        // A fresh connection, with what the host trusts now.
        agent.destroy();
        agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: opts.ca(), cert: opts.identity.certPem, key: opts.identity.keyPem });
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

function post(url: string, agent: https.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 201 || res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`))));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Renewals per second on each intermediate, and the gap between the last answer on `from` and the first on `to`. */
export function cutover(renewals: readonly Renewal[], from: string, to: string): { onOld: number; onNew: number; failed: number; lastOld?: number; firstNew?: number; gapMs?: number } {
  const ok = renewals.filter((r) => r.intermediate);
  const old = ok.filter((r) => r.intermediate === from);
  const fresh = ok.filter((r) => r.intermediate === to);
  const lastOld = old.at(-1)?.at;
  const firstNew = fresh[0]?.at;
  return {
    onOld: old.length,
    onNew: fresh.length,
    failed: renewals.filter((r) => r.error).length,
    lastOld,
    firstNew,
    gapMs: lastOld !== undefined && firstNew !== undefined ? firstNew - lastOld : undefined,
  };
}
