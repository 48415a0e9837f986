/**
 * One unary gRPC call to the gRPC recipe's server (recipes/go/grpc) from the
 * host, in Node alone (node:http2, no gRPC library): a POST of
 * /mtls.reference.Mesh/Whoami with `content-type: application/grpc+json` and
 * `te: trailers`, the message in gRPC's frame (1 byte "compressed" = 0, a
 * 4-byte big-endian length, then the JSON), the server's name checked against
 * the private root. The answer is `<caller's name> <tls>` from the server's
 * reply, as the PostgreSQL caller's `<role> <ssl>`; a refusal is
 * `<grpc-status> <CODE_NAME>: <grpc-message>` (grpc-js's spelling) or the TLS
 * or socket error with its code.
 */
import http2 from 'node:http2';

import { GRPC_WHOAMI } from '../../common/facts.js';

export interface GrpcCredential {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface GrpcTarget {
  readonly port: number;
  /** SNI and the name checked in the server's certificate. */
  readonly serverName: string;
}

export type GrpcOutcome = { readonly ok: true; readonly body: string } | { readonly ok: false; readonly code?: string; readonly message: string };

// https://github.com/grpc/grpc/blob/master/doc/statuscodes.md
const CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** A message in gRPC's length-prefixed frame, uncompressed. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The first message of a response body. */
function firstMessage(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const len = body.readUInt32BE(1);
  return body.length >= 5 + len ? body.subarray(5, 5 + len) : undefined;
}

/** The reply `{ server, peer, tls }` as `<last segment of peer> <tls>`. */
function answer(message: Buffer): string {
  const reply = JSON.parse(message.toString('utf8')) as { peer?: string; tls?: boolean };
  return `${(reply.peer ?? '').split('/').pop() ?? ''} ${String(reply.tls)}`;
}

export function grpcCall(t: GrpcTarget, rootPem: string, cred?: GrpcCredential, timeoutMs = 10_000): Promise<GrpcOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const session = http2.connect(`https://127.0.0.1:${t.port}`, {
      servername: t.serverName,
      ca: rootPem,
      ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}),
      minVersion: 'TLSv1.3',
    });
    const done = (outcome: GrpcOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(outcome);
    };
    const fail = (err: Error) => done({ ok: false, code: (err as NodeJS.ErrnoException).code, message: err.message });
    const timer = setTimeout(() => done({ ok: false, code: 'ETIMEDOUT', message: `no answer within ${timeoutMs} ms` }), timeoutMs);
    session.on('error', fail);
    const req = session.request({
      ':method': 'POST',
      ':path': GRPC_WHOAMI,
      'content-type': 'application/grpc+json',
      te: 'trailers',
    });
    req.on('error', fail);
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (d: Buffer) => chunks.push(d));
    // A trailers-only response (a refusal) carries grpc-status in its headers.
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('trailers', (h) => (trailers = h));
    req.on('end', () => {
      const statusText = trailers['grpc-status'] ?? headers['grpc-status'];
      if (statusText === undefined) {
        done({ ok: false, message: `no grpc-status (HTTP ${String(headers[':status'])})` });
        return;
      }
      const status = Number(statusText);
      if (status !== 0) {
        const raw = trailers['grpc-message'] ?? headers['grpc-message'] ?? '';
        const text = decodeURIComponent(Array.isArray(raw) ? raw.join(',') : raw);
        done({ ok: false, code: CODE_NAMES[status], message: `${status} ${CODE_NAMES[status] ?? 'UNKNOWN'}: ${text}` });
        return;
      }
      const message = firstMessage(Buffer.concat(chunks));
      done(message ? { ok: true, body: answer(message) } : { ok: false, message: 'grpc-status 0 without a message' });
    });
    req.end(grpcFrame(Buffer.from('{}')));
  });
}
