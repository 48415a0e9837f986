// B8's renewal fleet against a real HTTPS server: a kept-alive connection the
// server closes under a sent request is retried once and counted apart; any
// other error is a failure.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startRenewals } from '../../../bench/lib/renewal-load.js';
import { waitFor } from '../../../common/wait.js';
import { fingerprintOf } from '../../../scripts/lib/identity/pki.js';
import { createPki, type Leaf, type Pki } from '../../helpers/pki.js';

let pki: Pki;
let server: https.Server;
let serverLeaf: Leaf;
let client: Leaf;
const seen: Array<'answer' | 'close' | 'fail'> = [];
/** What the server does with request number i (1-based) on a connection. */
let plan: (nth: number) => 'answer' | 'close' | 'fail' = () => 'answer';
let url = '';

beforeAll(async () => {
  pki = await createPki('renewals');
  serverLeaf = await pki.issue({ commonName: 'ca', dns: ['localhost'] });
  client = await pki.issue({ commonName: 'fleet' });
  const perConnection = new WeakMap<TLSSocket, number>();
  server = https.createServer(
    { cert: serverLeaf.bundlePem, key: serverLeaf.keyPem, ca: pki.root.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const nth = (perConnection.get(socket) ?? 0) + 1;
      perConnection.set(socket, nth);
      const what = plan(nth);
      seen.push(what);
      if (what === 'close') return void socket.destroy();
      if (what === 'fail') return void res.writeHead(500).end('boom');
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ crt: client.certPem, ca: pki.intermediate.certPem }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://localhost:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function run(until: (n: number) => boolean) {
  seen.length = 0;
  const load = startRenewals({
    caUrl: url,
    identity: { certPem: client.bundlePem, keyPem: client.keyPem, serial: client.serial },
    ca: () => pki.root.certPem,
    connections: 1,
  });
  await waitFor('the server to see the requests awaited', () => until(seen.length), { timeoutMs: 20_000, intervalMs: 5 });
  load.stop();
  return load.done;
}

describe('startRenewals', () => {
  it('records which intermediate signed each answer', async () => {
    plan = () => 'answer';
    const renewals = await run((n) => n >= 3);
    expect(renewals.length).toBeGreaterThanOrEqual(3);
    expect(new Set(renewals.map((r) => r.intermediate))).toEqual(new Set([fingerprintOf(new X509Certificate(pki.intermediate.certPem))]));
  });

  it('retries once on a new connection when the server closes a kept-alive one under a request, and says so', async () => {
    plan = (nth) => (nth === 2 ? 'close' : 'answer');
    const renewals = await run((n) => n >= 4);
    const retried = renewals.filter((r) => r.retriedAfterClose);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(retried[0]).toMatchObject({ intermediate: expect.any(String) });
    expect(retried[0]!.retriedAfterClose).toMatch(/socket hang up|ECONNRESET/);
    expect(renewals.filter((r) => r.error)).toEqual([]);
  });

  it('counts an error answer as a failure, without a retry', async () => {
    plan = () => 'fail';
    const renewals = await run((n) => n >= 2);
    expect(renewals[0]).toMatchObject({ error: 'HTTP 500: boom' });
    expect(renewals.every((r) => !r.retriedAfterClose)).toBe(true);
  });
});
