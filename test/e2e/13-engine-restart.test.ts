import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import { rootFingerprint } from '../../scripts/lib/ca/step.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import { enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { appStats } from '../../scripts/lib/workloads/handles.js';
import { health, waitForWorkloads } from '../../scripts/lib/workloads/readiness.js';
import { observeRotations } from '../../scripts/lib/workloads/rotation-check.js';
import { createMtlsClient, type MtlsClient } from '../../services/client/app.js';
import { type ContainerState, containerState, servingContainers } from './helpers/containers.js';
import { NODE_PAIR } from './helpers/containers.js';
import { restartEngine } from './helpers/engine.js';
import { useSharedStack, workload } from './helpers/fixtures.js';

const ctx = inject('e2e');
/** Longer than the suite's certificates by a minute of margin at least, and short enough that a rotation follows within the test. */
const OUTLIVES_THE_OUTAGE = '3m';

/**
 * Restarts the Docker engine itself (every container on the machine stops
 * and comes back by its restart policy), so it runs last and once.
 */
describe('a Docker engine restart under traffic', { timeout: 420_000 }, () => {
  const shared = useSharedStack({ operator: '3m' });
  let names: string[];
  let certDir: string;
  let hostClient: MtlsClient;

  beforeAll(async () => {
    // Every certificate must outlive the outage. With the suite's 1-minute
    // certificates a workload that renewed just before the engine stops has
    // about 20 s left, and the engine and the catalog's 63 containers take
    // 15-40 s to come back on 2 cores: one CI run lost psql that way (its
    // certificate expired 6 s after the CA answered again, which is then the
    // documented recovery, enroll --force). Three minutes leave a minute at
    // least; the workloads go back to the suite's lifetime afterwards.
    await enrollAll(shared.stack, shared.stack.workloads, { force: true, lifetime: OUTLIVES_THE_OUTAGE });
    await waitForWorkloads(shared.stack.workloads);
    // The CA's init step has exited; it is not started again by the engine.
    names = servingContainers(ctx.outputs);
    // The host's own client (the reference client, in this process) through the published port,
    // told to ride out an outage of up to 120 s per call (by default a refused call after a success fails):
    // the engine brings back every container of the catalog mesh (31 workloads, 63 containers) on 2 cores,
    // and the server may be among the last (one run measured more than 30 s).
    certDir = await mkdtemp(join(tmpdir(), 'mtls-engine-restart-'));
    await writeFile(join(certDir, 'root.crt'), shared.rootPem);
    await writeFile(join(certDir, 'site.crt'), shared.operator.certPem);
    await writeFile(join(certDir, 'site.key'), shared.operator.keyPem, { mode: 0o600 });
    hostClient = createMtlsClient({
      certDir,
      targetUrl: hostUrl(ctx.outputs, 'server'),
      expectedServerIdentity: workload(shared.stack, 'server').uri,
      requestRate: 5,
      adminPort: 0,
      retryBudgetMs: 120_000,
    });
    await hostClient.start();
  });
  afterAll(async () => {
    await hostClient?.stop();
    if (certDir) await rm(certDir, { recursive: true, force: true });
    // Back to the suite's lifetime (the CA's default) for the files after this one.
    await enrollAll(shared.stack, shared.stack.workloads, { force: true });
    await waitForWorkloads(shared.stack.workloads);
  });

  it('every container comes back by its restart policy with the same root; workloads renew and serve; 0 failed requests', async () => {
    await waitFor('host client traffic', async () => (hostClient.tracker.successes >= 5 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
    const before = new Map<string, ContainerState>();
    for (const name of names) before.set(name, await containerState(name));
    for (const [name, state] of before) {
      expect(state.running, name).toBe(true);
      expect(state.restartPolicy, name).toBe('unless-stopped');
    }
    // (The stack's client may carry failures from earlier files, e.g. revocation: it restarts with the engine.)
    const hostSuccessesBefore = hostClient.tracker.successes;

    const { downMs } = await restartEngine();
    process.stderr.write(`[engine restart] the engine was stopped and answered again after ${downMs} ms\n`);

    for (const name of names) {
      await waitFor(`${name} healthy again`, async () => ((await health(name)) === 'healthy' ? true : undefined), { timeoutMs: 120_000 });
      const after = await containerState(name);
      expect(after.running, name).toBe(true);
      expect(Date.parse(after.startedAt), `${name} restarted by the engine`).toBeGreaterThan(Date.parse(before.get(name)!.startedAt));
    }
    expect(await rootFingerprint(shared.stack.ca)).toBe(ctx.fingerprint);

    // The workloads renew against the restarted CA and serve the new certificates.
    const report = await observeRotations(shared.stack, { rotations: 1, timeoutMs: 150_000, only: NODE_PAIR });
    expect(report.problems).toEqual([]);

    // The stack's client is a new process since the restart: its counters cover the whole time since.
    const client = await appStats(workload(shared.stack, 'client'));
    expect(client?.requests?.failures).toBe(0);
    expect(client?.requests?.successes).toBeGreaterThan(50);

    // The host's client rode out the outage by retrying, and never failed.
    const host = hostClient.stats();
    expect(host.requests.failures, JSON.stringify(host.requests)).toBe(0);
    expect(host.requests.retries).toBeGreaterThan(0);
    expect(host.requests.retriedSuccesses).toBeGreaterThan(0);
    expect(host.requests.successes).toBeGreaterThan(hostSuccessesBefore + 50);
    process.stderr.write(`[engine restart] host client ${JSON.stringify(host.requests)}; stack client ${JSON.stringify(client?.requests)}\n`);
  });
});
