// The mTLS server's start and stop, in-process: waiting for enrollment,
// refusing bad files before anything loaded, and a graceful shutdown that
// finishes in-flight requests within its grace period.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import type { Leaf } from '../../helpers/pki.js';
import { type CertDir, createCertDir, createTestPki, serveMesh, startServer, type TestPki } from './helpers/fixtures.js';
import { adminGet, httpsGet, within } from './helpers/harness.js';

let pki: TestPki;
let serverLeaf: Leaf;

beforeAll(async () => {
  pki = await createTestPki();
  serverLeaf = await pki.serverLeaf();
});

const ca = () => pki.mesh.root.certPem;

describe('before enrollment', () => {
  let empty: CertDir;
  afterEach(async () => empty?.remove());

  it('starts without certificates, reports waiting (up, but not ready: 503), then serves once the files appear', async () => {
    empty = await createCertDir(pki, 'empty');
    const waiting = await startServer(empty.path);
    try {
      expect(waiting.logs.some((line) => line.msg === 'waiting for certificate')).toBe(true);
      const health = await adminGet(waiting.server.adminPort, '/healthz');
      expect(health).toMatchObject({ status: 503, body: { status: 'waiting', detail: expect.stringMatching(/^no credentials yet/), serial: null } });
      expect((await adminGet(waiting.server.adminPort, '/metrics')).text).toContain('mtls_credentials_loaded 0');
      expect(waiting.server.stats().listen).toBeNull();

      await empty.write(serverLeaf);
      const address = await waiting.server.serving();
      const client = await pki.clientLeaf();
      const response = await httpsGet({ port: address.port, ca: ca(), cert: client.bundlePem, key: client.keyPem });
      expect(response.status).toBe(200);
      expect(response.body.serverSerial).toBe(serverLeaf.serial);
      expect(await adminGet(waiting.server.adminPort, '/healthz')).toMatchObject({ status: 200, body: { status: 'ready' } });
    } finally {
      await waiting.stop();
    }
  });

  it('files refused before anything loaded are unhealthy, with the reason, not waiting', async () => {
    empty = await createCertDir(pki, 'refused');
    await empty.write(serverLeaf);
    await empty.writeFile('site.key', (await pki.clientLeaf()).keyPem);
    const refused = await startServer(empty.path);
    try {
      const health = await adminGet(refused.server.adminPort, '/healthz');
      expect(health).toMatchObject({
        status: 503,
        body: { status: 'unhealthy', detail: expect.stringMatching(/^credentials refused \(key_mismatch\): site.key does not match/), serial: null },
      });
      expect(refused.server.stats().listen).toBeNull();
    } finally {
      await refused.stop();
    }
  });

  it('is unhealthy once stopping', async () => {
    empty = await createCertDir(pki, 'stopping');
    await empty.write(serverLeaf);
    const stopping = await startServer(empty.path);
    await stopping.port();
    expect(stopping.server.health().status).toBe('ready');
    const stopped = stopping.stop();
    expect(stopping.server.health()).toMatchObject({ status: 'unhealthy', detail: 'stopping' });
    await stopped;
  });
});

describe('graceful shutdown', () => {
  /**
   * A verified TLS connection that has had one response. With `inFlight`, the
   * same write also starts a second (pipelined) request without its final
   * CRLF: once the first response is back, the server has certainly parsed
   * the start of the second, so the connection is busy rather than idle.
   */
  async function connection(targetPort: number, inFlight: boolean) {
    const { connect } = await import('node:tls');
    const client = await pki.clientLeaf();
    const socket = connect({ host: '127.0.0.1', port: targetPort, ca: ca(), cert: client.bundlePem, key: client.keyPem, servername: 'server.mesh.internal' });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const request = 'GET / HTTP/1.1\r\nHost: server.mesh.internal\r\n';
    socket.write(`${request}\r\n${inFlight ? request : ''}`);
    await waitFor('first response', () => received.includes('"identity"'), within());
    received = '';
    return { socket, closed, received: () => received };
  }

  it('finishes an in-flight request with Connection: close, closes idle connections, then stops', async () => {
    const served = await serveMesh('shutdown', {}, pki);
    const { running: stopping, port: stoppingPort } = served;
    try {
      const idle = await connection(stoppingPort, false);
      const busy = await connection(stoppingPort, true);

      let stopped = false;
      const stop = stopping.stop().then(() => (stopped = true));
      await idle.closed; // the idle keep-alive connection is closed right away
      expect(stopped).toBe(false); // the busy one is still in flight
      busy.socket.write('\r\n');
      await stop;
      await busy.closed;
      expect(busy.received()).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(busy.received().toLowerCase()).toContain('connection: close');
      expect(stopping.server.stats().state).toBe('stopping');
      await expect(httpsGet({ port: stoppingPort, ca: ca() })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      await served.stop();
    }
  });

  it('cuts connections that are still busy when the grace period ends', async () => {
    const served = await serveMesh('grace', { shutdownGraceMs: 200 }, pki);
    const stopping = served.running;
    try {
      const stuck = await connection(served.port, true);
      const started = Date.now();
      await stopping.stop();
      await stuck.closed;
      const elapsedMs = Date.now() - started;
      console.log(`[server] busy connection cut ${elapsedMs} ms after stop (grace 200 ms)`);
      // Not before the grace period (timers never fire early; 10 ms for clock
      // rounding); well before the test times out, which is where a server
      // that never cuts it would end.
      expect(elapsedMs).toBeGreaterThanOrEqual(190);
      expect(elapsedMs).toBeLessThan(10_000);
      expect(stuck.received()).toBe('');
      expect(stopping.logs.some((line) => line.msg === 'grace period over; closing remaining connections')).toBe(true);
    } finally {
      await served.stop();
    }
  });
});
