import { spawn } from 'node:child_process';
import { $, fs, retry, expBackoff } from 'zx';
import type { CachePaths } from '../cache.js';
import { UserError } from '../ui.js';

const quiet = $({ quiet: true, nothrow: true, timeout: '20s' });

export interface EngineStatus {
  readonly running: boolean;
  readonly serverVersion?: string;
  readonly apiVersion?: string;
  readonly startedByUs?: boolean;
}

export async function engineStatus(): Promise<EngineStatus> {
  const out = await quiet`docker version --format ${'{{.Server.Version}} {{.Server.APIVersion}}'}`;
  if (out.exitCode !== 0) return { running: false };
  const [serverVersion, apiVersion] = out.stdout.trim().split(' ');
  return { running: true, serverVersion, apiVersion };
}

/**
 * Use the running engine; otherwise (root on Debian only) install docker.io
 * and start dockerd in the background with a log and pid file in the cache.
 */
export async function ensureEngine(paths: CachePaths, opts: { offline: boolean }): Promise<EngineStatus> {
  const status = await engineStatus();
  if (status.running) return status;
  const cli = await quiet`command -v docker`;
  const isRoot = process.getuid?.() === 0;
  const isDebian = await fs.pathExists('/etc/debian_version');
  if (!isRoot || !isDebian) {
    throw new UserError(
      cli.exitCode === 0
        ? 'a docker CLI is installed but no Docker engine answers. Start Docker (Docker Desktop, or `sudo systemctl start docker`) and run this again.'
        : 'no Docker engine found. Install Docker Engine or Docker Desktop (https://docs.docker.com/engine/install/), start it, and run this again. ' +
          'As root on Debian this script installs docker.io itself.',
    );
  }
  const packages = ['docker.io', ...(opts.offline ? ['mmdebstrap'] : [])];
  await aptInstall(packages, paths);
  await startDockerd(paths);
  return { ...(await engineStatus()), startedByUs: true };
}

/** Installs Debian packages that are missing; no-op when all are present. */
export async function aptInstall(packages: string[], paths: CachePaths): Promise<void> {
  const missing: string[] = [];
  for (const pkg of packages) {
    const q = await quiet`dpkg-query -W -f=${'${Status}'} ${pkg}`;
    if (!q.stdout.includes('install ok installed')) missing.push(pkg);
  }
  if (missing.length === 0) return;
  await fs.mkdirp(paths.logs);
  const log = `${paths.logs}/apt.log`;
  const apt = $({ quiet: true, nothrow: true, timeout: '15m', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const update = await apt`apt-get update -q`;
  const install = update.exitCode === 0 ? await apt`apt-get install -y -q --no-install-recommends ${missing}` : update;
  await fs.appendFile(log, update.stdout + update.stderr + install.stdout + install.stderr);
  if (install.exitCode !== 0) {
    throw new UserError(`apt-get could not install ${missing.join(', ')} (see ${log}). Check that Debian's package mirror is reachable, then run this again.`);
  }
}

async function startDockerd(paths: CachePaths): Promise<void> {
  await fs.mkdirp(paths.dockerdLog.replace(/\/[^/]+$/, ''));
  // A stale pid file from a crashed daemon would make dockerd refuse to start.
  await fs.remove(paths.dockerdPid);
  const log = fs.openSync(paths.dockerdLog, 'a');
  const child = spawn('dockerd', ['--pidfile', paths.dockerdPid], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  try {
    await retry(40, expBackoff('2s', '100ms'), async () => {
      if (child.exitCode !== null) throw new Error(`dockerd exited with code ${child.exitCode}`);
      const s = await engineStatus();
      if (!s.running) throw new Error('docker info does not answer yet');
    });
  } catch (err) {
    const tail = (await fs.readFile(paths.dockerdLog, 'utf8')).split('\n').slice(-15).join('\n');
    throw new UserError(`dockerd did not come up (${(err as Error).message}). Last lines of ${paths.dockerdLog}:\n${tail}`);
  }
}
