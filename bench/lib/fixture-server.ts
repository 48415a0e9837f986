import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectDir } from '../../scripts/lib/stack.js';
import { LABEL, stackLabels } from '../../stack/labels.js';
import { CERT_DIR } from '../../common/facts.js';
import { runContainer, removeContainer } from './docker-run.js';
import { waitForPort } from './nginx.js';

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
  const labels = { ...stackLabels(opts.prefix), [LABEL.role]: 'bench' };
  await removeContainer(opts.name);
  await runContainer({
    name: opts.name,
    image: opts.image,
    networks: [{ name: opts.network }],
    flags: [
      '--user', '1000:1000', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '--read-only',
      '--memory', '192m', '--memory-swap', '192m', '--init',
      '--volume', `${opts.certVolume}:${CERT_DIR}:ro`, '--volume', `${FIXTURES}:/bench:ro`,
      '--env', `CERT_DIR=${CERT_DIR}`, '--env', `MODE=${opts.mode}`, '--env', 'LISTEN_PORT=8443',
      '--publish', `127.0.0.1:${opts.hostPort}:8443/tcp`,
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ],
    args: ['node', '/bench/tls-server.mjs'],
  });
  await waitForPort(opts.hostPort, 20_000);
  return { port: opts.hostPort, where: `container ${opts.name}`, stop: () => removeContainer(opts.name) };
}

/** The fixture on the host, with this process's Node, reading credentials from `certDir`. */
export async function fixtureOnHost(opts: { certDir: string; port: number; mode: TlsMode }): Promise<RunningServer> {
  const child = spawn(process.execPath, [path.join(FIXTURES, 'tls-server.mjs')], {
    env: { PATH: process.env.PATH, CERT_DIR: opts.certDir, MODE: opts.mode, LISTEN_PORT: String(opts.port), LISTEN_HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(opts.port, 10_000, () => (child.exitCode !== null ? `the fixture server exited (${child.exitCode}): ${stderr.trim()}` : undefined));
  return {
    port: opts.port,
    where: `host (Node ${process.version})`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
