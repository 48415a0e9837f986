import path from 'node:path';

import { CERT_DIR, TRUST_DIR } from '../../common/facts.js';
import { projectDir } from '../../scripts/lib/deploy/stack-instance.js';
import { envOf, volumeAt } from '../../scripts/lib/docker/commands.js';
import { waitForContainers } from '../../scripts/lib/workloads/readiness.js';
import { hardenedContainer } from '../../stack/hardening.js';
import { LABEL, stackLabels } from '../../stack/labels.js';
import { APP_MEMORY_MB } from '../../stack/mtls-workload.js';
import { removeContainer, runContainer } from './docker-run.js';
import { startHostServer, waitForPort } from './host-process.js';

/** bench/fixtures/tls-server.mjs: the same HTTPS server with MODE=mtls or MODE=tls. */
export type TlsMode = 'mtls' | 'tls';
const FIXTURES = path.join(projectDir, 'bench', 'fixtures');

export interface RunningServer {
  readonly port: number;
  readonly where: string;
  stop(): Promise<void>;
}

/**
 * The fixture in a container from the stack's workload image (same Node as
 * the real server), hardened like the stack's containers, mounting the
 * server's certificate volume read-only: the same credentials the real
 * server serves, and no key leaves the volume.
 */
export async function fixtureInContainer(opts: {
  name: string;
  prefix: string;
  image: string;
  network: string;
  certVolume: string;
  hostPort: number;
  mode: TlsMode;
}): Promise<RunningServer> {
  await runBenchContainer({
    ...opts,
    memoryMb: APP_MEMORY_MB,
    volumes: [`${opts.certVolume}:${CERT_DIR}:ro`, `${FIXTURES}:/bench:ro`],
    env: { CERT_DIR, MODE: opts.mode, LISTEN_PORT: '8443' },
    args: ['node', '/bench/tls-server.mjs'],
  });
  return { port: opts.hostPort, where: `container ${opts.name}`, stop: () => removeContainer(opts.name) };
}

/**
 * A copy of the stack's server container with `workers` processes (WORKERS):
 * the same image, environment, certificate and trust volumes (read-only) and
 * hardening; the memory limit grows with the processes, as the stack's does.
 * It serves the credentials the real server serves and renews nothing.
 */
export async function serverCopyInContainer(opts: {
  name: string;
  prefix: string;
  image: string;
  network: string;
  source: string;
  hostPort: number;
  workers: number;
}): Promise<RunningServer> {
  const env = await envOf(opts.source);
  const certVolume = await volumeAt(opts.source, CERT_DIR);
  const trustVolume = await volumeAt(opts.source, TRUST_DIR);
  if (!certVolume || !trustVolume) throw new Error(`${opts.source} mounts no certificate or trust volume`);
  const keep = ['CERT_DIR', 'ROOT_PIN_FILE', 'ALLOWED_IDENTITIES', 'LISTEN_PORT', 'NODE_ENV'];
  await runBenchContainer({
    ...opts,
    memoryMb: APP_MEMORY_MB * opts.workers,
    volumes: [`${certVolume}:${CERT_DIR}:ro`, `${trustVolume}:${TRUST_DIR}:ro`],
    env: { ...Object.fromEntries(keep.filter((k) => env[k] !== undefined).map((k) => [k, env[k]!])), LISTEN_PORT: '8443', WORKERS: String(opts.workers) },
    args: ['node', '/app/server.mjs'],
  });
  // Docker's proxy accepts on the published port before the app listens; the
  // image's own health check (the stack's vocabulary) is ready only when every
  // process serves.
  await removedOnFailure(opts.name, () =>
    waitForContainers([opts.name], `of the bench server copy with ${opts.workers} processes`, { want: 'ready', timeoutMs: 30_000 }),
  );
  return { port: opts.hostPort, where: `container ${opts.name} (${opts.workers} processes)`, stop: () => removeContainer(opts.name) };
}

/** The stack's hardening (stack/hardening.ts) as `docker create` flags; no restart policy for a bench container. */
function hardeningFlags(h: ReturnType<typeof hardenedContainer>): string[] {
  return [
    '--user',
    h.user!,
    ...(h.capabilities?.drop ?? []).flatMap((cap) => ['--cap-drop', cap]),
    ...(h.securityOpts ?? []).flatMap((o) => ['--security-opt', o]),
    ...(h.readOnly ? ['--read-only'] : []),
    ...Object.entries(h.tmpfs ?? {}).flatMap(([p, o]) => ['--tmpfs', `${p}:${o}`]),
    '--memory',
    `${h.memory}m`,
    '--memory-swap',
    `${h.memorySwap}m`,
    ...(h.init ? ['--init'] : []),
  ];
}

/** A bench container hardened like the stack's, publishing its 8443 on 127.0.0.1:hostPort. */
async function runBenchContainer(opts: {
  name: string;
  prefix: string;
  image: string;
  network: string;
  hostPort: number;
  memoryMb: number;
  volumes: readonly string[];
  env: Readonly<Record<string, string>>;
  args: readonly string[];
}): Promise<void> {
  const labels = { ...stackLabels(opts.prefix), [LABEL.role]: 'bench' };
  await removeContainer(opts.name);
  await removedOnFailure(opts.name, () => startContainer(opts, labels));
}

/**
 * Runs `step`; if it throws, removes the bench container first: one left on
 * the stack's network would make the stack's own destroy fail.
 */
async function removedOnFailure(name: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    await removeContainer(name);
    throw err;
  }
}

async function startContainer(opts: Parameters<typeof runBenchContainer>[0], labels: Record<string, string>): Promise<void> {
  await runContainer({
    name: opts.name,
    image: opts.image,
    networks: [{ name: opts.network }],
    flags: [
      ...hardeningFlags(hardenedContainer({ memoryMb: opts.memoryMb })),
      ...opts.volumes.flatMap((v) => ['--volume', v]),
      ...Object.entries(opts.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      '--publish',
      `127.0.0.1:${opts.hostPort}:8443/tcp`,
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ],
    args: opts.args,
  });
  await waitForPort(opts.hostPort, 20_000);
}

/** The fixture on the host, with this process's Node, reading credentials from `certDir`. */
export async function fixtureOnHost(opts: { certDir: string; port: number; mode: TlsMode }): Promise<RunningServer> {
  const server = await startHostServer('the fixture server', process.execPath, [path.join(FIXTURES, 'tls-server.mjs')], {
    port: opts.port,
    env: { PATH: process.env.PATH, CERT_DIR: opts.certDir, MODE: opts.mode, LISTEN_PORT: String(opts.port), LISTEN_HOST: '127.0.0.1' },
    stopSignal: 'SIGTERM',
    graceMs: 3000,
  });
  return { ...server, where: `host (Node ${process.version})` };
}
