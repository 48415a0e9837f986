// A stand-in for step-ca's HTTPS API, in process on 127.0.0.1:0: the routes
// the trust bootstrap uses (`/root/<sha256>` and `/health`) and, when given,
// `/roots` (what a root rotation checks after a reload). Its TLS
// certificate carries an IP SAN (127.0.0.1), issued by the shared PKI helper.
// Keys stay in memory.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';

import { issueLeaf, type Issuer } from '../../../helpers/pki.js';

export interface TlsIdentity {
  /** Leaf + the issuer's intermediates, as a server presents it. */
  readonly certPem: string;
  readonly keyPem: string;
}

/** A server leaf for `https://127.0.0.1` (SAN IP 127.0.0.1, DNS localhost). */
export async function issueLoopbackLeaf(issuer: Issuer): Promise<TlsIdentity> {
  const leaf = await issueLeaf(issuer, { commonName: 'ca.test', dns: ['localhost'], ips: ['127.0.0.1'] });
  return { certPem: leaf.bundlePem, keyPem: leaf.keyPem };
}

export interface FakeCaOptions {
  readonly tls: TlsIdentity;
  /** Body of `GET /root/<fp>`, per requested fingerprint; undefined → 404. */
  rootFor(fingerprint: string): { status: number; body: string } | undefined;
  /** @default 200 {"status":"ok"} */
  readonly health?: { status: number; body: string };
  /** The PEM roots `GET /roots` lists (`{"crts":[…]}`, as step-ca answers), read at each request (201, as step-ca answers); undefined → 404. */
  readonly roots?: () => readonly string[];
}

export interface FakeCa {
  readonly url: string;
  /** Every request path, in arrival order. */
  readonly requests: string[];
  /** TCP connections accepted (a request that never started still counts). */
  connections(): number;
  close(): Promise<void>;
}

export async function startFakeCa(opts: FakeCaOptions): Promise<FakeCa> {
  const requests: string[] = [];
  let connections = 0;
  const server = https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    };
    const root = /^\/root\/([^/]+)$/.exec(url);
    if (req.method === 'GET' && root) {
      const answer = opts.rootFor(root[1]!);
      return answer ? reply(answer.status, answer.body) : reply(404, '{"status":404,"message":"Not Found"}');
    }
    if (req.method === 'GET' && url === '/roots' && opts.roots) return reply(201, JSON.stringify({ crts: opts.roots() }));
    if (req.method === 'GET' && url === '/health') {
      const health = opts.health ?? { status: 200, body: '{"status":"ok"}' };
      return reply(health.status, health.body);
    }
    reply(404, '{"status":404,"message":"Not Found"}');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        // The client's global agent keeps sockets alive; don't wait for them.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port that was just bound and released: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `{ "ca": "<pem>" }`, as step-ca answers `/root/<sha256>`. */
export const rootBody = (pem: string) => ({ status: 200, body: JSON.stringify({ ca: pem }) });
