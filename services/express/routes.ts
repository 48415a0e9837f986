// The Express app on the mTLS port. The handshake has already refused callers
// without a certificate from our root (requestCert + rejectUnauthorized); a
// middleware then names the caller from its verified certificate's SAN and
// refuses what the reference server refuses, with its answers
// (services/server/peer.ts), so the routes only ever see authorised callers
// (res.locals.caller).
import type { TLSSocket } from 'node:tls';

import express, { type Application, type ErrorRequestHandler, type RequestHandler, type Response } from 'express';

import { send } from '../lib/admin.js';
import type { Identity } from '../lib/identity.js';
import { admit, type Peer, peerOf, rootBody } from '../server/peer.js';
import type { RouteContext } from '../server/routes.js';

/** The caller the middleware authorised, for the routes. */
function callerOf(res: Response): { readonly peer: Peer; readonly identity: Identity } {
  return res.locals['caller'] as { peer: Peer; identity: Identity };
}

/** Names the caller, counts the request when it is answered, and refuses what the allow-list does not name. */
function authorise(context: RouteContext): RequestHandler {
  return (req, res, next) => {
    const socket = req.socket as TLSSocket;
    if (context.shouldClose(socket)) res.set('connection', 'close');
    const peer = peerOf(socket);
    if (!peer) {
      socket.destroy();
      return;
    }
    const admitted = admit(peer, context.allowList, context.refusals);
    const counted = 'response' in admitted ? (peer.presented[0] ?? 'none') : admitted.value;
    res.on('finish', () => context.metrics.countRequest(counted, res.statusCode));
    if ('response' in admitted) {
      if (admitted.close) res.set('connection', 'close');
      send(res, admitted.response);
      return;
    }
    res.locals['caller'] = { peer, identity: admitted };
    next();
  };
}

/** A route that throws answers 500 (a 4xx for what Express itself found wrong with the request); the process keeps serving. */
function answerErrors(context: RouteContext): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const declared = (error as { status?: unknown } | null)?.status;
    const status = typeof declared === 'number' && declared >= 400 && declared < 500 ? declared : 500;
    context.problems.record(status === 500 ? 'handler_error' : 'bad_request', { status, error, method: req.method, path: req.path });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.set('connection', 'close');
    res.status(status).json({ error: status === 500 ? 'internal error' : 'bad request' });
  };
}

/** The app the reference server takes as its request listener (services/server/app.ts, RequestHandling). */
export function createApp(context: RouteContext): Application {
  const app = express();
  app.disable('x-powered-by');
  // Every answer is computed per connection; nothing is worth revalidating.
  app.set('etag', false);
  app.use(authorise(context));
  app.get('/', (req, res) => {
    const { peer, identity } = callerOf(res);
    res.type('application/json').send(rootBody(peer, identity, req.socket as TLSSocket));
  });
  app.get('/metrics', (_req, res) => send(res, context.metricsEndpoint()));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(answerErrors(context));
  return app;
}
