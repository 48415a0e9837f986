import { X509Certificate } from 'node:crypto';
import https from 'node:https';

import { UserError } from '../cli/ui.js';
import { fingerprintOf, normaliseFingerprint, splitPem } from '../identity/pki.js';

/**
 * GET over HTTPS. With `ca` the server is verified against it; without, the
 * connection is only a transport and the caller must verify what it gets
 * (bootstrap: the root is checked against a pinned fingerprint).
 */
export function httpsGet(url: string, opts: { ca?: string; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: opts.ca, rejectUnauthorized: opts.ca !== undefined, timeout: opts.timeoutMs ?? 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
  });
}

/**
 * Fetches the root through the CA's API (`/root/<sha256>`) and accepts it
 * only if its SHA-256 equals the pinned fingerprint: trust on first use,
 * anchored in a value obtained over a separate channel.
 */
export async function fetchPinnedRoot(caUrl: string, fingerprint: string): Promise<string> {
  const fp = normaliseFingerprint(fingerprint);
  if (!/^[0-9a-f]{64}$/.test(fp)) throw new UserError(`"${fingerprint}" is not a SHA-256 fingerprint (64 hex digits)`);
  let res: { status: number; body: string };
  try {
    res = await httpsGet(`${caUrl}/root/${fp}`);
  } catch (err) {
    throw new UserError(`cannot reach the CA at ${caUrl} (${(err as Error).message}). Is the stack deployed and the CA healthy?`);
  }
  if (res.status === 404) throw new UserError(`the CA at ${caUrl} has no root with fingerprint ${fp}: wrong fingerprint, or the wrong CA.`);
  if (res.status !== 200) throw new UserError(`the CA at ${caUrl} answered ${res.status} for /root/${fp}: ${res.body.slice(0, 200)}`);
  let pem: string;
  try {
    const served = (JSON.parse(res.body) as { ca: string }).ca;
    // X509Certificate reads only the first PEM block: anything after it would
    // ride along unverified, so a bundle is refused outright.
    const blocks = splitPem(served);
    if (blocks.length > 1) {
      throw new UserError(`the CA at ${caUrl} served ${blocks.length} certificates for /root/${fp}; expected exactly one. Nothing was written.`);
    }
    const cert = new X509Certificate(served);
    pem = `${blocks[0]}\n`;
    const actual = fingerprintOf(cert);
    if (actual !== fp) {
      throw new UserError(
        `fingerprint mismatch: the CA at ${caUrl} served a root with SHA-256 ${actual}, expected ${fp}. Nothing was written. Check the fingerprint; if it is right, the CA is not the one you think.`,
      );
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`the CA at ${caUrl} returned an unreadable root: ${(err as Error).message}`);
  }
  // The CA must also serve TLS from this root, or something is in between.
  const health = await httpsGet(`${caUrl}/health`, { ca: pem }).catch((err: Error) => {
    throw new UserError(`the CA at ${caUrl} does not present a certificate issued by the pinned root (${err.message}).`);
  });
  if (health.status !== 200) throw new UserError(`the CA at ${caUrl} is not healthy: ${health.status} ${health.body}`);
  return pem;
}
