// The client's connection policy, in one place: trust only the private root,
// present our own certificate, and require the server to be a specific
// identity — on top of the chain check, never instead of it.
import { Agent } from 'node:https';
import { createSecureContext, type PeerCertificate } from 'node:tls';

import { serialOf } from '../../common/serial.js';
import type { Credentials } from '../lib/credentials.js';
import { identitiesFromSubjectAltName, type Identity, sameIdentity } from '../lib/identity.js';
import { codedError, IDENTITY_MISMATCH_CODE } from '../lib/tls-errors.js';

/**
 * Node calls checkServerIdentity only AFTER the chain verified against `ca`
 * (rejectUnauthorized stays true), so this is an extra requirement. It
 * replaces the default hostname match on purpose: the URL host is just how we
 * route (a Docker alias, maybe an IP), while the expected identity is who we
 * agreed to talk to — a DNS SAN or a SPIFFE-style URI SAN.
 */
export function serverIdentityCheck(expected: Identity): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  return (_hostname, certificate) => {
    const presented = identitiesFromSubjectAltName(certificate.subjectaltname);
    if (presented.some((identity) => sameIdentity(identity, expected))) return undefined;
    const names = presented.map((identity) => identity.value).join(', ') || 'no DNS or URI SAN';
    return codedError(IDENTITY_MISMATCH_CODE, `server certificate ${serialOf(certificate)} presents ${names}, expected ${expected.value}`);
  };
}

/**
 * One keep-alive agent per credential generation. Agents cache connections
 * and TLS sessions made with the credentials they were built with, so a
 * rotation needs a NEW agent; the old one is destroyed once its requests end.
 *
 * The agent's connections share ONE secure context, built here. Given
 * `ca`/`cert`/`key` instead, Node builds a context per connection: it parses
 * the PEMs again on every handshake and keeps each context's native memory
 * until a full GC.
 */
export function createAgent(credentials: Credentials, expected: Identity): Agent {
  return new Agent({
    keepAlive: true,
    secureContext: createSecureContext({
      ca: credentials.rootPem,
      cert: credentials.certPem,
      key: credentials.keyPem,
      // The server accepts TLS 1.3 only (no renegotiation); asking for less would only fail later.
      minVersion: 'TLSv1.3',
    }),
    rejectUnauthorized: true,
    checkServerIdentity: serverIdentityCheck(expected),
  });
}
