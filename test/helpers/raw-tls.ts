// Bytes on a TLS connection, no HTTP client in between: the only way to send
// what a well-behaved client library refuses to (odd request targets, unknown
// methods, oversized heads, a head that never ends). Shared by the in-process
// tests and the e2e test against the real container.
import { connect, type TLSSocket } from 'node:tls';

import { sleep } from '../../common/wait.js';

export interface RawTlsOptions {
  readonly host?: string;
  readonly port: number;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** @default 'server.mesh.internal' */
  readonly servername?: string;
}

export interface RawExchange {
  /** Status of the first response line, or undefined when the server closed without answering. */
  readonly status: number | undefined;
  readonly text: string;
  /** 'server': the server closed the connection; 'deadline': we gave up waiting. */
  readonly ended: 'server' | 'deadline';
  readonly elapsedMs: number;
}

export function openTls(options: RawTlsOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: options.host ?? '127.0.0.1',
      port: options.port,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      servername: options.servername ?? 'server.mesh.internal',
    });
    socket.once('secureConnect', () => resolve(socket)).once('error', reject);
  });
}

/**
 * Writes `payload` (all at once, or one chunk every `chunkIntervalMs`), then
 * collects everything until the server closes or `deadlineMs` passes.
 */
export async function rawExchange(
  options: RawTlsOptions & { readonly payload: string | readonly string[]; readonly chunkIntervalMs?: number; readonly deadlineMs?: number },
): Promise<RawExchange> {
  const started = Date.now();
  const socket = await openTls(options);
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  const chunks = typeof options.payload === 'string' ? [options.payload] : options.payload;
  const stopWriting = new AbortController();
  const writer = (async () => {
    for (const [index, chunk] of chunks.entries()) {
      // Paced on purpose (a client that drips its head), cut short once the connection has ended.
      if (index > 0) await sleep(options.chunkIntervalMs ?? 0, undefined, { signal: stopWriting.signal }).catch(() => undefined);
      if (socket.destroyed) return;
      socket.write(chunk);
    }
  })();
  const ended = await new Promise<'server' | 'deadline'>((resolve) => {
    const deadline = setTimeout(() => resolve('deadline'), options.deadlineMs ?? 10_000);
    socket.on('error', () => undefined); // a reset after the answer is an ending like any other
    socket.once('close', () => {
      clearTimeout(deadline);
      resolve('server');
    });
  });
  stopWriting.abort();
  socket.destroy();
  await writer;
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
  return { status: status === undefined ? undefined : Number(status), text, ended, elapsedMs: Date.now() - started };
}

const head = (requestLine: string, extra = '') => `${requestLine}\r\nHost: server.mesh.internal\r\n${extra}Connection: close\r\n\r\n`;

/**
 * Requests an allowed client may send that are not what a client library
 * sends. `status` is what a robust server answers; undefined means "closes
 * without an answer" (CONNECT has no handler, so Node closes the socket).
 */
export const MALFORMED_REQUESTS: ReadonlyArray<{ readonly name: string; readonly payload: string; readonly status: number | undefined }> = [
  { name: 'target //', payload: head('GET // HTTP/1.1'), status: 404 },
  { name: 'target ///', payload: head('GET /// HTTP/1.1'), status: 404 },
  { name: 'target //[', payload: head('GET //[ HTTP/1.1'), status: 400 },
  { name: 'target //[::1', payload: head('GET //[::1 HTTP/1.1'), status: 400 },
  { name: 'asterisk-form with GET', payload: head('GET * HTTP/1.1'), status: 400 },
  { name: 'asterisk-form with OPTIONS', payload: head('OPTIONS * HTTP/1.1'), status: 405 },
  { name: 'absolute-form (served like origin-form)', payload: head('GET https://server.mesh.internal:8443/ HTTP/1.1'), status: 200 },
  { name: 'absolute-form, ftp scheme', payload: head('GET ftp://server.mesh.internal/ HTTP/1.1'), status: 400 },
  { name: 'absolute-form, broken authority', payload: head('GET https://a b/ HTTP/1.1'), status: 400 },
  { name: 'percent garbage in the path', payload: head('GET /%zz%ZZ%% HTTP/1.1'), status: 400 },
  { name: 'truncated percent escape', payload: head('GET /% HTTP/1.1'), status: 400 },
  { name: 'percent garbage in the query', payload: head('GET /?q=%G1 HTTP/1.1'), status: 400 },
  { name: 'a 20 kB path', payload: head(`GET /${'a'.repeat(20_000)} HTTP/1.1`), status: 431 },
  { name: 'a 2.5 kB path (under the header cap)', payload: head(`GET /${'a'.repeat(2_500)} HTTP/1.1`), status: 414 },
  { name: 'unknown method', payload: head('BREW / HTTP/1.1'), status: 400 },
  { name: 'known but unsupported method', payload: head('PROPFIND / HTTP/1.1'), status: 405 },
  { name: 'DELETE', payload: head('DELETE / HTTP/1.1'), status: 405 },
  { name: 'CONNECT', payload: head('CONNECT server.mesh.internal:8443 HTTP/1.1'), status: undefined },
  { name: 'unknown HTTP version', payload: head('GET / HTTP/7.1'), status: 400 },
  { name: 'a 20 kB header', payload: head('GET / HTTP/1.1', `X-Filler: ${'b'.repeat(20_000)}\r\n`), status: 431 },
  { name: 'control byte in the target', payload: head('GET /\x01 HTTP/1.1'), status: 400 },
  { name: 'not HTTP at all', payload: '\x16\x03\x01garbage\r\n\r\n', status: 400 },
];

/** A head that never ends: one header line every `intervalMs`, for `lines` lines. */
export function slowLorisChunks(lines: number): string[] {
  return ['GET / HTTP/1.1\r\nHost: server.mesh.internal\r\n', ...Array.from({ length: lines }, (_, i) => `X-Slow-${i}: 1\r\n`)];
}
