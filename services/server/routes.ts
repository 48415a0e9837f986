// Request handling on the mTLS port: identify the caller from its verified
// certificate, authorise it against the allow-list, then route.
import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { serialOf } from '../../common/serial.js';
import { type EndpointResponse, JSON_CONTENT_TYPE, jsonResponse, send } from '../lib/admin.js';
import { type AllowList, formatIdentities, identitiesFromSubjectAltName, type Identity } from '../lib/identity.js';
import type { Logger } from '../lib/logger.js';
import { parseRequestTarget, type RequestTarget } from '../lib/request-target.js';
import type { ThrottledLog } from '../lib/throttled-log.js';
import type { ServerMetrics } from './metrics.js';

export interface RouteContext {
  readonly allowList: AllowList;
  readonly metrics: ServerMetrics;
  readonly metricsEndpoint: () => EndpointResponse;
  /** True when this connection should close after the response (draining, or too old). */
  readonly shouldClose: (socket: TLSSocket) => boolean;
  readonly logger: Logger;
  /** Malformed requests from verified peers: logged once per kind and interval. */
  readonly problems: ThrottledLog;
  /** Refused verified peers (403, 401): logged once per kind and interval. */
  readonly refusals: ThrottledLog;
}

interface Peer {
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

function peerOf(socket: TLSSocket): Peer | undefined {
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

export function handleRequest(req: IncomingMessage, res: ServerResponse, context: RouteContext): void {
  const socket = req.socket as TLSSocket;
  if (context.shouldClose(socket)) res.setHeader('connection', 'close');

  // rejectUnauthorized already refused unverified peers during the handshake;
  // checking again costs nothing and keeps this handler safe if reused.
  const peer = socket.authorized ? peerOf(socket) : undefined;
  if (!peer) {
    context.logger.warn('request without a verified client certificate', { remoteAddress: socket.remoteAddress });
    socket.destroy();
    return;
  }

  const presented = peer.presented;
  // The handshake checked validity once. A keep-alive connection, or a TLS
  // session resumed from a ticket, can outlive the client certificate: check
  // it on every request, and end the connection when it has run out.
  const now = Date.now();
  if (now > peer.validTo || now < peer.validFrom) {
    const reason = `client certificate ${peer.clientSerial} is not valid now (valid ${new Date(peer.validFrom).toISOString()} to ${new Date(peer.validTo).toISOString()})`;
    context.refusals.record('certificate_expired', { identities: presented, clientSerial: peer.clientSerial });
    context.metrics.countRequest(presented[0] ?? 'none', 401);
    res.setHeader('connection', 'close');
    send(res, jsonResponse(401, { error: 'certificate_expired', identity: presented, reason }));
    return;
  }
  peer.authorized ??= context.allowList.match(peer.identities) ?? null;
  const matched = peer.authorized;
  if (!matched) {
    const reason = 'none of the identities in the client certificate is on the allow-list';
    context.refusals.record('forbidden', { identities: presented, clientSerial: peer.clientSerial });
    context.metrics.countRequest(presented[0] ?? 'none', 403);
    send(res, jsonResponse(403, { error: 'forbidden', identity: presented, reason }));
    return;
  }

  const target = parseRequestTarget(req.url);
  if (target.kind === 'invalid') {
    // A client that sends this is broken or probing: answer, then end the connection.
    context.problems.record('invalid_target', { status: target.status, reason: target.reason, identity: matched.value, clientSerial: peer.clientSerial });
    context.metrics.countRequest(matched.value, target.status);
    res.setHeader('connection', 'close');
    send(res, jsonResponse(target.status, { error: 'bad request', reason: target.reason }));
    return;
  }
  const response = route(req, target, socket, peer, matched, context);
  context.metrics.countRequest(matched.value, response.status);
  send(res, response);
}

function route(req: IncomingMessage, target: RequestTarget, socket: TLSSocket, peer: Peer, matched: Identity, context: RouteContext): EndpointResponse {
  if (req.method !== 'GET' && req.method !== 'HEAD') return jsonResponse(405, { error: 'method not allowed' });
  if (target.kind !== 'path') return jsonResponse(400, { error: 'bad request', reason: 'the asterisk target is only for OPTIONS' });
  if (target.path === '/metrics') return context.metricsEndpoint();
  if (target.path !== '/') return jsonResponse(404, { error: 'not found' });

  // After a reload, old keep-alive connections still report the previous
  // serial, new ones the new.
  peer.rootBody ??= jsonResponse(200, {
    identity: matched.value,
    identities: peer.presented,
    clientSerial: peer.clientSerial,
    serverSerial: peer.serverSerial,
    serverNotAfter: peer.serverNotAfter,
    tlsVersion: socket.getProtocol(),
  }).body;
  return { status: 200, contentType: JSON_CONTENT_TYPE, body: peer.rootBody };
}
