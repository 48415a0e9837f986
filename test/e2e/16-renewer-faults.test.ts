import { beforeAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { waitFor } from '../../common/wait.js';
import { projectDir } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { appStats, type Workload } from '../../scripts/lib/workloads/handles.js';
import { health, healthNow } from '../../scripts/lib/workloads/readiness.js';
import type { WorkloadStatus } from '../../scripts/lib/workloads/status.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import {
  clientFailures,
  processes,
  restartCount,
  servingCert,
  stackContainers,
  waitAllHealthy,
  waitForNewerCert,
  waitForRenewalLog,
} from './helpers/renewer.js';
import { operatorScript } from './helpers/scripts.js';

const ctx = inject('e2e');
const CERT_DIR = '/var/run/step';

// Faults a renewer meets in real life. Each case ends with the workload
// serving a valid, newer certificate (or, when only an operator can help,
// with `npm run status` naming the command, which is then run), and no
// request fails while the old certificate is still valid.
describe('renewer under faults', { timeout: 300_000 }, () => {
  const shared = useSharedStack();
  let server: Workload;
  let client: Workload;
  const allContainers = () => stackContainers(shared.stack);

  beforeAll(async () => {
    server = workload(shared.stack, 'server');
    client = workload(shared.stack, 'client');
    await waitAllHealthy(allContainers(), 60_000);
  });

  it('a truncated site.crt is replaced: the renewer rekeys with the last good certificate', async () => {
    const failures = await clientFailures(client);
    // Right after a renewal, so the next scheduled one cannot hide the repair.
    const since = new Date().toISOString();
    await waitForRenewalLog(server, since, 60_000);
    const before = await servingCert(server);
    const cut = await docker.exec(server.renewer, ['sh', '-c', `head -c 300 ${CERT_DIR}/site.crt >/tmp/cut && cat /tmp/cut >${CERT_DIR}/site.crt`]);
    expect(cut.exitCode, cut.stderr).toBe(0);
    // The app may still have served the certificate from before that renewal, so a newer one
    // alone proves nothing: wait for the renewer's own account of the repair.
    const log = await waitFor(
      'the renewer to replace the damaged certificate',
      async () => {
        const l = await docker.logs(server.renewer, { since });
        return l.includes('replaced the damaged certificate') ? l : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const after = await waitForNewerCert(server, before, 20_000);
    expect(log).toContain('site.crt is unusable');
    expect(log).toContain('rekeying with the last good certificate');
    expect(log).toContain('replaced the damaged certificate');
    expect((await appStats(server))?.credentials?.state).toBe('loaded');
    expect(after.notAfter).toBeGreaterThan(Date.now());
    expect(await clientFailures(client)).toBe(failures);
  });

  it('SIGKILL of the renewer during a renewal: it restarts, the old pair is intact, the next renewal succeeds', async () => {
    const failures = await clientFailures(client);
    await waitForRenewalLog(server, new Date().toISOString(), 60_000);
    const before = await servingCert(server);
    const restarts = await restartCount(server.renewer);
    // Freeze the CA so the next renewal stays in flight, then kill the loop.
    await $({ quiet: true })`docker pause ${shared.stack.ca.container}`;
    try {
      const loop = await waitFor(
        'a rekey in flight in the server renewer',
        async () => {
          const ps = await processes(server.renewer);
          // The loop itself is the child of Docker's init (pid 1); its subshells share its command line.
          return ps.some((p) => p.cmdline.startsWith('step ca rekey '))
            ? ps.find((p) => p.ppid === '1' && p.cmdline === '/bin/bash /usr/local/bin/mtls-renewer')
            : undefined;
        },
        { timeoutMs: 40_000, intervalMs: 200 },
      );
      // bash's own kill: the image has no kill binary.
      const kill = await docker.exec(server.renewer, ['bash', '-c', 'kill -KILL "$1"', 'kill', loop.pid]);
      // The loop is the container's main process: once it dies the container stops, and this
      // exec'd shell may be killed with it (137) before it exits 0. Either way the kill was
      // delivered; the restart count below proves the loop died.
      expect([0, 137], kill.stderr).toContain(kill.exitCode);
    } finally {
      await $({ quiet: true })`docker unpause ${shared.stack.ca.container}`;
    }
    await waitFor('the renewer to be restarted by Docker', async () => ((await restartCount(server.renewer)) > restarts ? true : undefined), {
      timeoutMs: 30_000,
    });
    const after = await waitForNewerCert(server, before, 45_000);
    expect(after.notAfter).toBeGreaterThan(before.notAfter);
    // Nothing half-made is left behind, and the pair on disk validates.
    await waitFor(
      'no staged files in the certs volume',
      async () => {
        const ls = await docker.exec(server.renewer, ['ls', '-A', CERT_DIR]);
        return ls.stdout.split('\n').filter(Boolean).sort().join(' ') === 'root.crt site.crt site.key' ? true : undefined;
      },
      { timeoutMs: 10_000 },
    );
    // A restarted loop says `starting:` until it has verified the pair on disk, then `ready:`.
    await waitFor('the restarted renewer to be ready', async () => ((await healthNow(server.renewer)).phase === 'ready' ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    expect(await clientFailures(client)).toBe(failures);
  });

  it('the CA down for longer than a renewal can bridge: status names the exact command, which recovers both workloads', async () => {
    const failures = await clientFailures(client);
    const old = { server: await servingCert(server), client: await servingCert(client) };
    const firstExpiry = Math.min(old.server.notAfter, old.client.notAfter);
    await docker.stop(shared.stack.ca.container);
    let status: { workloads: WorkloadStatus[] };
    let statusExit: number | null;
    try {
      // Until the first certificate runs out, nothing fails.
      await waitFor('the last moment before a certificate expires', async () => (Date.now() >= firstExpiry - 3000 ? true : undefined), {
        timeoutMs: 90_000,
        intervalMs: 500,
      });
      expect(await clientFailures(client)).toBe(failures);
      const statusOut = await waitFor(
        'status to report both renewers unusable',
        async () => {
          const out = await operatorScript`npx tsx scripts/status.ts --prefix ${ctx.prefix} --json`;
          const parsed = JSON.parse(out.stdout) as { workloads: WorkloadStatus[] };
          return parsed.workloads.every((w) => w.renewer?.verdict === 'unusable') ? { parsed, exitCode: out.exitCode } : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 3000 },
      );
      status = statusOut.parsed;
      statusExit = statusOut.exitCode;
    } finally {
      await docker.start(shared.stack.ca.container);
    }
    expect(statusExit).toBe(1);
    expect(status.workloads.length).toBeGreaterThan(0);
    for (const w of status.workloads) {
      // Expired while the loop slept (its stored notAfter passed) or found so when it looked at the files.
      expect(w.renewer?.detail).toMatch(/^unhealthy: (certificate [0-9A-F]+ expired at \d{4}-\d\d-\d\dT|unusable: site\.crt is unusable: .*expired)/);
      expect(w.renewer?.action).toBe(`npm run enroll -- ${w.workload} --force --prefix ${ctx.prefix}`);
    }
    await waitFor('the CA to be healthy again', async () => ((await health(shared.stack.ca.container)) === 'healthy' ? true : undefined), {
      timeoutMs: 60_000,
    });

    // The operator runs exactly what status printed.
    for (const w of status.workloads) {
      const out = await $({ cwd: projectDir, nothrow: true, quiet: true, env: { ...process.env, CI: 'true' } })`sh -c ${w.renewer!.action!}`;
      expect(out.exitCode, out.stderr).toBe(0);
    }
    await waitForNewerCert(server, old.server, 30_000);
    await waitForNewerCert(client, old.client, 30_000);
    await waitFor(
      'client requests to succeed again',
      async () => {
        const s = await appStats(client);
        return s?.requests?.consecutiveFailures === 0 && (s.requests.successes ?? 0) > 0 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    // Renewals run again on their own, and the stack is whole for what follows.
    await waitForRenewalLog(server, new Date().toISOString(), 60_000);
    await waitAllHealthy(allContainers(), 90_000);
  });
});
