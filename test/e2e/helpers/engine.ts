import { $, fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import { cachePaths } from '../../../scripts/lib/toolchain/cache.js';
import { engineStatus, ensureEngine } from '../../../scripts/lib/toolchain/docker-engine.js';
import { loadToolchain } from '../../../scripts/lib/toolchain/index.js';

const sh = $({ quiet: true, nothrow: true, timeout: '120s' });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the Docker engine and starts it again, the way it was started: the
 * dockerd the toolchain started (its pid file in the cache) is sent SIGTERM
 * and started again by the toolchain; an engine run by systemd is restarted
 * by systemctl. Returns how long the engine did not answer.
 */
export async function restartEngine(): Promise<{ downMs: number; how: 'toolchain' | 'systemd' }> {
  const paths = cachePaths();
  const pidText = (await fs.pathExists(paths.dockerdPid)) ? (await fs.readFile(paths.dockerdPid, 'utf8')).trim() : '';
  const pid = Number(pidText);
  const downAt = Date.now();
  if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
    process.kill(pid, 'SIGTERM');
    // dockerd stops every container first (their stop timeouts apply).
    await waitFor(`dockerd (pid ${pid}) to exit`, () => !alive(pid), { timeoutMs: 120_000 });
    const tc = await loadToolchain(paths);
    await ensureEngine(paths, { offline: tc.mode === 'offline' });
    return { downMs: Date.now() - downAt, how: 'toolchain' };
  }
  if ((await sh`systemctl is-active docker`).exitCode === 0) {
    const out = await sh`systemctl restart docker`;
    if (out.exitCode !== 0) throw new Error(`systemctl restart docker failed: ${out.stderr.trim()}`);
    await waitFor('the engine to answer', async () => (await engineStatus()).running, { timeoutMs: 120_000 });
    return { downMs: Date.now() - downAt, how: 'systemd' };
  }
  throw new Error(
    `cannot restart the Docker engine here: no dockerd started by the toolchain (${paths.dockerdPid}) and no systemd unit "docker". ` +
      'This test needs an engine it may restart (CI: the toolchain starts dockerd).',
  );
}
