// Request handling on the mTLS port: identify the caller from its verified
// certificate, authorise it against the allow-list (peer.ts), then route.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { type EndpointResponse, JSON_CONTENT_TYPE, jsonResponse, send } from '../lib/admin.js';
import type { AllowList, Identity } from '../lib/identity.js';
import type { Logger } from '../lib/logger.js';
import { parseRequestTarget, type RequestTarget } from '../lib/request-target.js';
import type { ThrottledLog } from '../lib/throttled-log.js';
import type { ServerMetrics } from './metrics.js';
import { admit, type Peer, peerOf, rootBody } from './peer.js';

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

export function handleRequest(req: IncomingMessage, res: ServerResponse, context: RouteContext): void {
  const socket = req.socket as TLSSocket;
  if (context.shouldClose(socket)) res.setHeader('connection', 'close');

  const peer = peerOf(socket);
  if (!peer) {
    context.logger.warn('request without a verified client certificate', { remoteAddress: socket.remoteAddress });
    socket.destroy();
    return;
  }
  const admitted = admit(peer, context.allowList, context.refusals);
  if ('response' in admitted) {
    context.metrics.countRequest(peer.presented[0] ?? 'none', admitted.response.status);
    if (admitted.close) res.setHeader('connection', 'close');
    send(res, admitted.response);
    return;
  }

  const target = parseRequestTarget(req.url);
  if (target.kind === 'invalid') {
    // A client that sends this is broken or probing: answer, then end the connection.
    context.problems.record('invalid_target', { status: target.status, reason: target.reason, identity: admitted.value, clientSerial: peer.clientSerial });
    context.metrics.countRequest(admitted.value, target.status);
    res.setHeader('connection', 'close');
    send(res, jsonResponse(target.status, { error: 'bad request', reason: target.reason }));
    return;
  }
  const response = route(req, target, socket, peer, admitted, context);
  context.metrics.countRequest(admitted.value, response.status);
  send(res, response);
}

function route(req: IncomingMessage, target: RequestTarget, socket: TLSSocket, peer: Peer, matched: Identity, context: RouteContext): EndpointResponse {
  if (req.method !== 'GET' && req.method !== 'HEAD') return jsonResponse(405, { error: 'method not allowed' });
  if (target.kind !== 'path') return jsonResponse(400, { error: 'bad request', reason: 'the asterisk target is only for OPTIONS' });
  if (target.path === '/metrics') return context.metricsEndpoint();
  if (target.path !== '/') return jsonResponse(404, { error: 'not found' });
  return { status: 200, contentType: JSON_CONTENT_TYPE, body: rootBody(peer, matched, socket) };
}
