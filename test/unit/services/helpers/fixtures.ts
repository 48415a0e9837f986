// A PKI shaped like the real stack (one private root + intermediate, a second
// unrelated CA) and helpers to run a server or client against a temp cert dir.
import { copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { createMtlsClient, type MtlsClient, type MtlsClientOptions } from '../../../../services/client/app.js';
import type { Logger } from '../../../../services/lib/logger.js';
import { createMtlsServer, type MtlsServer, type MtlsServerOptions } from '../../../../services/server/app.js';
import { createPki, DAY, type Leaf, makeTempDir, type Pki, selfSignedLeaf, writeCredentials } from '../../../helpers/pki.js';
import { captureLogs, type LogLine } from './harness.js';

export const SERVER_DNS = 'server.mesh.internal';
export const SERVER_URI = 'spiffe://mesh.internal/server';
export const CLIENT_DNS = 'client.mesh.internal';
export const CLIENT_URI = 'spiffe://mesh.internal/client';
/** The server's allow-list in these tests: one DNS identity, one URI identity. */
export const ALLOWED = [CLIENT_DNS, 'spiffe://mesh.internal/uri-only-client'];

export interface TestPki {
  readonly mesh: Pki;
  readonly other: Pki;
  serverLeaf(): Promise<Leaf>;
  clientLeaf(): Promise<Leaf>;
  expiredClientLeaf(): Promise<Leaf>;
  selfSignedClientLeaf(): Promise<Leaf>;
}

export async function createTestPki(): Promise<TestPki> {
  const mesh = await createPki('Mesh');
  const other = await createPki('Other');
  return {
    mesh,
    other,
    serverLeaf: () => mesh.issue({ commonName: 'server', dns: [SERVER_DNS], uris: [SERVER_URI] }),
    clientLeaf: () => mesh.issue({ commonName: 'client', dns: [CLIENT_DNS], uris: [CLIENT_URI] }),
    expiredClientLeaf: () =>
      mesh.issue({ commonName: 'client', dns: [CLIENT_DNS], notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }),
    selfSignedClientLeaf: () => selfSignedLeaf({ commonName: 'client', dns: [CLIENT_DNS] }),
  };
}

export interface CertDir {
  readonly path: string;
  write(leaf: Leaf, rootPem?: string): Promise<void>;
  writeFile(name: 'root.crt' | 'site.crt' | 'site.key', content: string): Promise<void>;
  remove(): Promise<void>;
}

export async function createCertDir(pki: TestPki, name: string): Promise<CertDir> {
  const dir = await makeTempDir(name);
  return {
    path: dir.path,
    write: (leaf, rootPem = pki.mesh.root.certPem) => writeCredentials(dir.path, rootPem, leaf),
    writeFile: (file, content) => writeFile(join(dir.path, file), content, file === 'site.key' ? { mode: 0o600 } : {}),
    remove: async () => {
      await dir.remove();
      await rm(`${dir.path}-outside`, { recursive: true, force: true });
    },
  };
}

/**
 * Makes `dir/<file>` a hard link to a copy in a sibling directory, so that
 * writing through the sibling changes the content WITHOUT a directory event in
 * `dir` — the "missed fs.watch event" case, deterministically. The content is
 * unchanged by the linking itself.
 */
export async function linkFromOutside(dir: CertDir, file: string): Promise<(content: string) => Promise<void>> {
  const outside = `${dir.path}-outside`;
  await mkdir(outside, { recursive: true });
  await copyFile(join(dir.path, file), join(outside, file));
  await rm(join(dir.path, file));
  await link(join(outside, file), join(dir.path, file));
  return (content) => writeFile(join(outside, file), content);
}

export interface RunningServer {
  readonly server: MtlsServer;
  readonly logs: LogLine[];
  readonly port: () => Promise<number>;
  stop(): Promise<void>;
}

/** What every test server (reference or Express) runs with: the test allow-list on loopback, free ports, quick reloads. */
export function serverTestOptions(certDir: string, logger: Logger) {
  return {
    certDir,
    allowedIdentities: ALLOWED,
    listenHost: '127.0.0.1',
    listenPort: 0,
    adminPort: 0,
    reloadDebounceMs: 30,
    reloadPollIntervalMs: 60_000,
    reloadRetryDelaysMs: [50, 100, 200, 400],
    shutdownGraceMs: 2_000,
    logger,
  } satisfies MtlsServerOptions;
}

export async function startServer(certDir: string, options: Partial<MtlsServerOptions> = {}): Promise<RunningServer> {
  const { logger, lines } = captureLogs();
  const server = createMtlsServer({ ...serverTestOptions(certDir, logger), ...options });
  await server.start();
  return { server, logs: lines, port: async () => (await server.serving()).port, stop: () => server.stop() };
}

/** A server of the test mesh, running: its PKI, the leaf it serves, its cert dir and port. */
export interface ServedMesh {
  readonly pki: TestPki;
  readonly leaf: Leaf;
  readonly dir: CertDir;
  readonly running: RunningServer;
  readonly port: number;
  /** Stops the server and removes its cert dir. */
  stop(): Promise<void>;
}

/**
 * Makes a test PKI (or uses `pki`), writes a fresh server leaf into a new
 * cert dir named after `name`, and starts the server on a free port with
 * `options`.
 */
export async function serveMesh(name: string, options: Partial<MtlsServerOptions> = {}, pki?: TestPki): Promise<ServedMesh> {
  const mesh = pki ?? (await createTestPki());
  const leaf = await mesh.serverLeaf();
  const dir = await createCertDir(mesh, name);
  await dir.write(leaf);
  const running = await startServer(dir.path, options);
  const port = await running.port();
  return {
    pki: mesh,
    leaf,
    dir,
    running,
    port,
    stop: async () => {
      await running.stop();
      await dir.remove();
    },
  };
}

export interface RunningClient {
  readonly client: MtlsClient;
  readonly logs: LogLine[];
  stop(): Promise<void>;
}

/** What every test client (reference or axios) runs with, besides its target and pace: quick timeouts, reloads and backoff. */
export function clientTestOptions(certDir: string, logger: Logger) {
  return {
    certDir,
    requestTimeoutMs: 2_000,
    adminPort: 0,
    reloadDebounceMs: 30,
    reloadPollIntervalMs: 60_000,
    reloadRetryDelaysMs: [50, 100, 200, 400],
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    logger,
  } satisfies Partial<MtlsClientOptions>;
}

export async function startClient(certDir: string, options: Partial<MtlsClientOptions> & Pick<MtlsClientOptions, 'targetUrl'>): Promise<RunningClient> {
  const { logger, lines } = captureLogs();
  const client = createMtlsClient({ ...clientTestOptions(certDir, logger), expectedServerIdentity: SERVER_DNS, requestRate: 50, ...options });
  await client.start();
  return { client, logs: lines, stop: () => client.stop() };
}
