// The HAProxy recipe (recipes/haproxy/mtls-haproxy) run on the host with the
// host's haproxy (Debian's 2.6, what the offline image runs): a mesh PKI,
// the Node reference server in-process as its upstream, the recipe proxying
// to it, callers with certificates of their own, and the renewer's way of
// writing files (by rename, key first).
import { execFileSync } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createPki, type Leaf, type Pki, selfSignedLeaf } from '../../../helpers/pki.js';
import { type RunningServer, startServer } from '../../services/helpers/fixtures.js';
import { freePort, httpsGet, type TlsResponse } from '../../services/helpers/harness.js';
import { shareAsking, startSlowDns } from './haproxy-dns.js';
import { type RecipeFiles, recipeFiles, rootPin } from './recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './recipe-process.js';

export const RECIPES = fileURLToPath(new URL('../../../../recipes', import.meta.url));
export const SCRIPT = join(RECIPES, 'haproxy', 'mtls-haproxy');
export const HAPROXY_DNS = 'haproxy.mesh.internal';
const UPSTREAM_DNS = 'server.mesh.internal';

/** A DNS identity as step-ca issues it: the CN equals the DNS SAN, plus the SPIFFE URI. */
export const identity = (name: string) => ({
  commonName: `${name}.mesh.internal`,
  dns: [`${name}.mesh.internal`],
  uris: [`spiffe://mesh.internal/${name}`],
});

export function requireHostHaproxy(): void {
  try {
    execFileSync('haproxy', ['-v']);
  } catch {
    throw new Error('these tests run the recipe with the host haproxy: install haproxy (Debian: apt-get install haproxy)');
  }
}

/** The recipe's stats file (recipes/README.md, "Stats"), as a server writes it. */
export interface ServerStats {
  readonly state: string;
  readonly serial?: string;
  readonly lastError?: string;
  readonly reloads: number;
  readonly failedReloads: number;
  readonly requests: { readonly ok: number; readonly failed: number; readonly refused: number };
}

export interface HaproxyWorld {
  readonly mesh: Pki;
  /** A second CA: unpinned until a test pins it. */
  readonly other: Pki;
  readonly files: RecipeFiles;
  readonly upstream: RunningServer;
  readonly recipe: RecipeProcess;
  readonly port: number;
  readonly runDir: string;
  /** Replaces a file of $CERT_DIR by rename, as the renewer does. */
  write(name: 'root.crt' | 'site.crt' | 'site.key', content: string): Promise<void>;
  /** A new leaf for the recipe, written key first, then the certificate. */
  rotate(leaf: Leaf): Promise<void>;
  /** Appends a root's pin to the pin file. */
  pin(rootPem: string): Promise<void>;
  stats(): Promise<ServerStats>;
  /** The haproxy process the recipe runs (its pid file). */
  haproxyPid(): Promise<string>;
  stop(): Promise<void>;
}

export interface WorldOptions {
  /**
   * The upstream by its DNS name, resolved by HAProxy at run time through a
   * DNS server that answers after this delay (helpers/haproxy-dns.ts), as in
   * the stack; by default its address.
   */
  readonly upstreamDnsDelayMs?: number;
}

export async function startHaproxyWorld(name: string, options: WorldOptions = {}): Promise<HaproxyWorld> {
  const mesh = await createPki('Mesh');
  const other = await createPki('Other');
  const upstreamFiles = await recipeFiles(`${name}-upstream`, mesh.root.certPem, await mesh.issue({ ...identity('server'), ips: ['127.0.0.1'] }));
  // The upstream lets in only HAProxy's identity (the Node server checks the URI).
  const upstream = await startServer(upstreamFiles.certDir, { allowedIdentities: ['spiffe://mesh.internal/haproxy'] });
  const files = await recipeFiles(name, mesh.root.certPem, await mesh.issue(identity('haproxy')));
  const port = await freePort();
  const runDir = join(files.dir, 'run');
  const statsFile = join(files.dir, 'stats.json');
  const dns = options.upstreamDnsDelayMs === undefined ? undefined : await startSlowDns(UPSTREAM_DNS, options.upstreamDnsDelayMs);
  const share = dns ? await shareAsking(join(RECIPES, 'haproxy'), dns) : undefined;
  const recipe = runRecipe(
    SCRIPT,
    {
      PATH: [join(RECIPES, 'lib'), join(RECIPES, 'haproxy'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
      CERT_DIR: files.certDir,
      ROOT_PIN_FILE: files.pinFile,
      STATS_FILE: statsFile,
      LISTEN_PORT: String(port),
      ALLOWED_IDENTITIES: 'caller.mesh.internal,operator.mesh.internal',
      // An address, or the name through the slow DNS server: the host has no
      // DNS for the mesh's names (Docker's resolver does).
      UPSTREAM_HOST: dns ? UPSTREAM_DNS : '127.0.0.1',
      UPSTREAM_PORT: String(await upstream.port()),
      UPSTREAM_IDENTITY: UPSTREAM_DNS,
      MTLS_HAPROXY_SHARE: share?.dir ?? join(RECIPES, 'haproxy'),
      MTLS_HAPROXY_RUN: runDir,
    },
    statsFile,
  );
  const write = async (file: string, content: string) => {
    const tmp = join(files.certDir, `.${file}.tmp`);
    await writeFile(tmp, content, file === 'site.key' ? { mode: 0o600 } : {});
    await rename(tmp, join(files.certDir, file));
  };
  return {
    mesh,
    other,
    files,
    upstream,
    recipe,
    port,
    runDir,
    write,
    rotate: async (leaf) => {
      await write('site.key', leaf.keyPem);
      await write('site.crt', leaf.bundlePem);
    },
    pin: async (rootPem) => writeFile(files.pinFile, `${await readFile(files.pinFile, 'utf8')}${rootPin(rootPem)}\n`),
    stats: async () => JSON.parse(await readFile(statsFile, 'utf8')) as ServerStats,
    haproxyPid: async () => (await readFile(join(runDir, 'haproxy.pid'), 'utf8')).trim(),
    stop: async () => {
      await recipe.stop();
      await upstream.stop();
      await files.remove();
      await upstreamFiles.remove();
      await dns?.stop();
      await share?.remove();
    },
  };
}

/** A PEM text ending with one newline. */
export const pem = (text: string) => `${text.trim()}\n`;

/** The second CA's root pinned and added to root.crt: a new trust (a worker reload). */
export async function trustOtherRootToo(world: HaproxyWorld): Promise<void> {
  await world.pin(world.other.root.certPem);
  await world.write('root.crt', pem(world.mesh.root.certPem) + pem(world.other.root.certPem));
}

export interface Caller {
  readonly cert?: string;
  readonly key?: string;
}

export async function caller(pki: Pki, name: string): Promise<Caller> {
  const leaf = await pki.issue(identity(name));
  return { cert: leaf.bundlePem, key: leaf.keyPem };
}

export async function selfSignedCaller(name: string): Promise<Caller> {
  const leaf = await selfSignedLeaf(identity(name));
  return { cert: leaf.certPem, key: leaf.keyPem };
}

/** One GET through the recipe on a new connection, checking HAProxy's DNS name against `trust`. */
export function call(world: HaproxyWorld, who: Caller, trust = world.mesh.root.certPem): Promise<TlsResponse> {
  return httpsGet({ port: world.port, ca: trust, ...who, servername: HAPROXY_DNS });
}

/** The TLS error code a refused call ends with (Node's name for the alert). */
export async function refusal(world: HaproxyWorld, who: Caller): Promise<string> {
  try {
    const res = await call(world, who);
    return `answered ${res.status}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/** `during` run under traffic(): the calls made and the failures seen meanwhile. */
export async function withTraffic(world: HaproxyWorld, who: Caller, during: () => Promise<void>): Promise<{ calls: number; failures: string[] }> {
  const load = traffic(world, who);
  try {
    await during();
  } catch (error) {
    await load.stop();
    throw error;
  }
  return load.stop();
}

/** Calls through the recipe on new connections, one after another, until stopped. */
export function traffic(world: HaproxyWorld, who: Caller): { stop(): Promise<{ calls: number; failures: string[] }> } {
  let calls = 0;
  let running = true;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      await call(world, who).then(
        (r) => (r.status === 200 ? calls++ : failures.push(`status ${r.status}: ${r.text}`)),
        (e: Error) => failures.push(e.message),
      );
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { calls, failures };
    },
  };
}
