import { X509Certificate } from 'node:crypto';

import { serialOf } from '../identity/pki.js';

/**
 * What the CA issued, read from its own request log. step-ca logs every
 * certificate it returns from /sign, /renew and /rekey (field `certificate`,
 * base64 DER, in its text and JSON log formats alike); its database cannot be
 * read while it runs (badger holds an exclusive lock) and its API has no
 * "list certificates" call, so the log is the one record of certificates a
 * holder of a copied key made for itself.
 */
export interface IssuedCertificate {
  /** Canonical form (pki.serialOf): upper-case hex, no leading zeros. */
  readonly serial: string;
  readonly notAfter: Date;
  readonly dnsNames: string[];
  readonly uris: string[];
  /** The certificate itself (to tell which intermediate signed it). */
  readonly x509: X509Certificate;
}

/**
 * What the CA's entrypoint logs when it serves for the first time since its
 * initialisation (images/step-ca/entrypoint.sh, announce_start). Docker keeps
 * a container's log across restarts, so the line stays in it; a recreated
 * container or a replaced pod starts a log without it.
 */
export const FIRST_START_LINE = 'first start of this CA since its initialisation: this log holds every certificate it issues';
/**
 * The whole line as the entrypoint's `log` writes it (recipes/lib/mtls-common.sh),
 * after the engine's timestamp: text a client makes the CA log sits inside
 * step-ca's own escaped fields and cannot start such a line.
 */
const FIRST_START = new RegExp(
  `^(?:\\S+\\s)?\\{"ts":"[^"]*","level":"info","component":"ca-entrypoint","msg":"${FIRST_START_LINE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\}$`,
);

export interface CaLogRecord {
  readonly certificates: IssuedCertificate[];
  /** The log holds the CA's first start since its initialisation (FIRST_START_LINE): nothing it issued is missing. */
  readonly fromFirstStart: boolean;
  /** Time of the oldest line the log still holds (`docker logs --timestamps`); undefined when empty. */
  readonly since?: Date;
  /** Lines whose certificate field did not parse (a truncated line, a foreign format). */
  readonly unreadable: number;
}

const CERTIFICATE_FIELD = /\bcertificate"?\s*[=:]\s*"?([A-Za-z0-9+/]{64,}={0,2})/g;
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)\s/;

/** Parses the output of `docker logs --timestamps <ca>`. One entry per serial. */
export function issuedFromCaLog(log: string): CaLogRecord {
  const bySerial = new Map<string, IssuedCertificate>();
  let since: Date | undefined;
  let unreadable = 0;
  let fromFirstStart = false;
  for (const line of log.split('\n')) {
    if (since === undefined) {
      const ts = TIMESTAMP.exec(line)?.[1];
      if (ts) since = new Date(ts);
    }
    if (FIRST_START.test(line)) fromFirstStart = true;
    if (!line.includes('certificate')) continue;
    for (const match of line.matchAll(CERTIFICATE_FIELD)) {
      try {
        const cert = new X509Certificate(Buffer.from(match[1]!, 'base64'));
        const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
        bySerial.set(serialOf(cert), {
          serial: serialOf(cert),
          notAfter: new Date(cert.validTo),
          dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
          uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
          x509: cert,
        });
      } catch {
        unreadable += 1;
      }
    }
  }
  return { certificates: [...bySerial.values()], fromFirstStart, since, unreadable };
}

/** Certificates that carry any of these identities (DNS or URI SANs) and have not expired. */
export function unexpiredFor(record: CaLogRecord, identities: readonly string[], now = new Date()): IssuedCertificate[] {
  return record.certificates.filter((c) => c.notAfter.getTime() > now.getTime() && identities.some((id) => c.dnsNames.includes(id) || c.uris.includes(id)));
}

/**
 * The log holds every certificate that can still be valid when it holds the
 * CA's first start (nothing was issued before), or when it reaches back
 * further than the longest lifetime the CA signs.
 */
export function logIsComplete(record: CaLogRecord, opts: { maxLifetimeSeconds: number; now?: Date }): boolean {
  if (record.fromFirstStart) return true;
  if (record.since === undefined) return false;
  const now = opts.now ?? new Date();
  return record.since.getTime() <= now.getTime() - opts.maxLifetimeSeconds * 1000;
}
