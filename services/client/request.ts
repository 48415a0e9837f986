// One GET over the client's agent with a deadline that covers the handshake
// too; it never rejects, so the caller decides what a failure means.
import type { Agent } from 'node:https';
import { get } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { serialOf } from '../../common/serial.js';
import { TIMEOUT_CODE, codedError } from '../lib/tls-errors.js';

export type Outcome =
  | { readonly ok: true; readonly status: number; readonly body: string; readonly serverSerial: string | undefined }
  | { readonly ok: false; readonly error: NodeJS.ErrnoException; readonly reusedSocket: boolean };

export function getOnce(target: URL, agent: Agent, timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let settled = false;
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
        if (!res.complete) finish({ ok: false, error: codedError('ECONNRESET', 'response aborted'), reusedSocket: req.reusedSocket });
      });
    });
    const timer = setTimeout(() => req.destroy(codedError(TIMEOUT_CODE, `no response within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error, reusedSocket: req.reusedSocket }));
  });
}

export function parseBody(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body.slice(0, 500);
  }
}
