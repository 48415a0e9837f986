// Item: one request must not crash the server. Request targets are parsed
// without `new URL`, a malformed request gets a short answer and one log line
// per kind, and a throwing handler answers 500 instead of exiting.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { jsonResponse, startAdminServer } from '../../../services/lib/admin.js';
import { guardRequests } from '../../../services/lib/http-limits.js';
import { parseRequestTarget } from '../../../services/lib/request-target.js';
import { ThrottledLog } from '../../../services/lib/throttled-log.js';
import type { Leaf } from '../../helpers/pki.js';
import { MALFORMED_REQUESTS, rawExchange } from '../../helpers/raw-tls.js';
import { createCertDir, type ServedMesh, serveMesh, startServer, type TestPki } from './helpers/fixtures.js';
import { captureLogs, httpsGet } from './helpers/harness.js';

describe('parseRequestTarget', () => {
  it.each([
    ['/', '/'],
    ['/metrics?x=1&y=%20', '/metrics'],
    ['//', '//'],
    ['///', '///'],
    ["/a/b;c=d/@:!$&'()*+,=-._~", "/a/b;c=d/@:!$&'()*+,=-._~"],
    ['https://server.mesh.internal:8443/metrics', '/metrics'],
    ['http://server', '/'],
    ['HTTPS://[::1]:8443?x', '/'],
  ])('reads %j as path %j', (target, path) => {
    expect(parseRequestTarget(target)).toEqual({ kind: 'path', path });
  });

  it('recognises the asterisk form', () => {
    expect(parseRequestTarget('*')).toEqual({ kind: 'asterisk' });
  });

  it.each([
    ['', 'empty request target'],
    ['//[', 'outside RFC 3986'],
    ['/%zz', 'malformed %-escape'],
    ['/%', 'malformed %-escape'],
    ['/%4', 'malformed %-escape'],
    ['/?q=%G1', 'request query'],
    ['/a#frag', 'outside RFC 3986'],
    ['/\u00e9', 'outside RFC 3986'],
    ['/\u0000', 'outside RFC 3986'],
    ['ftp://x/', 'neither a path'],
    ['server:8443', 'neither a path'],
    ['https://a b/', 'malformed authority'],
    ['**', 'neither a path'],
  ])('refuses %j with 400 (%s)', (target, reason) => {
    expect(parseRequestTarget(target)).toEqual({ kind: 'invalid', status: 400, reason: expect.stringContaining(reason) });
  });

  it('refuses targets over 2048 characters with 414, before matching them', () => {
    expect(parseRequestTarget(`/${'a'.repeat(2048)}`)).toMatchObject({ kind: 'invalid', status: 414 });
    expect(parseRequestTarget(`/${'a'.repeat(2047)}`)).toEqual({ kind: 'path', path: `/${'a'.repeat(2047)}` });
  });
});

describe('the mTLS server under malformed requests from an allowed client', () => {
  let served: ServedMesh;
  let pki: TestPki;
  let port: number;
  let client: Leaf;

  beforeAll(async () => {
    served = await serveMesh('malformed');
    ({ pki, port } = served);
    client = await pki.clientLeaf();
  });
  afterAll(async () => served?.stop());

  const tls = () => ({ port, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem });

  it.each(MALFORMED_REQUESTS.map((r) => [r.name, r] as const))('%s → answered, process alive', async (_name, malformed) => {
    const exchange = await rawExchange({ ...tls(), payload: malformed.payload, deadlineMs: 5_000 });
    expect(exchange.ended).toBe('server');
    expect(exchange.status).toBe(malformed.status);
    const after = await httpsGet({ ...tls() });
    expect(after.status).toBe(200);
  });

  it('ends a keep-alive connection after answering a malformed target', async () => {
    const exchange = await rawExchange({ ...tls(), payload: 'GET //[ HTTP/1.1\r\nHost: server.mesh.internal\r\n\r\n', deadlineMs: 3_000 });
    expect(exchange).toMatchObject({ ended: 'server', status: 400 });
    expect(exchange.text.toLowerCase()).toContain('connection: close');
  });

  it('logs a malformed request once per kind per interval, then counts in one summary line', async () => {
    const own = await createCertDir(pki, 'malformed-logs');
    await own.write(await pki.serverLeaf());
    const quiet = await startServer(own.path, { problemLogIntervalMs: 60_000 });
    try {
      const ownPort = await quiet.port();
      for (let i = 0; i < 5; i++) {
        expect((await rawExchange({ ...tls(), port: ownPort, payload: 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' })).status).toBe(400);
        expect((await rawExchange({ ...tls(), port: ownPort, payload: `GET / HTTP/1.1\r\nX: ${'b'.repeat(9_000)}\r\n\r\n` })).status).toBe(431);
      }
      expect(quiet.server.metrics.requestProblems.get({ kind: 'invalid_target' })).toBe(5);
      expect(quiet.server.metrics.requestProblems.get({ kind: 'headers_too_large' })).toBe(5);
      const lines = quiet.logs.filter((line) => line.msg === 'bad request');
      expect(lines.map((line) => line['kind']).sort()).toEqual(['headers_too_large', 'invalid_target']);
      expect(lines.find((line) => line['kind'] === 'invalid_target')).toMatchObject({
        status: 400,
        identity: 'client.mesh.internal',
        reason: expect.stringContaining('RFC 3986'),
      });
      await quiet.stop(); // ends the interval
      expect(quiet.logs.filter((line) => line.msg === 'bad request (summary)')).toEqual([
        expect.objectContaining({ counts: { invalid_target: 5, headers_too_large: 5 }, notLoggedIndividually: 8 }),
      ]);
    } finally {
      await quiet.stop();
      await own.remove();
    }
  });
});

describe('the admin listener under malformed requests', () => {
  it('answers odd targets and prototype names without crashing', async () => {
    const { logger } = captureLogs();
    const admin = await startAdminServer({ port: 0, endpoints: { '/healthz': () => jsonResponse(200, { ok: true }) }, logger });
    const raw = (payload: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(admin.port, '127.0.0.1', () => socket.end(payload));
        let text = '';
        socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text)).on('error', reject);
      });
    try {
      for (const [target, status] of [
        ['//', 404],
        ['//[', 400],
        ['*', 400],
        ['/constructor', 404],
        ['/__proto__', 404],
        ['/%zz', 400],
        ['http://admin/healthz', 200],
      ] as const) {
        const method = target === '*' ? 'OPTIONS' : 'GET';
        const text = await raw(`${method} ${target} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n`);
        expect(text.slice(0, 12), `${target}`).toBe(`HTTP/1.1 ${target === '*' ? 405 : status}`);
      }
      expect((await raw(`GET / HTTP/1.1\r\nX: ${'b'.repeat(5_000)}\r\n\r\n`)).slice(0, 12)).toBe('HTTP/1.1 431');
      expect((await raw('GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n')).slice(0, 12)).toBe('HTTP/1.1 200');
    } finally {
      await admin.close();
    }
  });
});

describe('guardRequests', () => {
  it('turns a throwing handler into a 500 and one log line, and the listener keeps serving', async () => {
    const { logger, lines } = captureLogs();
    const problems = new ThrottledLog(logger, { msg: 'bad request' });
    let calls = 0;
    const server = createServer(
      guardRequests((_req, res) => {
        calls += 1;
        if (calls <= 3) throw new TypeError('boom');
        res.end('fine');
      }, problems),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/x', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject).end();
      });
    try {
      for (let i = 0; i < 3; i++) expect(await get()).toEqual({ status: 500, body: '{"error":"internal error"}\n' });
      expect(await get()).toEqual({ status: 200, body: 'fine' });
      expect(lines).toEqual([expect.objectContaining({ msg: 'bad request', kind: 'handler_error', error: { message: 'boom' }, method: 'GET', target: '/x' })]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
