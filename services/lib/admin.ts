// The admin listener: plain HTTP on 127.0.0.1 only.
//
// Why a second listener: the Docker health check runs INSIDE the container
// (`mtls-health`, services/probe/mtls-health.sh), i.e. in the container's own
// network namespace, where 127.0.0.1 is the container itself. Binding the admin port
// to loopback makes it unreachable from the mesh network and from the host, so
// health and metrics need no client certificate and the mTLS port never has to
// accept an unauthenticated caller. Nothing here can change state.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ADMIN_LISTENER_LIMITS, applyLimits, guardRequests, limitOptions, type ListenerLimits } from './http-limits.js';
import { type Logger, silentLogger } from './logger.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import { parseRequestTarget } from './request-target.js';
import { ThrottledLog } from './throttled-log.js';

/** Loopback only; deliberately not configurable. */
export const ADMIN_HOST = '127.0.0.1';

export interface EndpointResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Path → response; shared by the admin listener and the mTLS server's /metrics. */
export type Endpoints = Readonly<Record<string, () => EndpointResponse>>;

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function jsonResponse(status: number, value: unknown): EndpointResponse {
  return { status, contentType: JSON_CONTENT_TYPE, body: `${JSON.stringify(value)}\n` };
}

export function metricsResponse(body: string): EndpointResponse {
  return { status: 200, contentType: METRICS_CONTENT_TYPE, body };
}

export function send(res: ServerResponse, response: EndpointResponse): void {
  res.writeHead(response.status, {
    'content-type': response.contentType,
    'content-length': Buffer.byteLength(response.body),
    'cache-control': 'no-store',
  });
  res.end(response.body);
}

export interface AdminServer {
  /** The address actually bound (always 127.0.0.1). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly endpoints: Endpoints;
  /** @default ADMIN_LISTENER_LIMITS */
  readonly limits?: ListenerLimits;
  /** @default silent */
  readonly logger?: Logger;
}

/** Routes one admin request; never throws on what the peer sent. */
export function answerAdminRequest(req: IncomingMessage, res: ServerResponse, endpoints: Endpoints, problems: ThrottledLog): void {
  const target = parseRequestTarget(req.url);
  if (target.kind === 'invalid') {
    problems.record('invalid_target', { status: target.status, reason: target.reason });
    res.setHeader('connection', 'close');
    send(res, jsonResponse(target.status, { error: 'bad request', reason: target.reason }));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, jsonResponse(405, { error: 'method not allowed' }));
  // Own properties only: a path such as /constructor must not reach Object.prototype.
  const endpoint = target.kind === 'path' && Object.hasOwn(endpoints, target.path) ? endpoints[target.path] : undefined;
  if (!endpoint) send(res, jsonResponse(404, { error: 'not found', paths: Object.keys(endpoints) }));
  else send(res, endpoint());
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const logger = options.logger ?? silentLogger;
  const limits = options.limits ?? ADMIN_LISTENER_LIMITS;
  const problems = new ThrottledLog(logger.child({ component: 'admin' }), { msg: 'bad request on the admin listener' });
  const server = createServer(
    limitOptions(limits),
    guardRequests((req, res) => answerAdminRequest(req, res, options.endpoints, problems), problems),
  );
  applyLimits(server, limits, problems);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, ADMIN_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address: host, port } = server.address() as AddressInfo;
  logger.info('admin listener ready', { host, port, paths: Object.keys(options.endpoints) });
  return {
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        problems.flush();
        server.close(() => resolve());
        // Probes and scrapers hold no state worth waiting for.
        server.closeAllConnections();
      }),
  };
}
