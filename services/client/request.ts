// One GET over the client's agent with a deadline that covers the handshake
// too; it never rejects, so the caller decides what a failure means.
import type { Agent } from 'node:https';
import { get } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { serialOf } from '../../common/serial.js';
import { classifyRequestFailure, codedError, TIMEOUT_CODE } from '../lib/tls-errors.js';

export interface Failure {
  readonly ok: false;
  readonly error: NodeJS.ErrnoException;
  readonly reusedSocket: boolean;
  /** Whether a TCP connection to the server was made (a kept-alive one counts). */
  readonly connected: boolean;
}

export type Outcome = { readonly ok: true; readonly status: number; readonly body: string; readonly serverSerial: string | undefined } | Failure;

/**
 * The server could not be reached at all: its name does not resolve (yet),
 * nothing listens, the connection was reset, or none was made before the
 * deadline. A TLS or identity failure is not this: waiting does not heal it.
 */
export function unreachable(failure: Failure): boolean {
  const reason = classifyRequestFailure(failure.error);
  return reason === 'connection' || (reason === 'timeout' && !failure.connected);
}

export function getOnce(target: URL, agent: Agent, timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let connected = false;
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = get(target, { agent, headers: { accept: 'application/json' } }, (res) => {
      // The certificate the server presented on THIS connection.
      const presented = (res.socket as TLSSocket).getPeerCertificate();
      const serverSerial = presented.serialNumber ? serialOf(presented) : undefined;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => finish({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), serverSerial }));
      res.on('close', () => {
        if (!res.complete) finish({ ok: false, error: codedError('ECONNRESET', 'response aborted'), reusedSocket: req.reusedSocket, connected });
      });
    });
    req.on('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', () => (connected = true));
      else connected = true;
    });
    const timer = setTimeout(() => req.destroy(codedError(TIMEOUT_CODE, `${connected ? 'no response' : 'no connection'} within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error, reusedSocket: req.reusedSocket, connected }));
  });
}

export function parseBody(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body.slice(0, 500);
  }
}
