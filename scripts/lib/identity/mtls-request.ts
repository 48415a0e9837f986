import https from 'node:https';
import type { TLSSocket } from 'node:tls';

import { serialOf } from './pki.js';

export interface MtlsResponse {
  readonly status: number;
  readonly body: string;
  readonly json?: Record<string, unknown>;
  readonly reusedSocket: boolean;
  readonly localPort?: number;
  /** Serial of the certificate the server presented on this connection. */
  readonly peerSerial?: string;
}

/**
 * One HTTPS request to the service as the host sees it (127.0.0.1:port),
 * verifying the server as `server.mesh.internal` against the private root.
 */
export function mtlsRequest(
  url: string,
  opts: { ca: string; cert?: string; key?: string; agent?: https.Agent; servername?: string; path?: string },
): Promise<MtlsResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'GET',
        path: opts.path ?? '/',
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        agent: opts.agent ?? false,
        servername: opts.servername ?? 'server.mesh.internal',
        minVersion: 'TLSv1.2',
        timeout: 5000,
      },
      (res) => {
        // Read the connection's details now: with a keep-alive agent the
        // socket goes back to the pool (res.socket = null) once the body ends.
        const socket = res.socket as TLSSocket;
        const localPort = socket.localPort;
        const presented = socket.getPeerCertificate();
        const peerSerial = presented.serialNumber ? serialOf(presented) : undefined;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body, json, reusedSocket: req.reusedSocket, localPort, peerSerial });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    // A request queued in an agent has no socket, so no socket timeout can
    // fire: bound the whole exchange as well.
    const deadline = setTimeout(() => req.destroy(new Error('no response within 10 s')), 10_000);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.end();
  });
}
