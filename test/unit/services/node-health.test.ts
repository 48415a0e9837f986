// The Node workloads' Docker health check (services/probe/mtls-health.sh):
// bash, no Node, asking the loopback admin listener for /healthz and printing
// one line in the stack's vocabulary. Against in-process admin listeners: the
// real server's, canned answers, one that never answers, and none at all.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type AdminServer, type EndpointResponse, jsonResponse, startAdminServer } from '../../../services/lib/admin.js';
import { fingerprintOf } from '../../../services/lib/root-pins.js';
import { makeTempDir } from '../../helpers/pki.js';
import { type CertDir, createCertDir, createTestPki, startClient, startServer, type TestPki } from './helpers/fixtures.js';
import { freePort } from './helpers/harness.js';

const SCRIPT = path.resolve(import.meta.dirname, '../../../services/probe/mtls-health.sh');

/** Runs the check as Docker would, with ADMIN_PORT; its exit code, its output and how long it took. */
function check(adminPort: number): Promise<{ exitCode: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile('bash', [SCRIPT], { env: { PATH: process.env.PATH, ADMIN_PORT: String(adminPort) }, timeout: 10_000 }, (error, stdout, stderr) =>
      resolve({ exitCode: error ? child.exitCode : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

const closers: Array<() => Promise<void>> = [];

/** The line of a check that said "not ready": exit 1, nothing on stderr. */
function notReadyLine(out: Awaited<ReturnType<typeof check>>): string {
  expect([out.exitCode, out.stderr]).toEqual([1, '']);
  return out.stdout;
}
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function admin(healthz: () => EndpointResponse): Promise<AdminServer> {
  const server = await startAdminServer({ port: 0, endpoints: { '/healthz': healthz } });
  closers.push(() => server.close());
  return server;
}

describe('Node health check (bash over /dev/tcp to the admin port)', () => {
  let pki: TestPki;
  let dir: CertDir;
  beforeAll(async () => {
    pki = await createTestPki();
  });
  afterAll(async () => dir?.remove());

  it('ready: the real server, serving', async () => {
    dir = await createCertDir(pki, 'node-health');
    const leaf = await pki.serverLeaf();
    await dir.write(leaf);
    const running = await startServer(dir.path);
    closers.push(() => running.stop());
    const port = await running.port();
    const out = await check(running.server.adminPort);
    expect(out.stdout).toMatch(new RegExp(`^ready: serving mTLS on 127.0.0.1:${port}; certificate ${leaf.serial} valid until \\S+\\n$`));
    expect([out.exitCode, out.stderr]).toEqual([0, '']);
  });

  it('waiting: the real server before enrollment (exit 1)', async () => {
    const empty = await createCertDir(pki, 'node-health-empty');
    closers.push(() => empty.remove());
    const running = await startServer(empty.path);
    closers.push(() => running.stop());
    const out = await check(running.server.adminPort);
    expect([out.exitCode, out.stdout]).toEqual([
      1,
      'waiting: no credentials yet: the root pin and the first certificate come after deploy (bootstrap-trust, then enroll)\n',
    ]);
  });

  // Refused files are broken, not pending: only absent files (or an absent
  // pin file) wait. Nothing has loaded, so nothing will until someone acts.
  describe.each(['server', 'client'] as const)('unhealthy: the real %s, its files refused before anything loaded (exit 1)', (role) => {
    /** Starts the role on `dir` (pinned to the mesh root when `pinned`) and runs the check against it. */
    async function checkRole(dir: CertDir, pinned: boolean) {
      const pins = await makeTempDir('node-health-pins');
      closers.push(() => pins.remove());
      const rootPinFile = path.join(pins.path, 'root-fingerprints');
      await writeFile(rootPinFile, `${fingerprintOf(new X509Certificate(pki.mesh.root.certPem))}\n`);
      const options = pinned ? { rootPinFile } : {};
      const running =
        role === 'server'
          ? await startServer(dir.path, options)
          : await startClient(dir.path, { ...options, targetUrl: `https://127.0.0.1:${await freePort()}/` });
      closers.push(() => running.stop());
      const adminPort = 'server' in running ? running.server.adminPort : running.client.adminPort;
      return check(adminPort);
    }

    it('root.crt holds a root that is not pinned', async () => {
      const refused = await createCertDir(pki, `node-health-${role}-unpinned`);
      closers.push(() => refused.remove());
      await refused.write(await pki.other.issue({ commonName: role, dns: [`${role}.mesh.internal`] }), pki.other.root.certPem);
      const out = notReadyLine(await checkRole(refused, true));
      const foreign = fingerprintOf(new X509Certificate(pki.other.root.certPem));
      expect(out).toMatch(new RegExp(`^unhealthy: credentials refused \\(unpinned\\): .*${foreign}.*\\n$`));
    });

    it('site.key does not match site.crt', async () => {
      const refused = await createCertDir(pki, `node-health-${role}-mismatch`);
      closers.push(() => refused.remove());
      const leaf = role === 'server' ? await pki.serverLeaf() : await pki.clientLeaf();
      await refused.write(leaf);
      await refused.writeFile('site.key', (await pki.serverLeaf()).keyPem);
      const out = notReadyLine(await checkRole(refused, false));
      expect(out).toBe(`unhealthy: credentials refused (key_mismatch): site.key does not match the certificate ${leaf.serial} in site.crt\n`);
    });
  });

  it.each([
    ['starting', jsonResponse(503, { status: 'starting', detail: 'opening the mTLS port 8443' }), 1, 'starting: opening the mTLS port 8443'],
    [
      'unhealthy',
      jsonResponse(503, { status: 'unhealthy', detail: 'certificate 4F1A expired at 2030-01-01T00:00:00.000Z' }),
      1,
      'unhealthy: certificate 4F1A expired at 2030-01-01T00:00:00.000Z',
    ],
    // The client's words: ok (200) is ready, waiting (503) is waiting, the rest is broken.
    ["the client's ok", jsonResponse(200, { status: 'ok', role: 'client', serial: '4F1A' }), 0, 'ready: credentials in use (certificate 4F1A)'],
    ["the client's waiting", jsonResponse(503, { status: 'waiting', role: 'client', serial: null }), 1, 'waiting: /healthz says waiting'],
    ["the client's expired", jsonResponse(503, { status: 'expired', role: 'client', serial: '4F1A' }), 1, 'unhealthy: /healthz says expired'],
    [
      'a ready that is not a 200 (contradicts itself)',
      jsonResponse(500, { status: 'ready', detail: 'serving' }),
      1,
      'unhealthy: /healthz answered 500 with serving',
    ],
    ['a detail with JSON escapes', jsonResponse(200, { status: 'ready', detail: 'quote " and backslash \\ kept' }), 0, 'ready: quote " and backslash \\ kept'],
  ])('%s → exit %i, the line', async (_what, response, exitCode, line) => {
    const server = await admin(() => response);
    const out = await check(server.port);
    expect([out.exitCode, out.stdout, out.stderr]).toEqual([exitCode, `${line}\n`, '']);
  });

  it('unhealthy at once when nothing listens on the admin port', async () => {
    const port = await freePort();
    const out = await check(port);
    expect([out.exitCode, out.stdout, out.stderr]).toEqual([1, `unhealthy: nothing listens on the admin port 127.0.0.1:${port}\n`, '']);
    // A refused connect does not wait for the 2 s answer bound (logged: the machine may be busy).
    console.log(`[node-health] refused admin port: the check took ${out.ms} ms`);
    expect(out.ms).toBeLessThan(1900);
  });

  it('unhealthy within its 2 s bound when the port accepts and never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as { port: number }).port;
    const out = await check(port);
    expect([out.exitCode, out.stdout]).toEqual([1, `unhealthy: no answer from 127.0.0.1:${port}/healthz within 2s\n`]);
    // It waits its own bound, and ends well inside Docker's 5 s timeout (logged).
    console.log(`[node-health] silent admin port: the check took ${out.ms} ms`);
    expect(out.ms).toBeGreaterThanOrEqual(1900);
    expect(out.ms).toBeLessThan(4500);
  });
});
