// Item: limits on both listeners (timeouts, connection cap, header size),
// TLS 1.3 only (no renegotiation), bounded logs for peer-caused events, and a
// bounded list of server serials in the client.
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { MAX_SERVER_SERIALS, RequestTracker } from '../../../services/client/tracker.js';
import { jsonResponse, startAdminServer } from '../../../services/lib/admin.js';
import { CredentialWatcher } from '../../../services/lib/credential-watcher.js';
import type { ListenerLimits } from '../../../services/lib/http-limits.js';
import { silentLogger } from '../../../services/lib/logger.js';
import { ThrottledLog } from '../../../services/lib/throttled-log.js';
import type { Leaf } from '../../helpers/pki.js';
import { openTls, rawExchange, slowLorisChunks } from '../../helpers/raw-tls.js';
import { createCertDir, type RunningServer, type ServedMesh, serveMesh, startServer, type TestPki } from './helpers/fixtures.js';
import { captureLogs, httpsGet, within } from './helpers/harness.js';

const TIGHT: ListenerLimits = {
  headersTimeoutMs: 600,
  requestTimeoutMs: 1_000,
  keepAliveTimeoutMs: 300,
  idleTimeoutMs: 400,
  maxConnections: 3,
  maxHeaderBytes: 2 * 1024,
};

let served: ServedMesh;
let pki: TestPki;
let client: Leaf;
let running: RunningServer;
let port: number;

beforeAll(async () => {
  served = await serveMesh('limits', { limits: TIGHT, adminLimits: TIGHT });
  ({ pki, running, port } = served);
  client = await pki.clientLeaf();
});
afterAll(async () => served?.stop());

const tls = () => ({ port, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem });
const closed = (socket: { once(event: 'close', listener: () => void): unknown }) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

describe('mTLS listener limits', () => {
  it('answers a head that never ends with 408 once the header deadline passes', async () => {
    const exchange = await rawExchange({ ...tls(), payload: slowLorisChunks(50), chunkIntervalMs: 100, deadlineMs: 5_000 });
    expect(exchange).toMatchObject({ ended: 'server', status: 408 });
    console.log(`[limits] slow head answered with 408 after ${exchange.elapsedMs} ms (headers timeout 600 ms)`);
    // Not before the headers deadline (50 ms for clock rounding); before the
    // 5 s the drip takes to send its whole head.
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(550);
    expect(exchange.elapsedMs).toBeLessThan(4_500);
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    const exchange = await rawExchange({ ...tls(), payload: 'GET / HTTP/1.1\r\nHost: server.mesh.internal\r\n\r\n', deadlineMs: 5_000 });
    expect(exchange).toMatchObject({ ended: 'server', status: 200 });
    expect(exchange.text.toLowerCase()).toContain('keep-alive: timeout=0'); // 300 ms, announced in whole seconds
    console.log(`[limits] idle keep-alive connection closed after ${exchange.elapsedMs} ms (keep-alive timeout 300 ms)`);
    // Node closes at the timeout plus its own buffer (up to 1 s); with its
    // default keep-alive timeout (5 s) it would take longer than this bound.
    expect(exchange.elapsedMs).toBeLessThan(4_500);
  });

  it('closes a connection that never sends a request', async () => {
    const started = Date.now();
    const socket = await openTls(tls());
    await closed(socket);
    const elapsedMs = Date.now() - started;
    console.log(`[limits] silent connection closed after ${elapsedMs} ms (idle timeout 400 ms)`);
    // Node's own defaults would keep it 60 s or more.
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('refuses heads over maxHeaderBytes with 431', async () => {
    const exchange = await rawExchange({ ...tls(), payload: `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(3_000)}\r\n\r\n` });
    expect(exchange.status).toBe(431);
  });

  it('closes connections over the cap on accept, logs it once, and serves again when one frees up', async () => {
    const { lines } = { lines: running.logs };
    const held: TLSSocket[] = [];
    try {
      for (let i = 0; i < TIGHT.maxConnections; i++) {
        const socket = await openTls(tls());
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // keep each one busy (no idle close before the headers deadline)
        held.push(socket);
      }
      await expect(openTls(tls())).rejects.toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
      await expect(openTls(tls())).rejects.toThrow();
      expect(lines.filter((line) => line['kind'] === 'connection_cap')).toEqual([
        expect.objectContaining({ msg: 'bad request', maxConnections: TIGHT.maxConnections }),
      ]);
      expect(running.server.metrics.requestProblems.get({ kind: 'connection_cap' })).toBe(2);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await waitFor('a free slot', async () => (await httpsGet(tls())).status === 200, within());
  });
});

describe('TLS 1.3 only: no renegotiation', () => {
  it('refuses a client that offers at most TLS 1.2 with protocol_version', async () => {
    const attempt = new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ ...tls(), host: '127.0.0.1', servername: 'server.mesh.internal', maxVersion: 'TLSv1.2' });
      socket.once('secureConnect', () => resolve()).once('error', reject);
    });
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  });

  it('negotiates TLS 1.3, where a renegotiation request is refused by the protocol itself', async () => {
    const socket = await openTls(tls());
    try {
      expect(socket.getProtocol()).toBe('TLSv1.3');
      const error = await new Promise<Error | null>((resolve) => {
        const accepted = socket.renegotiate({ rejectUnauthorized: true }, (err) => resolve(err));
        if (!accepted) resolve(new Error('renegotiate() refused to start'));
      });
      expect(error?.message).toMatch(/renegotiat|wrong ssl version|unsupported/i);
    } finally {
      socket.destroy();
    }
  });
});

describe('admin listener limits', () => {
  it('answers a slow head with 408 and caps connections', async () => {
    const adminPort = running.server.adminPort;
    const slow = await new Promise<{ text: string; ms: number }>((resolve) => {
      const started = Date.now();
      const socket = tcpConnect(adminPort, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\n'));
      let text = '';
      const drip = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
      socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => {
        clearInterval(drip);
        resolve({ text, ms: Date.now() - started });
      });
      socket.on('error', () => undefined);
    });
    expect(slow.text.slice(0, 12)).toBe('HTTP/1.1 408');
    console.log(`[limits] admin slow head answered with 408 after ${slow.ms} ms (headers timeout 600 ms)`);
    // The drip never ends: without the limit only Node's 60 s default would stop it.
    expect(slow.ms).toBeLessThan(10_000);

    const admin = await startAdminServer({ port: 0, endpoints: { '/healthz': () => jsonResponse(200, {}) }, limits: { ...TIGHT, maxConnections: 1 } });
    try {
      const first = tcpConnect(admin.port, '127.0.0.1');
      await new Promise((resolve) => first.once('connect', resolve));
      first.write('GET /healthz HTTP/1.1\r\nHost: a\r\n');
      const second = tcpConnect(admin.port, '127.0.0.1');
      second.on('error', () => undefined);
      let answered = '';
      second.setEncoding('latin1').on('data', (chunk: string) => (answered += chunk));
      second.on('connect', () => second.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'));
      await closed(second);
      expect(answered).toBe('');
      first.destroy();
    } finally {
      await admin.close();
    }
  });
});

describe('bounded logs for peer-caused events', () => {
  it('logs the first event of each kind per interval and one summary with the counts', () => {
    const { logger, lines } = captureLogs();
    const log = new ThrottledLog(logger, { msg: 'tls handshake failed', intervalMs: 60_000 });
    for (let i = 0; i < 1_000; i++) log.record(i % 4 === 0 ? 'unknown_ca' : 'no_certificate', { remoteAddress: '10.0.0.1' });
    expect(lines.map((line) => line['kind'])).toEqual(['unknown_ca', 'no_certificate']);
    log.flush();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({
      msg: 'tls handshake failed (summary)',
      counts: { unknown_ca: 250, no_certificate: 750 },
      notLoggedIndividually: 998,
      intervalSeconds: 60,
    });
    // A new interval starts fresh; a quiet interval writes nothing.
    log.record('unknown_ca');
    log.flush();
    log.flush();
    expect(lines).toHaveLength(4);
  });

  it('caps the number of detailed lines per interval even with many distinct kinds', () => {
    const { logger, lines } = captureLogs();
    const log = new ThrottledLog(logger, { msg: 'bad request', maxDetailedPerInterval: 3 });
    for (let i = 0; i < 50; i++) log.record(`kind_${i}`);
    expect(lines).toHaveLength(3);
    log.flush();
    expect(lines[3]).toMatchObject({ notLoggedIndividually: 47 });
  });

  it('the server counts every refused handshake but logs one line per reason per interval', async () => {
    const own = await createCertDir(pki, 'handshake-logs');
    await own.write(await pki.serverLeaf());
    const server = await startServer(own.path);
    try {
      const serverPort = await server.port();
      for (let i = 0; i < 10; i++) await expect(httpsGet({ port: serverPort, ca: pki.mesh.root.certPem })).rejects.toThrow();
      await waitFor('ten failures counted', () => server.server.metrics.handshakeFailures.get({ reason: 'no_certificate' }) === 10, within());
      expect(server.logs.filter((line) => line.msg === 'tls handshake failed')).toEqual([
        expect.objectContaining({ kind: 'no_certificate', reason: 'no_certificate' }),
      ]);
      await server.stop();
      expect(server.logs.filter((line) => line.msg === 'tls handshake failed (summary)')).toEqual([
        expect.objectContaining({ counts: { no_certificate: 10 }, notLoggedIndividually: 9 }),
      ]);
    } finally {
      await server.stop();
      await own.remove();
    }
  });
});

describe('client: bounded list of server serials', () => {
  it(`keeps the last ${MAX_SERVER_SERIALS} distinct serials and counts all of them`, () => {
    const tracker = new RequestTracker(new CredentialWatcher({ dir: '/nonexistent' }), silentLogger);
    const serials = Array.from({ length: 40 }, (_, i) => `SERIAL${String(i).padStart(2, '0')}`);
    for (const serial of serials) {
      tracker.success(serial, { status: 200, body: {} });
      tracker.success(serial, { status: 200, body: {} });
    }
    expect(tracker.serverSerials).toEqual(serials.slice(-MAX_SERVER_SERIALS));
    expect(tracker.serverCertificatesSeen).toBe(40);
    expect(tracker.serverSerial).toBe('SERIAL39');
    expect(tracker.registry.render()).toContain('mtls_client_server_serials_seen 40');
  });
});
