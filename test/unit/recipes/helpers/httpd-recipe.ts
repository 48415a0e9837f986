// The httpd recipe's entry process (recipes/httpd/mtls-httpd) run on the
// host with Debian's apache2 (package apache2-bin), as the container runs it:
// uid 1000 (when the tests run as root; httpd refuses to serve as root), its
// own run directory, only the contract's environment, the credential files
// written as the renewer writes them (by rename, key first).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';

import { waitFor } from '../../../../common/wait.js';
import { mtlsRequest } from '../../../../scripts/lib/identity/mtls-request.js';
import type { Leaf } from '../../../helpers/pki.js';
import { freePort, within } from '../../services/helpers/harness.js';
import type { RecipeFiles } from './recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './recipe-process.js';

const RECIPES = fileURLToPath(new URL('../../../../recipes', import.meta.url));
/** Debian's apache2: the binary and the module directory the official image has under /usr/local/apache2. */
export const DEBIAN_HTTPD = { binary: '/usr/sbin/apache2', modules: '/usr/lib/apache2/modules' };
/** The name in the server certificate the callers check. */
export const SERVER_NAME = 'server.mesh.internal';
const RUNTIME_UID = 1000;

export function requireDebianHttpd(): void {
  if (!existsSync(DEBIAN_HTTPD.binary) || !existsSync(join(DEBIAN_HTTPD.modules, 'mod_ssl.so')))
    throw new Error('these tests run the httpd recipe with the host apache2: install apache2-bin (Debian: apt-get install apache2-bin)');
}

const asRoot = () => process.getuid?.() === 0;

/** Everything under dir owned by the runtime user, when the tests run as root. */
export async function handOver(dir: string): Promise<void> {
  if (!asRoot()) return;
  await chown(dir, RUNTIME_UID, RUNTIME_UID);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await handOver(path);
    else await chown(path, RUNTIME_UID, RUNTIME_UID);
  }
}

/** Replaces one file of the set by rename, as the renewer does. */
export async function replaceFile(files: RecipeFiles, name: 'root.crt' | 'site.crt' | 'site.key', content: string | Buffer): Promise<void> {
  const tmp = join(files.certDir, `.${name}.tmp`);
  await writeFile(tmp, content, { mode: name === 'site.key' ? 0o600 : 0o644 });
  if (asRoot()) await chown(tmp, RUNTIME_UID, RUNTIME_UID);
  await rename(tmp, join(files.certDir, name));
}

/** A renewal: the new key, then its certificate. */
export async function renew(files: RecipeFiles, leaf: Leaf): Promise<void> {
  await replaceFile(files, 'site.key', leaf.keyPem);
  await replaceFile(files, 'site.crt', leaf.bundlePem);
}

export interface HttpdRecipe {
  readonly recipe: RecipeProcess;
  readonly port: number;
  readonly runDir: string;
  readonly statsFile: string;
  /** The httpd parent's pid, from its pid file. */
  httpdPid(): Promise<number>;
  /** The recipe's health line and exit code. */
  health(): Promise<[number, string]>;
}

let runs = 0;
export async function startHttpd(files: RecipeFiles, allowed: string, extra: Record<string, string> = {}): Promise<HttpdRecipe> {
  const port = await freePort();
  const runDir = join(files.dir, `run-${++runs}`);
  const statsFile = join(files.dir, `stats-${runs}.json`);
  const env: Record<string, string> = {
    PATH: [join(RECIPES, 'lib'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
    CERT_DIR: files.certDir,
    ROOT_PIN_FILE: files.pinFile,
    STATS_FILE: statsFile,
    LISTEN_PORT: String(port),
    ALLOWED_IDENTITIES: allowed,
    HTTPD: DEBIAN_HTTPD.binary,
    HTTPD_MODULES: DEBIAN_HTTPD.modules,
    HTTPD_RUN_DIR: runDir,
    HTTPD_TEMPLATE: join(RECIPES, 'httpd', 'httpd.conf.in'),
    HTTPD_LOG_FILTER: join(RECIPES, 'httpd', 'log-json.awk'),
    ...extra,
  };
  let entry = join(RECIPES, 'httpd', 'mtls-httpd');
  if (asRoot()) {
    // setpriv keeps the environment; the container's user is 1000:1000 too.
    const wrapper = join(files.dir, `as-runtime-user-${runs}`);
    await writeFile(wrapper, `#!/bin/sh\nexec setpriv --reuid ${RUNTIME_UID} --regid ${RUNTIME_UID} --clear-groups ${entry}\n`);
    await chmod(wrapper, 0o755);
    await handOver(files.dir);
    entry = wrapper;
  }
  const recipe = runRecipe(entry, env, statsFile);
  return {
    recipe,
    port,
    runDir,
    statsFile,
    httpdPid: async () => Number((await readFile(join(runDir, 'httpd.pid'), 'utf8')).trim()),
    health: () => httpdHealth(statsFile, runDir),
  };
}

/** recipes/httpd/mtls-health with this stats file and run directory: its exit code and line. */
export function httpdHealth(statsFile: string, runDir: string): Promise<[number, string]> {
  const env = { PATH: [join(RECIPES, 'lib'), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter), STATS_FILE: statsFile, HTTPD_RUN_DIR: runDir };
  return new Promise((resolve) => {
    execFile('sh', [join(RECIPES, 'httpd', 'mtls-health')], { env }, (error, stdout) => resolve([error ? Number(error.code) : 0, stdout.trim()]));
  });
}

export interface Caller {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A leaf as a caller presents it: with its intermediate (the server trusts the root only). */
export const asCaller = (leaf: Leaf): Caller => ({ certPem: leaf.bundlePem, keyPem: leaf.keyPem });

export type Outcome = { readonly status: number; readonly body: string; readonly serverSerial?: string } | { readonly code: string };

/** One HTTPS call as Node's TLS makes it; a failure reduced to its error code. */
export async function call(port: number, rootPem: string, caller?: Caller): Promise<Outcome> {
  try {
    const r = await mtlsRequest(`https://127.0.0.1:${port}/`, { ca: rootPem, cert: caller?.certPem, key: caller?.keyPem, servername: SERVER_NAME });
    return { status: r.status, body: r.body.trim(), serverSerial: r.peerSerial };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** Waits until the recipe serves `serial`: a handshake presents it and the stats say so. */
export async function servingSerial(h: HttpdRecipe, rootPem: string, caller: Caller, serial: string): Promise<void> {
  await waitFor(
    `httpd to serve ${serial}`,
    async () => {
      const r = await call(h.port, rootPem, caller);
      if (!('status' in r) || r.status !== 200 || r.serverSerial !== serial) return false;
      const stats = await h.recipe.stats();
      return stats.state === 'serving' && stats.serial === serial;
    },
    within(15_000),
  );
}

/**
 * A request the caller has begun (TLS up, request line sent, headers not
 * finished) and finishes later: `finish()` sends the end of the headers and
 * resolves with the status line and the serial this connection was served with.
 */
export async function beginRequest(port: number, rootPem: string, caller: Caller): Promise<{ finish(): Promise<{ statusLine: string; serial: string }> }> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca: rootPem, cert: caller.certPem, key: caller.keyPem, servername: SERVER_NAME }, () => resolve(s));
    s.once('error', reject);
  });
  socket.write(`GET / HTTP/1.1\r\nHost: ${SERVER_NAME}\r\n`);
  return {
    finish: async () => {
      const serial = socket.getPeerCertificate().serialNumber;
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write('Connection: close\r\n\r\n');
      await closed;
      return { statusLine: text.split('\r\n')[0] ?? '', serial };
    },
  };
}
