import { createHash, X509Certificate } from 'node:crypto';

import { serialOf } from '../../../common/serial.js';

export { normaliseSerial, serialOf } from '../../../common/serial.js';

/** `cert` names `issuer` as its issuer and carries its signature (no validity or constraint check). */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** What the scripts need to know about a certificate, parsed by Node itself. */
export interface CertInfo {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: string[];
  readonly uris: string[];
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 of the DER encoding, lower-case hex (step's fingerprint format). */
  readonly fingerprint: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPem(bundle: string): string[] {
  return bundle.match(PEM_CERT) ?? [];
}

export function certInfo(pem: string): CertInfo {
  const cert = new X509Certificate(pem);
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    serial: serialOf(cert),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    subject: cert.subject,
    issuer: cert.issuer,
    fingerprint: fingerprintOf(cert),
  };
}

export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

export function normaliseFingerprint(fp: string): string {
  return fp.trim().toLowerCase().replace(/:/g, '');
}

/**
 * The leaf of a bundle (leaf + intermediates), checked to chain to `rootPem`.
 * Returns why not, instead of throwing, so callers can report it.
 */
export function verifyBundle(bundlePem: string, rootPem: string, at = new Date()): { ok: true; leaf: CertInfo } | { ok: false; reason: string } {
  const certs = splitPem(bundlePem);
  if (certs.length === 0) return { ok: false, reason: 'no certificate in the bundle' };
  let chain: X509Certificate[];
  let root: X509Certificate;
  try {
    chain = certs.map((p) => new X509Certificate(p));
    root = new X509Certificate(rootPem);
  } catch (err) {
    return { ok: false, reason: `unparseable certificate: ${(err as Error).message}` };
  }
  for (let i = 0; i < chain.length; i++) {
    const issuer = chain[i + 1] ?? root;
    if (!issuedBy(chain[i]!, issuer)) {
      return { ok: false, reason: `certificate ${i} is not signed by ${issuer.subject.replace(/\n/g, ', ')}` };
    }
  }
  const leaf = certInfo(certs[0]!);
  if (at < leaf.notBefore) return { ok: false, reason: `not valid before ${leaf.notBefore.toISOString()}` };
  if (at > leaf.notAfter) return { ok: false, reason: `expired at ${leaf.notAfter.toISOString()}` };
  return { ok: true, leaf };
}

export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let s = Math.round(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return sign + (h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`);
}
