// The node_exporter (recipes/node-exporter) and Prometheus (recipes/prometheus)
// recipes' entry processes run on the host, as their containers run them,
// with the binaries of the offline stand-in images (node_exporter v1.12.1 built
// from the Go module proxy, Debian's Prometheus 2.42; `npx tsx
// scripts/toolchain.ts` builds both): the refusals node_exporter gives in the
// handshake as a Node caller sees them, hostile root.crt files refused while
// the old trust keeps serving, a key that stays mismatched refused, renewals
// picked up through the renewer's key-then-certificate window with no restart
// and no failed scrape, Prometheus checking the server's name, its start-up
// retries, and both health checks.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { mtlsRequest } from '../../../scripts/lib/identity/mtls-request.js';
import { LOCAL_IMAGES } from '../../../stack/versions.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../helpers/pki.js';
import { freePort, within } from '../services/helpers/harness.js';
import { renew, replaceFile } from './helpers/httpd-recipe.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './helpers/recipe-process.js';

const RECIPES = fileURLToPath(new URL('../../../recipes', import.meta.url));
const SERVER_DNS = 'node-exporter.mesh.internal';
const id = (name: string) => ({ commonName: `${name}.mesh.internal`, dns: [`${name}.mesh.internal`], uris: [`spiffe://mesh.internal/${name}`] });
const ALLOWED = 'spiffe://mesh.internal/prometheus,spiffe://mesh.internal/operator';

let pki: Pki;
let foreignRootPem: string;
let bin: { nodeExporter: string; prometheus: string };
const cleanups: Array<() => Promise<unknown>> = [];

/** A binary of a stand-in image, copied out of it into dir. */
function fromImage(image: string, path: string, dir: string): string {
  const container = execFileSync('docker', ['create', image], { encoding: 'utf8' }).trim();
  try {
    execFileSync('docker', ['cp', '-L', `${container}:${path}`, join(dir, path.split('/').pop()!)]);
  } finally {
    execFileSync('docker', ['rm', container]);
  }
  return join(dir, path.split('/').pop()!);
}

beforeAll(async () => {
  pki = await createPki('prom');
  foreignRootPem = (await createPki('foreign')).root.certPem;
  const dir = await recipeFiles('prom-bin', pki.root.certPem, await pki.issue(id('x')));
  cleanups.push(() => dir.remove());
  try {
    bin = {
      nodeExporter: fromImage(LOCAL_IMAGES.nodeExporter, '/bin/node_exporter', dir.dir),
      prometheus: fromImage(LOCAL_IMAGES.prometheus, '/usr/bin/prometheus', dir.dir),
    };
  } catch (err) {
    throw new Error(`these tests run the stand-ins' node_exporter and prometheus: build them with \`npx tsx scripts/toolchain.ts\` (${String(err)})`);
  }
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Running {
  readonly recipe: RecipeProcess;
  readonly files: RecipeFiles;
  readonly runDir: string;
  health(): [number, string];
  pid(): Promise<string>;
}

let runs = 0;
async function start(kind: 'node-exporter' | 'prometheus', leaf: Leaf, env: Record<string, string>): Promise<Running> {
  const files = await recipeFiles(`prom-${kind}`, pki.root.certPem, leaf);
  const runDir = join(files.dir, `run-${++runs}`);
  const statsFile = join(files.dir, 'stats.json');
  const common = {
    PATH: [join(RECIPES, 'lib'), join(RECIPES, 'node-exporter'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
    CERT_DIR: files.certDir,
    ROOT_PIN_FILE: files.pinFile,
    STATS_FILE: statsFile,
  };
  const own: Record<string, string> =
    kind === 'node-exporter'
      ? { NODE_EXPORTER: bin.nodeExporter, NODE_EXPORTER_RUN_DIR: runDir }
      : { PROMETHEUS: bin.prometheus, PROMETHEUS_RUN_DIR: runDir, PROMETHEUS_DATA_DIR: join(files.dir, 'data'), PROMETHEUS_API_PORT: String(await freePort()) };
  const all: Record<string, string> = { ...common, ...own, ...env };
  const recipe = runRecipe(join(RECIPES, kind, `mtls-${kind}`), all, statsFile);
  cleanups.push(async () => {
    await recipe.stop();
    await files.remove();
  });
  const health = (): [number, string] => {
    try {
      return [0, execFileSync('sh', [join(RECIPES, kind, 'mtls-health')], { env: all, encoding: 'utf8' }).trim()];
    } catch (err) {
      const e = err as { status: number; stdout: string };
      return [e.status, e.stdout.trim()];
    }
  };
  const pidFile = join(runDir, kind === 'node-exporter' ? 'node_exporter.pid' : 'prometheus.pid');
  return { recipe, files, runDir, health, pid: async () => (await readFile(pidFile, 'utf8')).trim() };
}

const startExporter = async (leaf: Leaf, port: number) => start('node-exporter', leaf, { LISTEN_PORT: String(port), ALLOWED_IDENTITIES: ALLOWED });
const startPrometheus = async (leaf: Leaf, port: number, expected = SERVER_DNS) =>
  start('prometheus', leaf, { TARGET_HOST: 'localhost', TARGET_PORT: String(port), EXPECTED_SERVER_IDENTITY: expected, REQUEST_INTERVAL_MS: '1000' });

type Outcome = { status: number; serial?: string } | { code: string };
async function call(port: number, caller?: Leaf): Promise<Outcome> {
  try {
    const r = await mtlsRequest(`https://127.0.0.1:${port}/`, { ca: pki.root.certPem, cert: caller?.bundlePem, key: caller?.keyPem, servername: SERVER_DNS });
    return { status: r.status, serial: r.peerSerial };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

const stats = async (r: Running) => r.recipe.stats();
const serving = (r: Running, serial: string) => waitFor(`serial ${serial} in use`, async () => (await stats(r)).serial === serial, within(15_000));
const pem = (text: string) => `${text.trim()}\n`;
const hostileRoots: ReadonlyArray<readonly [string, string, () => string | Buffer]> = [
  [
    'the foreign root appended as TRUSTED CERTIFICATE',
    'foreign_block',
    () => pem(pki.root.certPem) + pem(foreignRootPem).replace(/ CERTIFICATE-----/g, ' TRUSTED CERTIFICATE-----'),
  ],
  ['the foreign root appended', 'unpinned', () => pem(pki.root.certPem) + pem(foreignRootPem)],
  ['the root as DER', 'not_pem', () => Buffer.from(pki.root.cert.rawData)],
];

describe('node_exporter: mTLS server (exporter-toolkit web configuration)', () => {
  let port: number;
  let server: Running;
  let leaf: Leaf;
  let operator: Leaf;

  beforeAll(async () => {
    port = await freePort();
    leaf = await pki.issue(id('node-exporter'));
    operator = await pki.issue(id('operator'));
    server = await startExporter(leaf, port);
    await serving(server, leaf.serial);
  }, 30_000);

  it('serves an allowed identity, and says ready', async () => {
    const got = await waitFor('an answer', async () => ((await call(port, operator)) as { status?: number }).status === 200, within(10_000));
    expect(got).toBe(true);
    expect(server.health()).toEqual([0, expect.stringMatching(new RegExp(`^ready: serving TLS on port \\d+ with certificate ${leaf.serial} until `))]);
  });

  it('refuses in the handshake: no certificate, a self-signed one, an unlisted identity', async () => {
    const self = await selfSignedLeaf(id('operator'));
    expect(await call(port)).toEqual({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(await call(port, self)).toEqual({ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    // Alert 42 (bad_certificate): Node 20's OpenSSL 3.0 spells it SSLV3, Node 22 and 24's OpenSSL 3.5 SSL/TLS.
    expect(await call(port, await pki.issue(id('intruder')))).toEqual({ code: expect.stringMatching(/^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_BAD_CERTIFICATE$/) });
    await waitFor('3 refusals counted', async () => ((await stats(server)).requests as { refused?: number }).refused! >= 3, within(10_000));
    expect(server.recipe.output()).toMatch(/TLS handshake error from .*could not find allowed SANs in client cert/);
  });

  it.each(hostileRoots)('refuses root.crt with %s (%s), serving on with the old trust', async (_what, reason, make) => {
    const before = await stats(server);
    await replaceFile(server.files, 'root.crt', make());
    const refused = await waitFor('the refusal', async () => ((await stats(server)).failedReloads ?? 0) > (before.failedReloads ?? 0), within(10_000));
    expect(refused).toBe(true);
    const now = await stats(server);
    expect(now.lastError, server.recipe.output()).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(now.serial).toBe(before.serial);
    expect(await call(port, operator)).toMatchObject({ status: 200, serial: before.serial });
    await replaceFile(server.files, 'root.crt', pki.root.certPem);
  });

  it('picks up a renewal through the key-then-certificate window, without a restart', async () => {
    const pid = await server.pid();
    const before = await stats(server);
    for (let i = 0; i < 2; i++) {
      leaf = await pki.issue(id('node-exporter'));
      await renew(server.files, leaf);
      await serving(server, leaf.serial);
      expect(await call(port, operator)).toMatchObject({ status: 200, serial: leaf.serial });
    }
    expect(await server.pid()).toBe(pid);
    expect((await stats(server)).reloads).toBeGreaterThanOrEqual(Number(before.reloads) + 2);
  });

  it('refuses a key that stays mismatched, keeping the pair it has', async () => {
    const before = await stats(server);
    await replaceFile(server.files, 'site.key', (await pki.issue(id('node-exporter'))).keyPem);
    await waitFor('the refusal', async () => ((await stats(server)).failedReloads ?? 0) > (before.failedReloads ?? 0), within(15_000));
    expect((await stats(server)).lastError).toBe('site.key does not match site.crt');
    expect(await call(port, operator)).toMatchObject({ status: 200, serial: leaf.serial });
    await replaceFile(server.files, 'site.key', leaf.keyPem);
  });
});

describe('Prometheus: mTLS client scraping node_exporter', () => {
  let port: number;
  let server: Running;
  let client: Running;
  let serverLeaf: Leaf;
  let clientLeaf: Leaf;

  beforeAll(async () => {
    port = await freePort();
    serverLeaf = await pki.issue(id('node-exporter'));
    clientLeaf = await pki.issue(id('prometheus'));
    // Prometheus first: until node_exporter listens its scrapes are start-up retries.
    client = await startPrometheus(clientLeaf, port);
    await waitFor('a start-up retry', async () => (await stats(client)).requests.startupRetries >= 1, within(20_000));
    server = await startExporter(serverLeaf, port);
  }, 60_000);

  // A timeout names what both sides said: the scrapes' counts alone cannot tell a stalled Prometheus from a refusing server.
  const okAtLeast = (n: number) =>
    waitFor(`${n} ok scrapes`, async () => (await stats(client)).requests.ok >= n, within(20_000)).catch(async (err: Error) => {
      const tail = (r: Running) => r.recipe.output().split('\n').slice(-25).join('\n');
      throw new Error(
        `${err.message}\nPrometheus stats: ${JSON.stringify(await stats(client))}\nPrometheus said:\n${tail(client)}\nnode_exporter said:\n${tail(server)}`,
      );
    });

  it('scrapes with 0 failed after its start-up retries, and says ready', async () => {
    await okAtLeast(3);
    const s = await stats(client);
    expect(s.requests.failed, client.recipe.output()).toBe(0);
    expect(s.requests.startupRetries).toBeGreaterThanOrEqual(1);
    expect(client.health()).toEqual([0, expect.stringMatching(new RegExp(`^ready: scraping with certificate ${clientLeaf.serial}; \\d+ ok`))]);
  });

  it('rotates both sides twice with no failed scrape and no restart', async () => {
    const pids = [await client.pid(), await server.pid()];
    for (let i = 0; i < 2; i++) {
      serverLeaf = await pki.issue(id('node-exporter'));
      clientLeaf = await pki.issue(id('prometheus'));
      await Promise.all([renew(server.files, serverLeaf), renew(client.files, clientLeaf)]);
      await Promise.all([serving(server, serverLeaf.serial), serving(client, clientLeaf.serial)]);
      await okAtLeast((await stats(client)).requests.ok + 3);
    }
    const s = await stats(client);
    expect(s.requests.failed, client.recipe.output()).toBe(0);
    expect(s.reloads).toBeGreaterThanOrEqual(2);
    expect([await client.pid(), await server.pid()]).toEqual(pids);
  });

  it('picks up a new client certificate at the next scrape: one the server does not allow fails it', async () => {
    const before = await stats(client);
    await renew(client.files, await pki.issue(id('intruder')));
    try {
      // TLS 1.3 sends the server's verdict on the client's certificate after the handshake: a scrape may read the
      // alert, or, when the server's close wins the race (under load), a reset. A scrape that reads it names the alert.
      await waitFor(
        'a scrape refused with the alert',
        async () => {
          const s = await stats(client);
          return s.requests.failed > before.requests.failed && /remote error: tls: bad certificate$/.test(s.lastError ?? '');
        },
        within(15_000),
      );
    } finally {
      await renew(client.files, clientLeaf);
    }
    await waitFor('scraping again', async () => (await stats(client)).state === 'calling' && (await stats(client)).consecutiveFailures === 0, within(15_000));
  });

  it.each(hostileRoots)('refuses root.crt with %s (%s), scraping on with the old trust', async (_what, reason, make) => {
    const before = await stats(client);
    await replaceFile(client.files, 'root.crt', make());
    await waitFor('the refusal', async () => ((await stats(client)).failedReloads ?? 0) > (before.failedReloads ?? 0), within(10_000));
    expect((await stats(client)).lastError).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    await okAtLeast(before.requests.ok + 2);
    expect((await stats(client)).requests.failed).toBe(before.requests.failed);
    await replaceFile(client.files, 'root.crt', pki.root.certPem);
  });

  it("checks the server's name: another expected name fails every scrape", async () => {
    const other = await startPrometheus(await pki.issue(id('prometheus')), port, 'other.mesh.internal');
    await waitFor('a failed scrape', async () => (await stats(other)).requests.failed >= 1, within(20_000));
    const s = await stats(other);
    expect(s.requests.ok).toBe(0);
    expect(s.requests.startupRetries, 'a TLS failure is never a start-up retry').toBe(0);
    expect(s.lastError).toMatch(/x509: certificate is valid for node-exporter\.mesh\.internal, not other\.mesh\.internal$/);
    await other.recipe.stop();
  });
});
