import { describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { appStats } from '../../scripts/lib/workloads/handles.js';
import { health } from '../../scripts/lib/workloads/readiness.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import { operatorScript } from './helpers/scripts.js';

const ctx = inject('e2e');

describe('revocation', { timeout: 300_000 }, () => {
  const shared = useSharedStack();

  it('a revoked certificate cannot be renewed, and once it expires the workload fails clearly; re-enrollment recovers', async () => {
    const client = workload(shared.stack, 'client');
    const since = new Date().toISOString();
    const out = await operatorScript`npx tsx scripts/revoke.ts client --prefix ${ctx.prefix} --json`;
    expect(out.exitCode, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as { serial: string; notAfter: string; renewalRefused: boolean };
    expect(result.renewalRefused).toBe(true);
    expect(await docker.logs(shared.stack.ca.container, { since })).toMatch(/revoked/i);

    // The renew daemon keeps failing; the certificate runs out; requests stop.
    const expiry = Date.parse(result.notAfter);
    const failing = await waitFor(
      'client requests to fail after expiry',
      async () => {
        const s = await appStats(client);
        return Date.now() > expiry && (s?.requests?.consecutiveFailures ?? 0) >= 2 ? s : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 2000 },
    );
    expect(failing.credentials?.serial).toBe(result.serial);
    expect(failing.credentials?.state).toBe('expired');
    expect(failing.requests?.failuresByReason?.own_certificate_expired ?? 0).toBeGreaterThanOrEqual(2);
    expect((failing.lastError as { reason?: string } | null)?.reason).toBe('own_certificate_expired');
    // Both containers say so to Docker, too.
    for (const c of [client.container, client.renewer]) {
      await waitFor(`${c} to report unhealthy`, async () => ((await health(c)) === 'unhealthy' ? true : undefined), { timeoutMs: 60_000 });
    }

    // A new identity document through the normal path brings it back.
    assertEnrolled(await enrollAll(shared.stack, [client], { force: true }));
    await waitFor(
      'client requests to succeed again',
      async () => {
        const s = await appStats(client);
        return s && s.credentials?.serial !== result.serial && s.requests?.consecutiveFailures === 0 && s.requests?.successes ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
  });
});
