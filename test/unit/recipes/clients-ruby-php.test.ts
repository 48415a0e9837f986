// The Ruby (recipes/ruby, Net::HTTP) and PHP (recipes/php, the curl
// extension) client recipes, run on the host with the host's ruby and php
// (Debian bookworm's, the versions the images carry) against the Node mTLS
// server in-process: the start-up and trust-file contracts every client
// keeps, the server's identity checked (another identity and a self-signed
// certificate refused, each with its exact reason), the client's own
// certificate presented (an identity off the server's allow-list gets 403),
// a renewal picked up through the renewer's key-then-certificate window with
// no failed call and no restart, a key that stays mismatched refused while
// the last good pair keeps calling, SIGTERM, and the health check.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../helpers/pki.js';
import { type CertDir, createCertDir, createTestPki, SERVER_DNS, SERVER_URI, type TestPki } from '../services/helpers/fixtures.js';
import { freePort, within } from '../services/helpers/harness.js';
import { clientTestHooks, okAtLeast, renewerWrites, renewThroughKeyWindow } from './helpers/client-renewal.js';
import { type RecipeFiles, recipeFiles, rootPin } from './helpers/recipe-credentials.js';
import type { RecipeProcess } from './helpers/recipe-process.js';
import { runClientRecipe, startupContract } from './helpers/startup-contract.js';
import { trustContract } from './helpers/trust-contract.js';

const RECIPES_DIR = fileURLToPath(new URL('../../../recipes/', import.meta.url));

/** Each recipe: its entry script, the identity form it checks, and the exact reasons it gives. */
const RECIPES = [
  {
    name: 'ruby',
    script: 'ruby/app/client.rb',
    install: 'apt-get install ruby',
    serverIdentity: SERVER_URI,
    refused: /^connection refused: 127\.0\.0\.1:\d+$/,
    untrusted: /^tls: certificate verify failed \(unable to get local issuer certificate\)$/,
    selfSigned: /^tls: certificate verify failed \(self-signed certificate\)$/,
    otherIdentity: /^identity mismatch: server presented \["spiffe:\/\/mesh\.internal\/other"\]$/,
    // Net::HTTP is given the private trust store, never a CA file.
    tlsTrust: /^\s*http\.cert_store = store$/m,
  },
  {
    name: 'php',
    script: 'php/app/client.php',
    install: 'apt-get install php-cli php-curl',
    serverIdentity: SERVER_DNS,
    refused: /^curl error 7: Failed to connect to /,
    untrusted: /^curl error 60: SSL certificate problem: unable to get local issuer certificate$/,
    selfSigned: /^curl error 60: SSL certificate problem: self-signed certificate$/,
    otherIdentity: /^curl error 60: SSL: no alternative certificate subject name matches target host name 'server\.mesh\.internal'$/,
    tlsTrust: /^\s*CURLOPT_CAINFO => \$c->trustFile,$/m,
  },
] as const;

let pki: TestPki;
let foreign: Pki;
let servers: Record<'mesh' | 'foreign' | 'other', CertDir>;
/** A server that presents a self-signed certificate with the server's names (the Node server refuses to serve one). */
let selfSigned: Leaf;

/** The server's names, and 127.0.0.1: the Ruby client checks TARGET_HOST (here the address) as Net::HTTP does. */
const serverNames = { commonName: 'server', dns: [SERVER_DNS], uris: [SERVER_URI], ips: ['127.0.0.1'] };

async function serverDir(name: string, leaf: Leaf, rootPem?: string): Promise<CertDir> {
  const dir = await createCertDir(pki, `ruby-php-${name}`);
  await dir.write(leaf, rootPem);
  return dir;
}

beforeAll(async () => {
  for (const r of RECIPES) {
    try {
      execFileSync(r.name, ['--version']);
    } catch {
      throw new Error(`these tests run the ${r.name} recipe with the host's ${r.name}: install it (Debian: ${r.install})`);
    }
  }
  pki = await createTestPki();
  foreign = await createPki('Foreign');
  servers = {
    mesh: await serverDir('mesh', await pki.mesh.issue(serverNames)),
    // A foreign CA's certificate with the server's names; it trusts both roots, so it accepts the mesh's clients.
    foreign: await serverDir('foreign', await foreign.issue(serverNames), `${pki.mesh.root.certPem.trim()}\n${foreign.root.certPem.trim()}\n`),
    other: await serverDir(
      'other',
      await pki.mesh.issue({ commonName: 'other', dns: ['other.mesh.internal'], uris: ['spiffe://mesh.internal/other'], ips: ['127.0.0.1'] }),
    ),
  };
  selfSigned = await selfSignedLeaf(serverNames);
});
const { cleanups, server } = clientTestHooks(() => servers);

async function selfSignedServer(port: number): Promise<void> {
  const https = createHttpsServer({ cert: selfSigned.certPem, key: selfSigned.keyPem }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => https.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => https.close(() => resolve())));
}

async function clientFiles(name: string, leaf?: Leaf): Promise<RecipeFiles> {
  const files = await recipeFiles(name, pki.mesh.root.certPem, leaf ?? (await pki.clientLeaf()));
  cleanups.push(() => files.remove());
  return files;
}

describe.each(RECIPES)('$name client recipe', (r) => {
  const script = join(RECIPES_DIR, r.script);
  it('its sources parse, with no warnings (ruby -wc, php -l)', () => {
    const app = join(RECIPES_DIR, r.name, 'app');
    for (const file of readdirSync(app).map((f) => join(app, f))) {
      const out = spawnSync(r.name, r.name === 'ruby' ? ['-wc', file] : ['-l', file], { encoding: 'utf8' });
      expect([out.status, out.stderr, out.stdout.trim()], file).toEqual([0, '', r.name === 'ruby' ? 'Syntax OK' : `No syntax errors detected in ${file}`]);
    }
  });
  function client(port: number, files: RecipeFiles, startupRetryBudgetMs = '20000'): RecipeProcess {
    const recipe = runClientRecipe(script, files, { port, serverIdentity: r.serverIdentity, startupRetryBudgetMs });
    cleanups.push(() => recipe.stop());
    return recipe;
  }
  async function calling(files?: RecipeFiles) {
    const port = await freePort();
    await server(port, servers.mesh);
    const recipe = client(port, files ?? (await clientFiles(`${r.name}-calls`)));
    await waitFor('successful calls', okAtLeast(recipe, 2), within(15_000));
    return recipe;
  }

  describe('start-up', { timeout: 30_000 }, () => {
    let files: RecipeFiles;
    beforeAll(async () => {
      files = await recipeFiles(`${r.name}-startup`, pki.mesh.root.certPem, await pki.clientLeaf());
    });
    afterAll(() => files.remove());
    startupContract(() => ({
      client: (port, budget) => client(port, files, budget),
      server: (port) => server(port, servers.mesh),
      firstSuccessLog: 'calling',
      refused: r.refused,
      badConfig: { exitCode: 2, log: { variable: 'STARTUP_RETRY_BUDGET_MS' } },
    }));
  });

  describe('trust file', { timeout: 60_000 }, () => {
    trustContract(() => ({
      files: async () => recipeFiles(`${r.name}-trust`, pki.mesh.root.certPem, await pki.clientLeaf()),
      client: (port, own) => client(port, own),
      server: (port, issuer) => server(port, servers[issuer]),
      meshRootPem: pki.mesh.root.certPem,
      foreignRootPem: foreign.root.certPem,
      untrusted: r.untrusted,
    }));

    it('builds its trust with mtls-trust (its image carries the tool) and gives its TLS library only the private files', () => {
      const dockerfile = readFileSync(join(RECIPES_DIR, r.name, 'Dockerfile'), 'utf8');
      expect(dockerfile).toMatch(/^COPY lib\/mtls-trust lib\/mtls-common\.sh \/usr\/local\/bin\/$/m);
      const source = ['ruby/app/mtls_credentials.rb', 'ruby/app/mtls_call.rb', 'php/app/credentials.php', 'php/app/call.php']
        .filter((f) => f.startsWith(r.name))
        .map((f) => readFileSync(join(RECIPES_DIR, f), 'utf8'))
        .join('\n');
      expect(source).toMatch(/'mtls-trust', (@root, @pin_file, @trust_file|\$this->root, \$this->pinFile, \$this->trustFile)/);
      expect(source).toMatch(r.tlsTrust);
      expect(source).not.toMatch(/ca_file|ca_path|set_default_paths|CURLOPT_CAINFO => \$this->root/);
    });
  });

  describe("the server's identity, and its own", { timeout: 30_000 }, () => {
    it.each([
      ['another identity (a valid chain)', 'other', r.otherIdentity],
      ['a self-signed certificate with its names', 'selfSigned', r.selfSigned],
    ] as const)('refuses a server with %s, with its exact reason', async (_what, dir, reason) => {
      const port = await freePort();
      await (dir === 'other' ? server(port, servers.other) : selfSignedServer(port));
      const recipe = client(port, await clientFiles(`${r.name}-refuses`));
      const stats = await waitFor('a failed call', async () => ((await recipe.stats()).requests.failed >= 2 ? recipe.stats() : undefined), within(20_000));
      expect(stats.requests.ok, recipe.output()).toBe(0);
      expect(stats.requests.startupRetries).toBe(0);
      expect(stats.lastError, recipe.output()).toMatch(reason);
    });

    it('presents its certificate: an identity off the server allow-list gets 403, not a handshake failure', async () => {
      const intruder = await pki.mesh.issue({ commonName: 'intruder', dns: ['intruder.mesh.internal'], uris: ['spiffe://mesh.internal/intruder'] });
      const port = await freePort();
      await server(port, servers.mesh);
      const recipe = client(port, await clientFiles(`${r.name}-intruder`, intruder));
      const stats = await waitFor('a failed call', async () => ((await recipe.stats()).requests.failed >= 1 ? recipe.stats() : undefined), within(15_000));
      expect([stats.requests.ok, stats.lastError], recipe.output()).toEqual([0, 'http 403']);
    });

    it('calls an allowed server; its health says ready; SIGTERM ends it at once with exit 0', async () => {
      const leaf = await pki.clientLeaf();
      const files = await clientFiles(`${r.name}-allowed`, leaf);
      const recipe = await calling(files);
      const stats = await recipe.stats();
      expect(stats, recipe.output()).toMatchObject({ technology: r.name, role: 'client', state: 'calling', serial: leaf.serial, failedReloads: 0 });
      expect(stats.requests).toMatchObject({ failed: 0, retries: 0 });
      // The shell clients' health check, which the image runs (recipes/curl/mtls-health.sh).
      const health = execFileSync('sh', [join(RECIPES_DIR, 'curl/mtls-health.sh')], {
        env: {
          PATH: `${join(RECIPES_DIR, 'lib')}:/usr/bin:/bin`,
          STATS_FILE: join(
            files.dir,
            readdirSync(files.dir).find((f) => /^stats-\d+\.json$/.test(f))!,
          ),
        },
        encoding: 'utf8',
      });
      expect(health).toMatch(new RegExp(`^ready: calling with certificate ${leaf.serial}; \\d+ ok, the last at `));
      const stoppedAt = Date.now();
      await recipe.stop();
      expect(await recipe.exited()).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(5_000);
      expect(recipe.logs.at(-1)).toMatchObject({ level: 'info', msg: 'stopping', signal: 'TERM' });
    });
  });

  describe('rotation', { timeout: 30_000 }, () => {
    it('picks up a renewed pair through the key-then-certificate window: no failed call, no restart', async () => {
      const files = await clientFiles(`${r.name}-rotation`);
      const recipe = await calling(files);
      const next = await pki.clientLeaf();
      const { before, after: stats } = await renewThroughKeyWindow(recipe, files, next);
      expect(stats.requests.failed, recipe.output()).toBe(0);
      expect([stats.reloads, stats.failedReloads]).toEqual([Number(before['reloads']) + 1, 0]);
      expect(recipe.logs.filter((l) => l.msg === 'reloaded')).toEqual([expect.objectContaining({ serial: next.serial })]);
      expect(recipe.child.exitCode).toBeNull();
    });

    it('trusts a root added to root.crt once it is pinned too (a root rotation), from the next call', async () => {
      const files = await clientFiles(`${r.name}-next-root`);
      const port = await freePort();
      await server(port, servers.foreign);
      const recipe = client(port, files);
      await waitFor('a failed call', async () => (await recipe.stats()).requests.failed >= 1, within(15_000));
      await appendFile(files.pinFile, `${rootPin(foreign.root.certPem)}\n`);
      await writeFile(join(files.certDir, 'root.crt'), `${pki.mesh.root.certPem.trim()}\n${foreign.root.certPem.trim()}\n`);
      await waitFor('calls to the server under the new root', okAtLeast(recipe, 2), within(15_000));
      expect(
        recipe.logs.filter((l) => l.msg === 'trust file rebuilt from root.crt'),
        recipe.output(),
      ).not.toHaveLength(0);
    });

    it('keeps the last good pair when the key stays mismatched, counting one failed reload', async () => {
      const files = await clientFiles(`${r.name}-mismatch`);
      const recipe = await calling(files);
      const before = await recipe.stats();
      await renewerWrites(files, 'site.key', (await pki.clientLeaf()).keyPem);
      const refused = await waitFor('the refusal', async () => ((await recipe.stats()).failedReloads === 1 ? recipe.stats() : undefined), within(10_000));
      expect(refused.lastError).toBe('site.key does not match site.crt');
      await waitFor('calls after it', okAtLeast(recipe, refused.requests.ok + 3), within(10_000));
      const stats = await recipe.stats();
      expect([stats.serial, stats.requests.failed, stats.failedReloads], recipe.output()).toEqual([before.serial, 0, 1]);
      expect(recipe.logs.filter((l) => l.msg === 'reload refused, keeping the current credentials')).toHaveLength(1);
    });
  });
});
