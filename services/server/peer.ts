// The verified caller on the mTLS port, and whether it may go on: the
// identity and validity rules every server framework of the workload applies
// before it routes (services/server/routes.ts, services/express/routes.ts).
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

import { serialOf } from '../../common/serial.js';
import { type EndpointResponse, jsonResponse } from '../lib/admin.js';
import { type AllowList, formatIdentities, identitiesFromSubjectAltName, type Identity } from '../lib/identity.js';
import type { ThrottledLog } from '../lib/throttled-log.js';

export interface Peer {
  readonly certificate: X509Certificate;
  readonly identities: readonly Identity[];
  /** Validity in epoch ms, parsed once per connection. */
  readonly validFrom: number;
  readonly validTo: number;
  readonly presented: string[];
  /** The client certificate's serial (common/serial form). */
  readonly clientSerial: string;
  /** The certificate THIS connection was handshaked with (ours): fixed for its lifetime. */
  readonly serverSerial: string | null;
  readonly serverNotAfter: string | null;
  /**
   * Per connection, computed on its first request: the identity the allow-list
   * matched (null: none; the list is fixed for the life of the process) and the
   * body of `GET /`, whose fields are all properties of the connection.
   */
  authorized?: Identity | null;
  rootBody?: string;
}

// Neither certificate can change during a connection: parse both once.
const peers = new WeakMap<TLSSocket, Peer>();

/** The verified peer of `socket`; undefined when the handshake did not verify one. */
export function peerOf(socket: TLSSocket): Peer | undefined {
  // rejectUnauthorized already refused unverified peers during the handshake;
  // checking again costs nothing and keeps every handler safe if reused.
  if (!socket.authorized) return undefined;
  let peer = peers.get(socket);
  if (!peer) {
    const certificate = socket.getPeerX509Certificate();
    if (!certificate) return undefined;
    const identities = identitiesFromSubjectAltName(certificate.subjectAltName);
    const served = socket.getX509Certificate();
    peer = {
      certificate,
      identities,
      validFrom: Date.parse(certificate.validFrom),
      validTo: Date.parse(certificate.validTo),
      presented: formatIdentities(identities),
      clientSerial: serialOf(certificate),
      serverSerial: served?.serialNumber ? serialOf(served) : null,
      serverNotAfter: served ? new Date(served.validTo).toISOString() : null,
    };
    peers.set(socket, peer);
  }
  return peer;
}

/** A refused peer: the answer (401 or 403, logged already), and whether the connection ends after it. */
export interface Refusal {
  readonly response: EndpointResponse;
  readonly close: boolean;
}

/** The allow-listed identity `peer` goes on as, or its refusal (recorded in `refusals`). */
export function admit(peer: Peer, allowList: AllowList, refusals: ThrottledLog): Identity | Refusal {
  const presented = peer.presented;
  // The handshake checked validity once. A keep-alive connection, or a TLS
  // session resumed from a ticket, can outlive the client certificate: check
  // it on every request, and end the connection when it has run out.
  const now = Date.now();
  if (now > peer.validTo || now < peer.validFrom) {
    const reason = `client certificate ${peer.clientSerial} is not valid now (valid ${new Date(peer.validFrom).toISOString()} to ${new Date(peer.validTo).toISOString()})`;
    refusals.record('certificate_expired', { identities: presented, clientSerial: peer.clientSerial });
    return { response: jsonResponse(401, { error: 'certificate_expired', identity: presented, reason }), close: true };
  }
  peer.authorized ??= allowList.match(peer.identities) ?? null;
  if (peer.authorized) return peer.authorized;
  const reason = 'none of the identities in the client certificate is on the allow-list';
  refusals.record('forbidden', { identities: presented, clientSerial: peer.clientSerial });
  return { response: jsonResponse(403, { error: 'forbidden', identity: presented, reason }), close: false };
}

/** The body of `GET /`: who called, with which certificates, over which TLS version. */
export function rootBody(peer: Peer, identity: Identity, socket: TLSSocket): string {
  // After a reload, old keep-alive connections still report the previous
  // serial, new ones the new.
  peer.rootBody ??= jsonResponse(200, {
    identity: identity.value,
    identities: peer.presented,
    clientSerial: peer.clientSerial,
    serverSerial: peer.serverSerial,
    serverNotAfter: peer.serverNotAfter,
    tlsVersion: socket.getProtocol(),
  }).body;
  return peer.rootBody;
}
