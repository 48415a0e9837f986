// The Caddy recipe (recipes/caddy) run on the host as its container runs it,
// with the caddy binary the toolchain builds for the stand-in image (Go module
// proxy, the pinned version; `npx tsx scripts/toolchain.ts`): the allowed
// identity served, an unlisted one refused with its JSON 403, no certificate
// and a self-signed one refused in the handshake (as a Node caller sees it),
// hostile root.crt files refused while the old trust keeps serving, a key
// that stays mismatched refused, renewals through the renewer's
// key-then-certificate window loaded with `caddy reload` (same process, no
// failed call under continuous traffic), and the health check.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { caddyBinaryPath } from '../../../scripts/lib/toolchain/recipe-stand-ins.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../helpers/pki.js';
import { freePort, within } from '../services/helpers/harness.js';
import { RECIPES } from './helpers/haproxy-recipe.js';
import { asCaller, call, renew, replaceFile, SERVER_NAME } from './helpers/httpd-recipe.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './helpers/recipe-process.js';

const id = (name: string) => ({ commonName: `${name}.mesh.internal`, dns: [`${name}.mesh.internal`], uris: [`spiffe://mesh.internal/${name}`] });
// The handshakes name SERVER_NAME (server.mesh.internal): Caddy picks its certificate by that name.
const serverLeaf = (pki: Pki) => pki.issue({ ...id('caddy'), dns: ['caddy.mesh.internal', SERVER_NAME] });
const ALLOWED = 'spiffe://mesh.internal/caddy-curl,spiffe://mesh.internal/operator';
const BODY = /^\{"server":"caddy","identity":"spiffe:\/\/mesh\.internal\/operator","clientSerial":"\d+","tlsVersion":"tls1\.3"\}$/;

let pki: Pki;
let foreignRootPem: string;
let files: RecipeFiles;
let recipe: RecipeProcess;
let env: Record<string, string>;
let port: number;
let leaf: Leaf;
let operator: Leaf;

const stats = () => recipe.stats();
const pid = async () => (await readFile(join(files.dir, 'run', 'caddy.pid'), 'utf8')).trim();
const operatorCall = () => call(port, pki.root.certPem, asCaller(operator));
const servedSerial = async () => {
  const r = await operatorCall();
  return 'status' in r && r.status === 200 ? r.serverSerial : undefined;
};
/** A server's requests (ok, refused): the stats type is a client's. */
const refused = async () => ((await stats()).requests as unknown as { refused: number }).refused;
const serving = (serial: string) =>
  waitFor(`serial ${serial} served`, async () => (await stats()).serial === serial && (await servedSerial()) === serial, within(20_000));
function health(): [number, string] {
  try {
    return [0, execFileSync('sh', [join(RECIPES, 'caddy', 'mtls-health')], { env, encoding: 'utf8' }).trim()];
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return [e.status, e.stdout.trim()];
  }
}

beforeAll(async () => {
  const caddy = caddyBinaryPath();
  try {
    execFileSync(caddy, ['version']);
  } catch (err) {
    throw new Error(`these tests run the caddy binary of the stand-in image: build it with \`npx tsx scripts/toolchain.ts\` (${String(err)})`);
  }
  pki = await createPki('caddy');
  foreignRootPem = (await createPki('foreign')).root.certPem;
  leaf = await serverLeaf(pki);
  operator = await pki.issue(id('operator'));
  files = await recipeFiles('caddy', pki.root.certPem, leaf);
  port = await freePort();
  env = {
    PATH: [join(RECIPES, 'lib'), join(RECIPES, 'node-exporter'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
    CERT_DIR: files.certDir,
    ROOT_PIN_FILE: files.pinFile,
    STATS_FILE: join(files.dir, 'stats.json'),
    LISTEN_PORT: String(port),
    ALLOWED_IDENTITIES: ALLOWED,
    CADDY: caddy,
    CADDY_RUN_DIR: join(files.dir, 'run'),
    CADDY_TEMPLATE: join(RECIPES, 'caddy', 'caddy.json.in'),
    XDG_CONFIG_HOME: join(files.dir, 'config'),
    XDG_DATA_HOME: join(files.dir, 'data'),
  };
  recipe = runRecipe(join(RECIPES, 'caddy', 'mtls-caddy'), env, env['STATS_FILE']!);
  await serving(leaf.serial);
}, 60_000);

afterAll(async () => {
  await recipe?.stop();
  await files?.remove();
});

describe('Caddy: mTLS server (file certificates, caddy reload)', () => {
  it('serves an allowed identity (its SAN URI), and says ready', async () => {
    expect(await operatorCall()).toMatchObject({ status: 200, body: expect.stringMatching(BODY), serverSerial: leaf.serial });
    expect(health()).toEqual([0, expect.stringMatching(new RegExp(`^ready: serving TLS on port ${port} with certificate ${leaf.serial} until `))]);
  });

  it('refuses: no certificate and a self-signed one in the handshake, an unlisted identity with a 403', async () => {
    const before = await refused();
    expect(await call(port, pki.root.certPem)).toEqual({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(await call(port, pki.root.certPem, asCaller(await selfSignedLeaf(id('operator'))))).toEqual({ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    expect(await call(port, pki.root.certPem, asCaller(await pki.issue(id('intruder'))))).toMatchObject({
      status: 403,
      body: '{"error":"forbidden","reason":"client identity not allowed"}',
    });
    const counted = await waitFor('3 refusals counted', async () => (await refused()) >= before + 3, within(10_000));
    expect(counted).toBe(true);
  });

  const pem = (text: string) => `${text.trim()}\n`;
  it.each([
    [
      'the foreign root appended as TRUSTED CERTIFICATE',
      'foreign_block',
      () => pem(pki.root.certPem) + pem(foreignRootPem).replace(/ CERTIFICATE-----/g, ' TRUSTED CERTIFICATE-----'),
    ],
    ['the foreign root appended', 'unpinned', () => pem(pki.root.certPem) + pem(foreignRootPem)],
    ['the root as DER', 'not_pem', () => Buffer.from(pki.root.cert.rawData)],
  ] as const)('refuses root.crt with %s (%s), serving on with the old trust', async (_what, reason, make) => {
    const before = await stats();
    await replaceFile(files, 'root.crt', make());
    await waitFor('the refusal', async () => ((await stats()).failedReloads ?? 0) > (before.failedReloads ?? 0), within(10_000));
    const now = await stats();
    expect(now.lastError, recipe.output()).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(now.serial).toBe(before.serial);
    expect(await operatorCall()).toMatchObject({ status: 200, serverSerial: before.serial });
    await replaceFile(files, 'root.crt', pki.root.certPem);
  });

  it('picks up two renewals with caddy reload: same process, no failed call under continuous traffic (one retry on a reset)', async () => {
    const caddyPid = await pid();
    const reloads = (await stats()).reloads as number;
    // One call after another, each on a new connection, while Caddy reloads twice.
    // A connection the outgoing server accepted but had not read a request from
    // when it shut down is closed (Go's net/http Shutdown; README.md, "Reload"):
    // the call is retried once on a new connection, as the mesh's clients do.
    let running = true;
    const outcomes: Awaited<ReturnType<typeof operatorCall>>[] = [];
    const resets: unknown[] = [];
    const traffic = (async () => {
      while (running) {
        const first = await operatorCall();
        if ('code' in first && first.code === 'ECONNRESET') resets.push(first);
        outcomes.push('code' in first && first.code === 'ECONNRESET' ? await operatorCall() : first);
      }
    })();
    const served = [leaf.serial];
    for (let i = 0; i < 2; i++) {
      leaf = await serverLeaf(pki);
      await renew(files, leaf);
      await serving(leaf.serial);
      served.push(leaf.serial);
    }
    running = false;
    await traffic;
    expect(outcomes.filter((o) => !('status' in o) || o.status !== 200)).toEqual([]);
    expect(resets.length, 'at most one reset connection per reload').toBeLessThanOrEqual(2);
    expect(new Set(outcomes.map((o) => ('status' in o ? o.serverSerial : undefined)))).toEqual(new Set(served));
    expect(await pid()).toBe(caddyPid);
    expect((await stats()).reloads).toBe(reloads + 2);
    expect(recipe.logs.filter((l) => l.msg === 'reloaded').map((l) => l['serial'])).toContain(leaf.serial);
  });

  it('refuses a key that stays mismatched, keeping the pair it has', async () => {
    const before = await stats();
    await replaceFile(files, 'site.key', (await serverLeaf(pki)).keyPem);
    await waitFor('the refusal', async () => ((await stats()).failedReloads ?? 0) > (before.failedReloads ?? 0), within(15_000));
    expect((await stats()).lastError).toBe('site.key does not match site.crt');
    expect(await operatorCall()).toMatchObject({ status: 200, serverSerial: leaf.serial });
    await replaceFile(files, 'site.key', leaf.keyPem);
  });
});
