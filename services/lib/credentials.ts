// Reads and validates the three credential files. Validation happens BEFORE a
// credential is used: this project's renewer installs key and certificate by
// two renames, so a reader can catch the new key next to the old certificate
// for an instant, and other writers (`step ca renew` rewrites files in place)
// can leave a half-written certificate. Anything that would make TLS fail later is rejected here instead.
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';

import { serialOf } from '../../common/serial.js';
import { formatIdentities, identitiesFromSubjectAltName, type Identity } from './identity.js';
import { parseTrustFile, readTrustFile, type TrustedRoots, TrustFileError, type TrustProblem } from './trust-file.js';

/** Fixed, boring names (the autocert convention): the renewer writes them, we read them. */
export const CREDENTIAL_FILES = { root: 'root.crt', cert: 'site.crt', key: 'site.key' } as const;

export interface CredentialFiles {
  /**
   * root.crt: as read, one char per byte (latin1), in CredentialFiles; in
   * Credentials, the accepted roots re-encoded from their DER, which is all
   * TLS is ever given (see trust-file.ts).
   */
  readonly rootPem: string;
  /** Leaf followed by its intermediate(s). */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Credentials extends CredentialFiles {
  readonly leaf: X509Certificate;
  /** Upper-case hex, as OpenSSL prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly identities: readonly Identity[];
  /** SHA-256 over all three files: tells "same content again" from a real change. */
  readonly digest: string;
}

/** The trust-file reasons (root.crt) are the contract's words; the others concern site.crt and site.key. */
export type CredentialProblem =
  TrustProblem | 'missing' | 'unreadable' | 'malformed' | 'key_mismatch' | 'no_identity' | 'untrusted' | 'not_yet_valid' | 'expired' | 'unusable';

/** Why a set of files was refused; `certificate` is set when the leaf could be parsed. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';

  constructor(
    readonly problem: CredentialProblem,
    message: string,
    readonly certificate?: { readonly serial: string; readonly notAfter: Date },
  ) {
    super(message);
  }
}

export async function readCredentialFiles(dir: string): Promise<CredentialFiles> {
  const read = async (name: string): Promise<string> => {
    try {
      if (name === CREDENTIAL_FILES.root) return (await readTrustFile(join(dir, name), name)).toString('latin1');
      return await readFile(join(dir, name), 'utf8');
    } catch (error) {
      if (error instanceof TrustFileError) throw new CredentialError(error.problem, error.message);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new CredentialError('missing', `${name} does not exist in ${dir}`);
      throw new CredentialError('unreadable', `cannot read ${name}: ${code ?? String(error)}`);
    }
  };
  const [rootPem, certPem, keyPem] = await Promise.all([read(CREDENTIAL_FILES.root), read(CREDENTIAL_FILES.cert), read(CREDENTIAL_FILES.key)]);
  return { rootPem, certPem, keyPem };
}

export function digestOf(files: CredentialFiles): string {
  return createHash('sha256').update(files.rootPem).update('\0').update(files.certPem).update('\0').update(files.keyPem).digest('hex');
}

/**
 * `pins`, when given, are the SHA-256 fingerprints of the roots we may trust:
 * root.crt must hold pinned roots only, in the trust-file form (root.crt is
 * what peers are verified against, so one extra root in any form would let a
 * foreign CA's clients in), and the chain must end at one.
 */
export function validateCredentials(files: CredentialFiles, now: Date = new Date(), pins?: ReadonlySet<string>): Credentials {
  const trusted = trustedRoots(files, pins);
  const roots = trusted.certificates;
  const [leaf, ...intermediates] = parseCertificates(files.certPem, CREDENTIAL_FILES.cert);
  if (!leaf) throw new CredentialError('malformed', `${CREDENTIAL_FILES.cert} holds no certificate`);
  const serial = serialOf(leaf);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  const fail = (problem: CredentialProblem, message: string): CredentialError => new CredentialError(problem, message, { serial, notAfter });

  if (!leaf.checkPrivateKey(parseKey(files.keyPem, fail))) {
    throw fail('key_mismatch', `${CREDENTIAL_FILES.key} does not match the certificate ${serial} in ${CREDENTIAL_FILES.cert}`);
  }
  const identities = identitiesOf(leaf, serial, fail);
  if (identities.length === 0) throw fail('no_identity', `certificate ${serial} has no DNS or URI subject alternative name`);

  const path = chainToRoot(leaf, intermediates, roots, fail);
  if (now < notBefore) throw fail('not_yet_valid', `certificate ${serial} is not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw fail('expired', `certificate ${serial} expired at ${notAfter.toISOString()}`);
  for (const issuer of path) {
    if (now < new Date(issuer.validFrom) || now > new Date(issuer.validTo)) {
      throw fail('expired', `issuer ${issuer.subject.replace(/\n/g, ', ')} is outside its validity period`);
    }
  }
  try {
    // Last gate: OpenSSL's own policy (e.g. minimum key sizes) is applied when a
    // context is built. Failing here keeps the old context; failing inside
    // setSecureContext() would leave the process half-switched.
    createSecureContext({ ca: trusted.pem, cert: files.certPem, key: files.keyPem, minVersion: 'TLSv1.2' });
  } catch (error) {
    throw fail('unusable', `OpenSSL refuses these credentials: ${(error as Error).message}`);
  }
  return { ...files, rootPem: trusted.pem, leaf, serial, notBefore, notAfter, identities, digest: digestOf(files) };
}

/** Convenience for logs and /stats. */
export function describeCredentials(credentials: Credentials) {
  return {
    serial: credentials.serial,
    notBefore: credentials.notBefore.toISOString(),
    notAfter: credentials.notAfter.toISOString(),
    identities: formatIdentities(credentials.identities),
  };
}

/** root.crt under the trust-file contract; a refusal names the leaf it would have come with, when it parses. */
function trustedRoots(files: CredentialFiles, pins: ReadonlySet<string> | undefined): TrustedRoots {
  try {
    return parseTrustFile(files.rootPem, pins, CREDENTIAL_FILES.root);
  } catch (error) {
    if (!(error instanceof TrustFileError)) throw error;
    let certificate: { serial: string; notAfter: Date } | undefined;
    try {
      const leaf = parseCertificates(files.certPem, CREDENTIAL_FILES.cert)[0];
      if (leaf) certificate = { serial: serialOf(leaf), notAfter: new Date(leaf.validTo) };
    } catch {
      // site.crt is unreadable too: the root.crt refusal is the one reported.
    }
    throw new CredentialError(error.problem, error.message, certificate);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function parseCertificates(text: string, file: string): X509Certificate[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  // A BEGIN without its END is the signature of a file caught mid-write.
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) throw new CredentialError('malformed', `${file} ends in a truncated PEM block`);
  if (blocks.length === 0) throw new CredentialError('malformed', `${file} holds no PEM certificate`);
  return blocks.map((block, index) => {
    if (block[1] !== 'CERTIFICATE') {
      throw new CredentialError('malformed', `${file} block ${index + 1} is a ${block[1]}, not a CERTIFICATE`);
    }
    try {
      return new X509Certificate(block[0]);
    } catch {
      throw new CredentialError('malformed', `${file} block ${index + 1} is not a valid certificate`);
    }
  });
}

/**
 * The leaf's DNS and URI identities. Reading `subjectAltName` throws on Node 24
 * for an extension it cannot format (e.g. one that lists no name; Node 20
 * returned text): that is a certificate without a usable identity too.
 */
function identitiesOf(
  leaf: X509Certificate,
  serial: string,
  fail: (problem: CredentialProblem, message: string) => CredentialError,
): ReturnType<typeof identitiesFromSubjectAltName> {
  let text: string | undefined;
  try {
    text = leaf.subjectAltName;
  } catch (err) {
    throw fail('no_identity', `certificate ${serial} has a subject alternative name extension that cannot be read (${(err as Error).message})`);
  }
  return identitiesFromSubjectAltName(text);
}

function parseKey(pem: string, fail: (problem: CredentialProblem, message: string) => CredentialError): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    // OpenSSL's message names the decoder that failed, never key bytes.
    throw fail('malformed', `${CREDENTIAL_FILES.key} is not a usable private key (${(error as Error).message})`);
  }
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/**
 * Walks leaf → intermediates → a root from root.crt, checking each signature.
 * Returns the issuers on the path (intermediates and the root). The same walk
 * happens again in every TLS handshake; doing it here means a bad bundle is
 * refused at reload instead of breaking every new connection.
 */
function chainToRoot(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  fail: (problem: CredentialProblem, message: string) => CredentialError,
): X509Certificate[] {
  const path: X509Certificate[] = [];
  const unused = [...intermediates];
  let current = leaf;
  for (;;) {
    const root = roots.find((candidate) => issuedBy(current, candidate));
    if (root) return [...path, root];
    const next = unused.findIndex((candidate) => issuedBy(current, candidate));
    const issuer = unused[next];
    if (!issuer) {
      const which = current === leaf ? 'the certificate' : `intermediate ${current.subject.replace(/\n/g, ', ')}`;
      throw fail('untrusted', `${which} is not signed by ${CREDENTIAL_FILES.root} or by an intermediate in ${CREDENTIAL_FILES.cert}`);
    }
    unused.splice(next, 1);
    path.push(issuer);
    current = issuer;
  }
}
