// Limits and failure handling shared by both Node listeners (the mTLS port and
// the loopback admin port). Node's defaults suit a general web server, not a
// service whose every connection costs a TLS handshake: headers may trickle in
// for 60 s (checked only every 30 s), a request may take 5 min, connections are
// unbounded, and a throwing handler exits the process. Here every stage has an
// explicit deadline, connections are capped, a malformed request gets a short
// answer and a bounded log line, and a handler cannot take the process down.
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { ThrottledLog } from './throttled-log.js';

export interface ListenerLimits {
  /** The complete request head must arrive within this (slow-loris). */
  readonly headersTimeoutMs: number;
  /** The complete request, body included, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** A socket without any traffic for this long is closed (e.g. after a handshake, before a request). */
  readonly idleTimeoutMs: number;
  /** Further connections are closed on accept. */
  readonly maxConnections: number;
  /** Request line + headers; larger heads get 431. */
  readonly maxHeaderBytes: number;
}

/**
 * The mTLS port. 256 connections: a TLS connection holds roughly 50–100 kB,
 * so the cap stays far below the app's 192 MB while serving every workload a
 * mesh of this size has many times over.
 */
export const MTLS_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxConnections: 256,
  maxHeaderBytes: 8 * 1024,
};

/** The admin port: only probes and scrapers inside the container, one request at a time. */
export const ADMIN_LISTENER_LIMITS: ListenerLimits = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  keepAliveTimeoutMs: 2_000,
  idleTimeoutMs: 10_000,
  maxConnections: 16,
  maxHeaderBytes: 4 * 1024,
};

/** Parser-level limits, for `createServer(options)`. */
export function limitOptions(limits: ListenerLimits): ServerOptions {
  if (!(limits.headersTimeoutMs > 0 && limits.headersTimeoutMs <= limits.requestTimeoutMs)) {
    throw new Error(`headersTimeoutMs must be positive and at most requestTimeoutMs, got ${limits.headersTimeoutMs} and ${limits.requestTimeoutMs}`);
  }
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks the two timeouts above (default 30 s, which would
    // let a slow-loris connection live up to 30 s past its deadline).
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(limits.headersTimeoutMs / 4)),
  };
}

/** Connection-level limits and client-error handling; `problems` logs what peers did wrong. */
export function applyLimits(server: Server, limits: ListenerLimits, problems: ThrottledLog): void {
  // Also set as properties: older Node releases ignore some of the options.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // Without a 'timeout' listener Node destroys the idle socket.
  server.timeout = limits.idleTimeoutMs;
  server.on('drop', (data?: { remoteAddress?: string }) =>
    problems.record('connection_cap', { maxConnections: limits.maxConnections, remoteAddress: data?.remoteAddress }),
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, problems));
}

const CLIENT_ERRORS: Record<string, { readonly status: number; readonly kind: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, kind: 'headers_too_large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, kind: 'request_timeout' },
  HPE_INVALID_METHOD: { status: 400, kind: 'invalid_method' },
};

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};

/** What Node's parser could not accept: answer briefly (when the socket still takes it) and close. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, problems: ThrottledLog): void {
  // The peer went away (or never finished TLS): nothing to answer.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const known = CLIENT_ERRORS[error.code ?? ''];
  const status = known?.status ?? 400;
  const kind = known?.kind ?? 'malformed_request';
  problems.record(kind, { status, code: error.code, remoteAddress: (socket as Socket).remoteAddress });
  const body = `${JSON.stringify({ error: kind })}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A request handler that cannot throw past itself: a bug answers 500 and is logged (bounded). */
export function guardRequests(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  problems: ThrottledLog,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      handler(req, res);
    } catch (error) {
      problems.record('handler_error', { error, method: clip(req.method), target: clip(req.url) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = `${JSON.stringify({ error: 'internal error' })}\n`;
      res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    }
  };
}

/** Peer-controlled text in a log line: bounded. */
export function clip(text: string | undefined, max = 200): string | undefined {
  return text === undefined || text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}
