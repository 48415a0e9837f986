// The Redis recipe (recipes/redis) on the host with Debian's redis-server and
// redis-cli (7.0.15, as the stand-in image), the identity module and the
// name-check library built with the host's gcc, run as the containers run
// them: uid 1000 (when the tests run as root), only the contract's
// environment, the credential files written as the renewer writes them (by
// rename, key first). The server: the allowed identities are served as their
// ACL users; an unlisted identity gets NOAUTH; no certificate, a self-signed
// and a foreign one fail the handshake; hostile root.crt files are refused
// with the contract's reasons while the old trust stays; a renewal is taken
// up by CONFIG SET, same redis-server, an open connection keeps working, the
// client's calls never fail. The client: redis-cli checks the server's name
// (with the library), and the start-up and trust-file contracts.
import { lchown, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { servedLeafPem } from '../../../scripts/lib/workloads/served-cert.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf, serialOf } from '../../helpers/pki.js';
import { parseReply, redisCall, respCommand } from '../../helpers/redis-call.js';
import { freePort, within } from '../services/helpers/harness.js';
import { renew, replaceFile } from './helpers/httpd-recipe.js';
import type { RecipeFiles } from './helpers/recipe-credentials.js';
import {
  asRoot,
  buildLibraries,
  cleanups,
  health,
  id,
  owned,
  type Redis,
  redisClient,
  removeLibraries,
  RUNTIME_UID,
  SERVER_NAME,
  serverLeaf,
  startRedis,
  stopStarted,
} from './helpers/redis-recipe.js';
import { startupContract } from './helpers/startup-contract.js';
import { trustContract } from './helpers/trust-contract.js';

let mesh: Pki;
let foreign: Pki;
let serverFiles: RecipeFiles;
let server: Redis;
const clientFiles = async (label: string) => owned(label, mesh.root.certPem, await mesh.issue(id('redis-client')));
const call = async (leaf?: Leaf) =>
  redisCall({ port: server.port, serverName: SERVER_NAME }, mesh.root.certPem, leaf && { certPem: leaf.bundlePem, keyPem: leaf.keyPem });
const refused = async () => Number(((await server.recipe.stats()).requests as unknown as { refused: number }).refused);

beforeAll(async () => {
  await buildLibraries();
  mesh = await createPki('Mesh');
  foreign = await createPki('Foreign');
  serverFiles = await owned('redis', mesh.root.certPem, await serverLeaf(mesh));
  server = await startRedis(serverFiles, await freePort());
  cleanups.pop(); // the suite's server lives until afterAll
}, 90_000);
afterEach(stopStarted);
afterAll(async () => {
  await Promise.all([server?.recipe.stop(), removeLibraries()]);
  await serverFiles?.remove();
});

describe('redis recipe: who gets in', { timeout: 30_000 }, () => {
  it('serves the allowed identities as their ACL users, over TLS', async () => {
    expect(await call(await mesh.issue(id('operator')))).toEqual({ ok: true, body: 'operator true' });
    expect(await call(await mesh.issue(id('redis-client')))).toEqual({ ok: true, body: 'redis-client true' });
    expect(await health(server.recipe)).toMatch(/^ready: serving TLS with certificate [0-9A-F]+ until /);
  });

  it('leaves an unlisted identity, or a certificate without a SAN URI, unauthenticated: NOAUTH, the reason in the log', async () => {
    const before = await refused();
    expect(await call(await mesh.issue(id('intruder')))).toEqual({ ok: false, message: 'NOAUTH Authentication required.' });
    expect(await call(await mesh.issue({ commonName: 'operator.mesh.internal', dns: ['operator.mesh.internal'] }))).toEqual({
      ok: false,
      message: 'NOAUTH Authentication required.',
    });
    await waitFor('the refusals counted', async () => (await refused()) >= before + 2, within());
    const reasons = server.recipe.logs.filter((l) => l.msg.startsWith('<mtls_identity> refused: ')).map((l) => l.msg.replace(/ id=\d+ addr=[0-9.]+/, ''));
    expect(reasons).toEqual(
      expect.arrayContaining([
        '<mtls_identity> refused: client identity=spiffe://mesh.internal/intruder: identity not allowed',
        '<mtls_identity> refused: client: the certificate has no SAN URI',
      ]),
    );
  });

  it('refuses no certificate, a self-signed or a foreign one in the handshake', async () => {
    expect(await call()).toMatchObject({ ok: false, code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    for (const leaf of [await selfSignedLeaf(id('operator')), await foreign.issue(id('operator'))]) {
      expect(await call(leaf)).toMatchObject({ ok: false, code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    }
  });
});

describe('redis recipe: hostile root.crt', { timeout: 30_000 }, () => {
  const pem = (text: string) => `${text.trim()}\n`;
  const der = (text: string) => Buffer.from(text.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const hostile: Array<[reason: string, make: () => string | Buffer]> = [
    ['too_large', () => pem(mesh.root.certPem).repeat(200)],
    ['not_pem', () => der(mesh.root.certPem)],
    ['foreign_block', () => pem(mesh.root.certPem) + pem(foreign.root.certPem).replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE')],
    ['stray_text', () => `${pem(mesh.root.certPem)}hello\n`],
    ['bad_base64', () => pem(mesh.root.certPem).replace(/\n[A-Za-z0-9+/]{8}/, '\n********')],
    ['no_certificate', () => ''],
    ['unpinned', () => pem(mesh.root.certPem) + pem(foreign.root.certPem)],
    ['not_regular_file', () => ''],
  ];
  it.each(hostile)('refuses root.crt (%s), keeps serving with the old trust', async (reason, make) => {
    const before = await server.recipe.stats();
    if (reason === 'not_regular_file') {
      const tmp = join(serverFiles.certDir, '.root.crt.tmp');
      await symlink(join(serverFiles.certDir, 'site.crt'), tmp);
      if (asRoot) await lchown(tmp, RUNTIME_UID, RUNTIME_UID);
      await rename(tmp, join(serverFiles.certDir, 'root.crt'));
    } else {
      await replaceFile(serverFiles, 'root.crt', make());
    }
    const got = await waitFor(
      'the refusal',
      async () => {
        const now = await server.recipe.stats();
        return (now.failedReloads ?? 0) > (before.failedReloads ?? 0) ? now : undefined;
      },
      within(10_000),
    );
    expect(got.lastError, server.recipe.output()).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(got).toMatchObject({ state: 'serving', serial: before.serial });
    expect(await call(await mesh.issue(id('operator')))).toMatchObject({ ok: true });
    await replaceFile(serverFiles, 'root.crt', mesh.root.certPem);
    await waitFor('the good root.crt taken up again', async () => !(await server.recipe.stats()).lastError, within(10_000));
  });
});

describe('redis recipe: renewal by CONFIG SET', { timeout: 90_000 }, () => {
  it('serves each renewed certificate without a restart; an open connection keeps working; the client never fails', async () => {
    const files = await clientFiles('redis-client');
    cleanups.push(() => files.remove());
    const client = redisClient(server.port, files);
    await waitFor('client calls', async () => (await client.stats()).requests.ok >= 3, within(15_000));
    const pid = await server.pid();
    const reloads = Number((await server.recipe.stats())['reloads']);
    const operator = await mesh.issue(id('operator'));
    const open = connect({
      host: '127.0.0.1',
      port: server.port,
      servername: SERVER_NAME,
      ca: mesh.root.certPem,
      cert: operator.bundlePem,
      key: operator.keyPem,
    });
    cleanups.push(async () => void open.destroy());
    let answers = Buffer.alloc(0);
    open.on('data', (d: Buffer) => (answers = Buffer.concat([answers, d])));
    const whoami = async () => {
      answers = Buffer.alloc(0);
      open.write(respCommand('ACL', 'WHOAMI'));
      return waitFor('an answer on the open connection', async () => parseReply(answers), within());
    };
    await new Promise((resolve) => open.once('secureConnect', resolve));
    for (let round = 1; round <= 2; round++) {
      const leaf = await serverLeaf(mesh);
      await renew(serverFiles, leaf);
      await renew(files, await mesh.issue(id('redis-client')));
      await waitFor(
        'the new certificate served',
        async () => {
          const served = await servedLeafPem({ port: server.port, serverName: SERVER_NAME, protocol: 'redis' });
          return served && serialOf(served) === leaf.serial;
        },
        within(15_000),
      );
      expect(await whoami()).toBe('operator');
      // The stats file is rewritten just after CONFIG SET answers.
      await waitFor('the reload counted', async () => (await server.recipe.stats())['reloads'] === reloads + round, within());
      expect(await server.recipe.stats()).toMatchObject({ serial: leaf.serial, state: 'serving' });
    }
    expect(await server.pid(), 'the same redis-server').toBe(pid);
    const ok = (await client.stats()).requests.ok;
    await waitFor('more calls', async () => (await client.stats()).requests.ok >= ok + 3, within(10_000));
    expect(await client.stats(), client.output()).toMatchObject({ reloads: 2, failedReloads: 0, requests: { failed: 0 } });
    expect(await health(client)).toMatch(/^ready: calling with certificate /);
  });
});

describe('redis client recipe: the server name', { timeout: 30_000 }, () => {
  it('refuses a server of the mesh whose certificate does not name TARGET_HOST (redis-cli alone would not)', async () => {
    const files = await owned('redis-other', mesh.root.certPem, await serverLeaf(mesh, ['other.mesh.internal']));
    cleanups.push(() => files.remove());
    const other = await startRedis(files, await freePort());
    const cfiles = await clientFiles('redis-client-name');
    cleanups.push(() => cfiles.remove());
    const client = redisClient(other.port, cfiles);
    await waitFor('a failed call', async () => (await client.stats()).requests.failed >= 1, within(15_000));
    expect(await client.stats()).toMatchObject({ requests: { ok: 0 } });
    expect((await client.stats()).lastError).toBe(`Could not connect to Redis at ${SERVER_NAME}:${other.port}: SSL_connect failed: certificate verify failed`);
  });
});

describe('redis client recipe: start-up', { timeout: 60_000 }, () => {
  let files: RecipeFiles;
  beforeAll(async () => {
    files = await clientFiles('redis-client-startup');
  });
  afterAll(async () => files?.remove());
  startupContract(() => ({
    client: (port, budgetMs) => redisClient(port, files, budgetMs),
    server: async (port) => {
      const s = await startRedis(serverFiles, port);
      return { stop: () => s.recipe.stop() };
    },
    firstSuccessLog: 'first call succeeded',
    refused: /^Could not connect to Redis at localhost:\d+: Connection refused$/,
    badConfig: { exitCode: 1, log: { msg: expect.stringContaining('STARTUP_RETRY_BUDGET_MS') } },
  }));
});

describe('redis client recipe: trust file', { timeout: 60_000 }, () => {
  trustContract(() => ({
    files: () => clientFiles('redis-client-trust'),
    client: (port, files) => redisClient(port, files),
    server: async (port, issuer) => {
      const files = issuer === 'mesh' ? serverFiles : await owned('redis-foreign', foreign.root.certPem, await serverLeaf(foreign));
      if (files !== serverFiles) cleanups.push(() => files.remove());
      const s = await startRedis(files, port);
      return { stop: () => s.recipe.stop() };
    },
    meshRootPem: mesh.root.certPem,
    foreignRootPem: foreign.root.certPem,
    untrusted: /^Could not connect to Redis at localhost:\d+: SSL_connect failed: certificate verify failed$/,
  }));
});
