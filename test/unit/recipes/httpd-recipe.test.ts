// The httpd recipe (recipes/httpd) on the host with Debian's apache2, run as
// its container runs it: the allowed identity is served; an unlisted one gets
// 403 with its reason, no certificate and a self-signed or foreign one are
// refused in the handshake with their exact alerts; hostile root.crt files
// are refused with the contract's reasons while the old trust stays; and a
// renewal is picked up by a graceful restart: the same httpd parent, a
// request begun before it finishes after it, no failed call through two.
import { mkdir, readFile, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../helpers/pki.js';
import { within } from '../services/helpers/harness.js';
import {
  asCaller,
  beginRequest,
  call,
  type Caller,
  httpdHealth,
  type HttpdRecipe,
  type Outcome,
  renew,
  replaceFile,
  requireDebianHttpd,
  SERVER_NAME,
  servingSerial,
  startHttpd,
} from './helpers/httpd-recipe.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';

const name = (n: string) => ({ commonName: `${n}.mesh.internal`, dns: [`${n}.mesh.internal`], uris: [`spiffe://mesh.internal/${n}`] });

let mesh: Pki;
let foreign: Pki;
let client: Caller;
let files: RecipeFiles;
let httpd: HttpdRecipe;
const serverLeaf = () => mesh.issue({ commonName: SERVER_NAME, dns: [SERVER_NAME] });
const refusedCall = (o: Outcome) => ('code' in o ? o.code : `HTTP ${o.status}`);

beforeAll(async () => {
  requireDebianHttpd();
  mesh = await createPki('Mesh');
  foreign = await createPki('Foreign');
  client = asCaller(await mesh.issue(name('client')));
  files = await recipeFiles('httpd-recipe', mesh.root.certPem, await serverLeaf());
}, 30_000);
afterAll(async () => {
  await httpd?.recipe.stop();
  await files?.remove();
});

describe('httpd recipe: who gets in', { timeout: 60_000 }, () => {
  let first: Leaf;
  beforeAll(async () => {
    first = await serverLeaf();
    await renew(files, first);
    // Upper case in the list: DNS names compare case-insensitively.
    httpd = await startHttpd(files, 'CLIENT.mesh.internal,operator.mesh.internal');
    expect((await httpd.health())[1]).toMatch(/^(starting|waiting): /);
    await servingSerial(httpd, mesh.root.certPem, client, first.serial);
  }, 30_000);

  it('serves an allowed identity, checked by the subject DN of its verified certificate', async () => {
    expect(await call(httpd.port, mesh.root.certPem, client)).toEqual({ status: 200, body: '{"server":"httpd"}', serverSerial: first.serial });
    const logged = await waitFor('the access log line', () => httpd.recipe.logs.find((l) => l.msg === 'request' && l['status'] === 200), within(5_000));
    expect(logged).toMatchObject({ component: 'httpd', identity: 'CN=client.mesh.internal', clientVerify: 'SUCCESS', tls: 'TLSv1.3' });
  });

  it('refuses a valid certificate of an unlisted identity: 403 with its reason', async () => {
    const intruder = await mesh.issue(name('intruder'));
    expect(await call(httpd.port, mesh.root.certPem, asCaller(intruder))).toMatchObject({
      status: 403,
      body: '{"error":"forbidden","reason":"client identity not allowed"}',
    });
  });

  it('refuses in the handshake: no certificate, a self-signed one with the allowed name, one from a foreign CA', async () => {
    const selfSigned = await selfSignedLeaf(name('client'));
    const foreignClient = await foreign.issue(name('client'));
    expect(refusedCall(await call(httpd.port, mesh.root.certPem))).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(refusedCall(await call(httpd.port, mesh.root.certPem, asCaller(selfSigned)))).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    expect(refusedCall(await call(httpd.port, mesh.root.certPem, asCaller(foreignClient)))).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  });

  it('says ready in its health check, with the serial it serves', async () => {
    const [code, line] = await httpd.health();
    expect([code, line]).toEqual([0, expect.stringMatching(new RegExp(`^ready: serving certificate ${first.serial} until \\d{4}-`))]);
    const stats = await httpd.recipe.stats();
    expect(stats).toMatchObject({ technology: 'httpd', role: 'server', state: 'serving', serial: first.serial, failedReloads: 0 });
  });
});

describe('httpd recipe: hostile root.crt files are refused, the old trust stays', { timeout: 60_000 }, () => {
  const pem = (text: string) => `${text.trim()}\n`;
  const relabel = (text: string, label: string) => pem(text).replaceAll('CERTIFICATE-----', `${label}-----`);
  const hostile: ReadonlyArray<readonly [string, string, () => Promise<void>]> = [
    [
      'the foreign root appended as TRUSTED CERTIFICATE',
      'foreign_block',
      () => writeRoot(pem(mesh.root.certPem) + relabel(foreign.root.certPem, 'TRUSTED CERTIFICATE')),
    ],
    ['the foreign root appended as a plain CERTIFICATE', 'unpinned', () => writeRoot(pem(mesh.root.certPem) + pem(foreign.root.certPem))],
    ['a DER root', 'not_pem', () => writeRoot(Buffer.from(mesh.root.cert.rawData))],
    ['a symlink to the root', 'not_regular_file', () => linkRoot()],
  ];
  const writeRoot = (content: string | Buffer) => replaceFile(files, 'root.crt', content);
  // A symlink to a file of the renewer's choosing (bytes the recipe has not seen).
  async function linkRoot() {
    const target = join(files.dir, 'elsewhere.crt');
    await writeFile(target, pem(mesh.root.certPem) + pem(foreign.root.certPem));
    await unlink(join(files.certDir, 'root.crt'));
    await symlink(target, join(files.certDir, 'root.crt'));
  }

  it.each(hostile)('refuses %s (%s), keeps serving its certificate and refusing the foreign CA', async (_what, reason, write) => {
    const before = await httpd.recipe.stats();
    await write();
    const refused = await waitFor(
      'the refusal',
      async () => {
        const now = await httpd.recipe.stats();
        return (now.failedReloads ?? 0) > (before.failedReloads ?? 0) ? now : undefined;
      },
      within(10_000),
    );
    expect(refused.lastError).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(refused.serial).toBe(before.serial);
    expect(await call(httpd.port, mesh.root.certPem, client)).toMatchObject({ status: 200, serverSerial: before.serial });
    const foreignClient = await foreign.issue(name('client'));
    const outcome = await call(httpd.port, mesh.root.certPem, asCaller(foreignClient));
    expect(refusedCall(outcome)).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    // The mesh root back as the renewer writes it: accepted again.
    await unlink(join(files.certDir, 'root.crt'));
    await replaceFile(files, 'root.crt', mesh.root.certPem);
    await waitFor('the good root accepted again', async () => !(await httpd.recipe.stats()).lastError, within(10_000));
  });
});

describe('httpd recipe: renewals by graceful restart', { timeout: 90_000 }, () => {
  it('picks up two renewals in the same httpd parent, with 0 failed calls and a request in flight finished', async () => {
    const pid = await httpd.httpdPid();
    const reloads = (await httpd.recipe.stats())['reloads'] as number;
    const outcomes: Outcome[] = [];
    let calling = true;
    const loop = (async () => {
      while (calling) outcomes.push(await call(httpd.port, mesh.root.certPem, client));
    })();
    const served = new Set<string>();
    try {
      const inFlight = await beginRequest(httpd.port, mesh.root.certPem, client);
      for (let i = 0; i < 2; i++) {
        const next = await serverLeaf();
        await renew(files, next);
        await servingSerial(httpd, mesh.root.certPem, client, next.serial);
        served.add(next.serial);
        if (i === 0) {
          // Begun on the old certificate before the restart, finished after it on the same connection.
          const done = await inFlight.finish();
          expect(done.statusLine).toBe('HTTP/1.1 200 OK');
          expect(done.serial).not.toBe(next.serial);
        }
      }
    } finally {
      calling = false;
      await loop;
    }
    expect(await httpd.httpdPid()).toBe(pid);
    const failed = outcomes.filter((o) => !('status' in o) || o.status !== 200);
    expect(failed).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(20);
    const stats = await waitFor(
      'the second reload counted',
      async () => {
        const now = await httpd.recipe.stats();
        return now['reloads'] === reloads + 2 ? now : undefined;
      },
      within(5_000),
    );
    expect(served.has(stats.serial ?? '')).toBe(true);
    expect(httpd.recipe.logs.filter((l) => l.msg === 'reloaded').length).toBeGreaterThanOrEqual(2);
  });

  it('stops on SIGTERM within the contract (15 s), httpd with it', async () => {
    const pid = await httpd.httpdPid();
    const started = Date.now();
    await httpd.recipe.stop();
    expect(await httpd.recipe.exited()).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('httpd recipe: configuration', { timeout: 30_000 }, () => {
  it('refuses a URI in ALLOWED_IDENTITIES (httpd checks the CN): exit 2 naming the variable', async () => {
    const bad = await startHttpd(files, 'spiffe://mesh.internal/client');
    expect(await bad.recipe.exited()).toBe(2);
    expect(bad.recipe.logs[0]).toMatchObject({ level: 'error', variable: 'ALLOWED_IDENTITIES' });
  });
});

describe('httpd recipe: health check', () => {
  const stats = (fields: Record<string, unknown>) =>
    `${JSON.stringify({ technology: 'httpd', role: 'server', updatedAt: new Date().toISOString(), ...fields })}\n`;
  it('is unhealthy, with the reason, when credentials were refused before any loaded, httpd is gone, or the stats went stale', async () => {
    const dir = join(files.dir, 'health');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'stats.json');
    await writeFile(file, stats({ state: 'waiting', lastError: 'root.crt refused: unpinned: block 1' }));
    expect(await httpdHealth(file, dir)).toEqual([1, 'unhealthy: credentials refused, none loaded: root.crt refused: unpinned: block 1']);
    await writeFile(file, stats({ state: 'serving', serial: '4F1A', notAfter: '2026-12-31T00:00:00.000Z' }));
    await writeFile(join(dir, 'httpd.pid'), '999999999\n');
    expect(await httpdHealth(file, dir)).toEqual([1, 'unhealthy: httpd is not running']);
    await writeFile(join(dir, 'httpd.pid'), `${process.pid}\n`);
    expect(await httpdHealth(file, dir)).toEqual([0, 'ready: serving certificate 4F1A until 2026-12-31T00:00:00.000Z']);
    const old = new Date(Date.now() - 600_000);
    await utimes(file, old, old);
    expect(await httpdHealth(file, dir)).toEqual([1, expect.stringMatching(/^unhealthy: stats not updated for \d+s$/)]);
  });
});

describe('httpd recipe: trust file wiring', () => {
  it('builds its trust file with mtls-trust and gives mod_ssl that file only, never the certs volume', async () => {
    const recipe = (file: string) => readFile(new URL(`../../../recipes/httpd/${file}`, import.meta.url), 'utf8');
    expect(await recipe('mtls-httpd')).toContain('mtls-trust "$CERT_DIR/root.crt" "$ROOT_PIN_FILE" "$set_dir/trust.crt"');
    const tlsFiles = (await recipe('httpd.conf.in')).match(/^SSL(CACertificate|Certificate|CertificateKey)File .*$/gm);
    expect(tlsFiles).toEqual(['SSLCertificateFile "@TLS@/site.crt"', 'SSLCertificateKeyFile "@TLS@/site.key"', 'SSLCACertificateFile "@TLS@/trust.crt"']);
    expect(await recipe('Dockerfile')).toMatch(/^COPY lib\/mtls-trust lib\/mtls-common\.sh \/usr\/local\/bin\/$/m);
  });
});
