import { spawn } from 'node:child_process';

import { $, expBackoff, fs, retry } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';

const quiet = $({ quiet: true, nothrow: true, timeout: '20s' });

export interface EngineStatus {
  readonly running: boolean;
  readonly serverVersion?: string;
  readonly apiVersion?: string;
  readonly startedByUs?: boolean;
  /** Why no engine answered, from the CLI's own error. */
  readonly problem?: EngineProblem;
  /** The CLI's error text, as it printed it. */
  readonly error?: string;
}

export type EngineProblem = 'no-cli' | 'permission' | 'not-running' | 'other';

/** Classifies the docker CLI's failure; the permission case must not read as "no engine". */
export function classifyEngineError(exitCode: number | null, stderr: string): EngineProblem {
  if (exitCode === 127 || /command not found|not found: docker|ENOENT/i.test(stderr)) return 'no-cli';
  if (/permission denied/i.test(stderr)) return 'permission';
  if (
    /cannot connect to the docker daemon|is the docker daemon running|connection refused|no such file or directory|error during connect|pipe.*not found/i.test(
      stderr,
    )
  )
    return 'not-running';
  return 'other';
}

/** What to tell the user, per problem and platform (Linux, macOS). */
export function engineAdvice(status: EngineStatus, platform: NodeJS.Platform): string {
  const said = status.error ? ` The docker CLI said: ${status.error.split('\n')[0]}` : '';
  const mac = platform === 'darwin';
  switch (status.problem) {
    case 'no-cli':
      return mac
        ? 'no docker CLI found. Install Docker Desktop (https://docs.docker.com/desktop/setup/install/mac-install/), start it, and run this again.'
        : 'no docker CLI found. Install Docker Engine (https://docs.docker.com/engine/install/), start it, and run this again. As root on Debian this script installs docker.io itself.';
    case 'permission':
      return mac
        ? `a Docker engine is there but refuses this user (permission denied on its socket).${said} Restart Docker Desktop, check \`docker context ls\` points at desktop-linux, and run this again.`
        : `a Docker engine is there but refuses this user (permission denied on its socket).${said} Add yourself to the docker group (\`sudo usermod -aG docker $USER\`, then log out and in, or \`newgrp docker\`), or use rootless Docker (\`dockerd-rootless-setuptool.sh install\`, then \`docker context use rootless\`), and run this again.`;
    case 'not-running':
      return mac
        ? `no Docker engine answers.${said} Start Docker Desktop (\`open -a Docker\`), wait until \`docker version\` shows a Server, and run this again.`
        : `no Docker engine answers.${said} Start it (\`sudo systemctl start docker\`, or \`systemctl --user start docker\` for rootless Docker), check \`docker context ls\`, and run this again.`;
    default:
      return `the docker CLI cannot reach an engine.${said} Check \`docker version\` and \`docker context ls\`, and run this again.`;
  }
}

export async function engineStatus(): Promise<EngineStatus> {
  const out = await quiet`docker version --format ${'{{.Server.Version}} {{.Server.APIVersion}}'}`;
  if (out.exitCode !== 0) {
    const error = out.stderr.trim();
    return { running: false, problem: classifyEngineError(out.exitCode, error), error };
  }
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
  const isRoot = process.getuid?.() === 0;
  const isDebian = await fs.pathExists('/etc/debian_version');
  if (!isRoot || !isDebian || status.problem === 'permission') throw new UserError(engineAdvice(status, process.platform));
  const packages = ['docker.io', ...(opts.offline ? ['mmdebstrap'] : [])];
  await aptInstall(packages, paths);
  await startDockerd(paths);
  return { ...(await engineStatus()), startedByUs: true };
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** Installs Debian packages that are missing, starting none of their services; no-op when all are present. */
export async function aptInstall(packages: string[], paths: CachePaths): Promise<void> {
  const missing: string[] = [];
  for (const pkg of packages) {
    const q = await quiet`dpkg-query -W -f=${'${Status}'} ${pkg}`;
    if (!q.stdout.includes('install ok installed')) missing.push(pkg);
  }
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new UserError(`${missing.join(', ')} must be installed, which needs root: run \`sudo apt-get install ${missing.join(' ')}\` and run this again.`);
  }
  await fs.mkdirp(paths.logs);
  const log = `${paths.logs}/apt.log`;
  const apt = $({ quiet: true, nothrow: true, timeout: '15m', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const update = await apt`apt-get update -q`;
  // The packages are tools (servers included: the recipes' tests start their
  // own instances): Debian's policy-rc.d hook keeps their services from
  // starting on install, unless the machine already has a policy of its own.
  const policy = (await fs.pathExists(POLICY_RC_D)) ? undefined : POLICY_RC_D;
  if (policy) await fs.writeFile(policy, '#!/bin/sh\n# written by the project toolchain while apt-get runs: start no service\nexit 101\n', { mode: 0o755 });
  const install = await (update.exitCode === 0 ? apt`apt-get install -y -q --no-install-recommends ${missing}` : Promise.resolve(update)).finally(() =>
    policy ? fs.remove(policy) : undefined,
  );
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
