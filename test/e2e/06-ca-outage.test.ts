import { describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import { rootFingerprint } from '../../scripts/lib/ca/step.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { appStats } from '../../scripts/lib/workloads/handles.js';
import { health } from '../../scripts/lib/workloads/readiness.js';
import { observeRotations } from '../../scripts/lib/workloads/rotation-check.js';
import { parseDuration } from '../../stack/duration.js';
import { NODE_PAIR } from './helpers/containers.js';
import { useSharedStack, workload } from './helpers/fixtures.js';

const ctx = inject('e2e');

describe('a short CA outage during traffic', { timeout: 300_000 }, () => {
  const shared = useSharedStack();

  it('drops no request; renewals resume after the restart; the root is unchanged', async () => {
    const client = workload(shared.stack, 'client');
    const before = (await appStats(client))?.requests;
    const down = Date.now();
    await docker.stop(shared.stack.ca.container);
    try {
      // Keep the CA down until a renewer has actually tried and failed, which
      // proves the outage overlapped a renewal (certificates renew every ~20 s
      // here), but well within the remaining lifetime (~40 s).
      await waitFor(
        'a renewal attempt to fail against the stopped CA',
        async () => {
          for (const w of shared.stack.workloads) {
            if (/error|fail/i.test(await docker.logs(w.renewer, { since: new Date(down).toISOString() }))) return true;
          }
          return undefined;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      );
    } finally {
      await docker.start(shared.stack.ca.container);
    }
    const outageSeconds = (Date.now() - down) / 1000;
    console.log(`[e2e 06] the CA was down for ${outageSeconds.toFixed(1)} s`);
    // Shorter than one certificate lifetime, so the outage overlapped renewals
    // without outlasting every certificate; that nothing expired is proved by
    // the 0 failed requests below.
    expect(outageSeconds).toBeLessThan(parseDuration(ctx.certLifetime));
    await waitFor('the CA to be healthy again', async () => ((await health(shared.stack.ca.container)) === 'healthy' ? true : undefined), {
      timeoutMs: 60_000,
    });

    const report = await observeRotations(shared.stack, { rotations: 1, timeoutMs: 150_000, only: NODE_PAIR });
    expect(report.problems).toEqual([]);
    const after = (await appStats(client))?.requests;
    expect((after?.failures ?? 0) - (before?.failures ?? 0)).toBe(0);
    expect((after?.successes ?? 0) - (before?.successes ?? 0)).toBeGreaterThan(50);
    expect(await rootFingerprint(shared.stack.ca)).toBe(ctx.fingerprint);
  });
});
