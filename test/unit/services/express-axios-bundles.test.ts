// The Express and axios bundles as the image runs them (`node /app/express-server.mjs`,
// `node /app/axios-client.mjs`): separate Node processes configured by the recipes'
// environment contract. Only here does the bundled CommonJS (express, axios and
// their dependencies) load through the bundles' require banner, so this is what proves it.
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { buildServices } from '../../../services/build.js';
import { makeTempDir } from '../../helpers/pki.js';
import { type CertDir, CLIENT_DNS, createCertDir, createTestPki, SERVER_URI } from './helpers/fixtures.js';
import { adminGet, expectCleanStop, freePort, type LoggedProcess, spawnWithLogs, within } from './helpers/harness.js';

// BUNDLE_NODE: a Node 24 binary, the images' runtime (as in build.test.ts).
const node = process.env['BUNDLE_NODE'] ?? process.execPath;
let out: { path: string; remove(): Promise<void> };
const dirs: CertDir[] = [];
const processes: LoggedProcess[] = [];

beforeAll(async () => {
  out = await makeTempDir('express-axios-bundles');
  await buildServices({ outDir: out.path });
});

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const dir of dirs) await dir.remove();
  await out?.remove();
});

function run(bundle: string, env: Record<string, string>): LoggedProcess {
  const p = spawnWithLogs(node, join(out.path, bundle), env);
  processes.push(p);
  return p;
}

it('run standalone: axios calls Express over mTLS, follows a server rotation, and both exit 0 on SIGTERM', async () => {
  const pki = await createTestPki();
  const [serverDir, clientDir] = [await createCertDir(pki, 'bundle-express'), await createCertDir(pki, 'bundle-axios')];
  dirs.push(serverDir, clientDir);
  await serverDir.write(await pki.serverLeaf());
  await clientDir.write(await pki.clientLeaf());
  const [listenPort, serverAdmin, clientAdmin] = [await freePort(), await freePort(), await freePort()];
  const server = run('express-server.mjs', {
    CERT_DIR: serverDir.path,
    LISTEN_HOST: '127.0.0.1',
    LISTEN_PORT: String(listenPort),
    ADMIN_PORT: String(serverAdmin),
    ALLOWED_IDENTITIES: CLIENT_DNS,
    MAX_CONNECTION_AGE_MS: '1000',
    RELOAD_DEBOUNCE_MS: '20',
  });
  await waitFor('express serving', () => server.logs.some((line) => line.msg === 'serving mTLS'), within(10_000));
  const client = run('axios-client.mjs', {
    CERT_DIR: clientDir.path,
    TARGET_HOST: '127.0.0.1',
    TARGET_PORT: String(listenPort),
    EXPECTED_SERVER_IDENTITY: SERVER_URI,
    REQUEST_INTERVAL_MS: '50',
    ADMIN_PORT: String(clientAdmin),
  });
  const stats = async () => (await adminGet(clientAdmin, '/stats')).body as { requests: { successes: number; failures: number }; serverSerials: string[] };
  await waitFor('axios successes', async () => ((await stats()).requests.successes >= 3 ? true : undefined), within(10_000));

  const next = await pki.serverLeaf();
  await serverDir.write(next);
  await waitFor(
    'the new server certificate seen by axios',
    async () => ((await stats()).serverSerials.includes(next.serial) ? true : undefined),
    within(10_000),
  );
  expect((await stats()).requests.failures).toBe(0);
  expect((await adminGet(serverAdmin, '/healthz')).body).toMatchObject({ status: 'ready', role: 'server', serial: next.serial });
  expect((await adminGet(clientAdmin, '/healthz')).body).toMatchObject({ status: 'ready', role: 'client' });

  await expectCleanStop(server, client);
});
