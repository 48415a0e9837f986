// The bundles are what the image runs: build them, check they are
// deterministic and self-contained, then run them as separate Node processes
// (server, client, probe) against temp certificates.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { buildServices, ENTRY_POINTS, HEALTH_SCRIPT } from '../../../services/build.js';
import { makeTempDir } from '../../helpers/pki.js';
import { type CertDir, CLIENT_DNS, createCertDir, createTestPki, SERVER_URI } from './helpers/fixtures.js';
import { expectCleanStop, freePort, type LoggedProcess, spawnWithLogs, within } from './helpers/harness.js';

// The image runs Node 24 (official or offline base); point BUNDLE_NODE at such a binary to
// run the bundles with it (the default is the Node running the tests).
const node = process.env['BUNDLE_NODE'] ?? process.execPath;

let out: { path: string; remove(): Promise<void> };
let again: { path: string; remove(): Promise<void> };
const dirs: CertDir[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  out = await makeTempDir('bundle');
  again = await makeTempDir('bundle-again');
  await buildServices({ outDir: out.path });
  await buildServices({ outDir: again.path });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await dir.remove();
  await out?.remove();
  await again?.remove();
});

function run(bundle: string, env: Record<string, string>): LoggedProcess {
  const p = spawnWithLogs(node, join(out.path, bundle), env);
  children.push(p.child);
  return p;
}

function probe(adminPort: number, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(node, [join(out.path, 'probe.mjs'), ...args], { env: { ADMIN_PORT: String(adminPort) } });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

describe('bundles', () => {
  it('are byte-for-byte reproducible and import nothing but Node built-ins', async () => {
    for (const name of Object.keys(ENTRY_POINTS)) {
      const first = await readFile(join(out.path, `${name}.mjs`), 'utf8');
      const second = await readFile(join(again.path, `${name}.mjs`), 'utf8');
      expect(first).toBe(second);
      const imports = [...first.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
      expect(imports.length).toBeGreaterThan(0);
      expect(imports.filter((specifier) => !specifier?.startsWith('node:'))).toEqual([]);
      expect(first).not.toContain(process.cwd());
    }
  });

  it('run standalone: server and client talk mTLS, the probe reads health and stats, SIGTERM exits 0', async () => {
    const pki = await createTestPki();
    const serverDir = await createCertDir(pki, 'bundle-server');
    const clientDir = await createCertDir(pki, 'bundle-client');
    dirs.push(serverDir, clientDir);
    await clientDir.write(await pki.clientLeaf());
    const [listenPort, serverAdmin, clientAdmin] = [await freePort(), await freePort(), await freePort()];

    // The server starts before its certificate exists, like in the stack.
    const server = run('server.mjs', {
      CERT_DIR: serverDir.path,
      LISTEN_HOST: '127.0.0.1',
      LISTEN_PORT: String(listenPort),
      ADMIN_PORT: String(serverAdmin),
      ALLOWED_IDENTITIES: `${CLIENT_DNS},spiffe://mesh.internal/client`,
      RELOAD_DEBOUNCE_MS: '20',
    });
    await waitFor('server waiting', () => server.logs.some((line) => line.msg === 'waiting for certificate'), within());
    // Waiting for the first certificate: up, but not ready.
    const waiting = await probe(serverAdmin, 'health');
    expect([waiting.code, JSON.parse(waiting.stdout).status]).toEqual([1, 'waiting']);

    await serverDir.write(await pki.serverLeaf());
    await waitFor('server serving', () => server.logs.some((line) => line.msg === 'serving mTLS'), within());

    const client = run('client.mjs', {
      CERT_DIR: clientDir.path,
      TARGET_URL: `https://127.0.0.1:${listenPort}/`,
      EXPECTED_SERVER_IDENTITY: SERVER_URI,
      REQUEST_RATE: '20',
      ADMIN_PORT: String(clientAdmin),
    });
    const stats = await waitFor(
      'client successes',
      async () => {
        const { stdout } = await probe(clientAdmin, 'get', '/stats');
        const parsed = JSON.parse(stdout) as { requests: { successes: number } };
        return parsed.requests.successes >= 2 ? parsed : undefined;
      },
      within(10_000),
    );
    expect(stats).toMatchObject({ role: 'client', requests: { failures: 0 } });

    const metrics = await probe(serverAdmin, 'get', '/metrics');
    expect(metrics.code).toBe(0);
    expect(metrics.stdout).toMatch(new RegExp(`mtls_server_requests_total\\{identity="${CLIENT_DNS}",status="200"\\} [1-9]`));

    await expectCleanStop(server, client);
  });

  it('writes the bash health check the image installs beside the bundles, executable', async () => {
    const written = join(out.path, HEALTH_SCRIPT.name);
    expect(await readFile(written, 'utf8')).toBe(await readFile(join(import.meta.dirname, '../../..', HEALTH_SCRIPT.source), 'utf8'));
    expect((await stat(written)).mode & 0o777).toBe(0o755);
  });

  it('exits 2 with a readable error for an allow-list entry that is not an identity', async () => {
    const server = run('server.mjs', { CERT_DIR: '/nonexistent', ADMIN_PORT: String(await freePort()), ALLOWED_IDENTITIES: 'not an identity' });
    expect(await server.exited()).toBe(2);
    expect(server.logs[0]).toMatchObject({ level: 'error', msg: 'invalid configuration' });
  });

  it('exits 2 with a readable error when required configuration is missing', async () => {
    const server = run('server.mjs', { CERT_DIR: '/nonexistent', ADMIN_PORT: String(await freePort()) });
    expect(await server.exited()).toBe(2);
    expect(server.logs[0]).toMatchObject({ level: 'error', msg: 'invalid configuration', error: { message: 'ALLOWED_IDENTITIES is required' } });
  });
});
