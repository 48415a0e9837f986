// A root rotation whose prepare is interrupted, under continuous traffic, on
// the suite's stack: with one renewer stopped, prepare fails naming its
// workload; once it runs again, activate is still refused, naming it (a
// workload that trusts only the old root could not renew under the new one);
// prepare run again completes the pinning, activate goes through, every
// workload moves onto the new root and retire finishes the rotation, with
// 0 failed calls in every client of the mesh. It leaves the stack on one
// root (a new one), as 21 does.
import { X509Certificate } from 'node:crypto';

import { beforeAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { waitFor } from '../../common/wait.js';
import { servedIntermediate } from '../../scripts/lib/ca-rotation/intermediate.js';
import { type PhaseResult, readRootState } from '../../scripts/lib/ca-rotation/root.js';
import { NEXT_ROOT } from '../../scripts/lib/ca-rotation/root-job.js';
import { servedRoots } from '../../scripts/lib/ca-rotation/root-steps.js';
import { projectDir } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { issuedBy, splitPem } from '../../scripts/lib/identity/pki.js';
import { FILES, type Workload } from '../../scripts/lib/workloads/handles.js';
import { healthNow } from '../../scripts/lib/workloads/readiness.js';
import { bundleInUse } from '../../scripts/lib/workloads/rotation-check.js';
import {
  appStates,
  type CallCounts,
  clientCalls,
  expectNoFailedCalls,
  expectNoRestarts,
  expectOnlyRoot,
  fp,
  retireOnceAllowed,
  rotateCa,
} from './helpers/ca-rotation.js';
import { type ContainerState } from './helpers/containers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { waitForRenewalLog } from './helpers/renewer.js';

const ctx = inject('e2e');
const rotateRoot = (phase: string) => rotateCa<PhaseResult>(ctx.prefix, ['root', phase]);

describe('root rotation after an interrupted prepare', { timeout: 1_200_000 }, () => {
  const shared = useSharedStack();
  let stopped: Workload;
  let oldRoot: string;
  let newRoot: string;
  let before: Map<string, ContainerState>;
  let callsBefore: CallCounts;

  beforeAll(async () => {
    stopped = shared.stack.workloads.find((w) => w.name === 'curl')!;
    expect(stopped, 'the mesh has a curl client').toBeDefined();
    const state = await readRootState(shared.stack);
    expect(state.phase, 'no rotation is under way before this file').toBe('none');
    oldRoot = state.current.pem.trim();
    before = await appStates(shared.stack);
    callsBefore = await clientCalls(shared.stack);
  });

  it('prepare with one renewer stopped fails, naming its workload; nothing is recorded as prepared', async () => {
    // Stopped right after it rekeyed, so the app's certificate outlives the stop.
    await waitForRenewalLog(stopped, new Date().toISOString(), 90_000);
    await docker.stop(stopped.renewer);
    let run: Awaited<ReturnType<typeof rotateRoot>>;
    try {
      run = await rotateRoot('prepare');
    } finally {
      await docker.start(stopped.renewer);
    }
    expect(run.exitCode, run.output).toBe(1);
    expect(run.output).toMatch(
      new RegExp(
        `rotate-ca root prepare is not complete: ${shared.stack.workloads.length - 1} of ${shared.stack.workloads.length} workloads trust both roots; not: curl\\.`,
      ),
    );
    expect(run.output).toContain(`curl: its root.crt cannot be read through ${stopped.renewer} (not running?)`);
    expect(run.output).toContain('run rotate-ca root prepare again');
    expect((await readRootState(shared.stack)).phase).toBe('prepared');
    // A restarted renewer says starting until it has verified its pair, then ready.
    await waitFor('the restarted renewer to be ready', async () => ((await healthNow(stopped.renewer)).phase === 'ready' ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
  });

  it('activate is refused, naming the workload that does not trust the new root; the CA still issues under the old one', async () => {
    const run = await rotateRoot('activate');
    expect(run.exitCode, run.output).toBe(1);
    expect(run.output).toMatch(
      new RegExp(`activate refused: ${shared.stack.workloads.length - 1} of ${shared.stack.workloads.length} workloads trust both roots; not: curl\\.`),
    );
    expect(run.output).toMatch(/curl: its root\.crt lacks [0-9a-f]{12}…/);
    expect(run.output).toContain('run rotate-ca root prepare again (it completes the pinning where it is missing), then activate');
    expect((await readRootState(shared.stack)).phase).toBe('prepared');
    expect(issuedBy(new X509Certificate((await servedIntermediate(ctx.outputs.ca_host_url, oldRoot)).pem), new X509Certificate(oldRoot))).toBe(true);
  });

  it('prepare again completes the pinning; status says every workload trusts both; activate goes through and every workload moves onto the new root', async () => {
    const again = await rotateRoot('prepare');
    expect(again.exitCode, again.output).toBe(0);
    expect(again.result).toMatchObject({ phase: 'prepare', state: 'prepared', oldFingerprint: fp(oldRoot) });
    newRoot = (await docker.execOk(shared.stack.ca.container, ['cat', NEXT_ROOT])).trim();
    expect(fp(newRoot)).toBe(again.result!.newFingerprint);
    expect(splitPem((await docker.readFile(stopped.renewer, FILES.root)) ?? '').map(fp)).toEqual([fp(oldRoot), fp(newRoot)]);
    const status = await $({ cwd: projectDir, nothrow: true, quiet: true })`npx tsx scripts/status.ts --prefix ${ctx.prefix}`;
    expect(status.stdout).toContain(
      `${shared.stack.workloads.length} of ${shared.stack.workloads.length} workloads trust both roots; next: rotate-ca root activate`,
    );

    await waitFor('15 s since prepare completed', async () => ((await rotateRoot('activate')).exitCode === 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 2000,
    });
    const intermediate = await servedIntermediate(ctx.outputs.ca_host_url, newRoot);
    expect(issuedBy(new X509Certificate(intermediate.pem), new X509Certificate(newRoot))).toBe(true);
    // The interrupted workload first: it is the one that would have been cut off.
    for (const w of [stopped, ...shared.stack.workloads.filter((x) => x !== stopped)]) {
      await waitFor(
        `${w.name} on the new root`,
        async () => {
          const used = await bundleInUse(w);
          return used && issuedBy(new X509Certificate(used.leaf), new X509Certificate(intermediate.pem)) ? true : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 1000 },
      );
    }
  });

  it('retire finishes the rotation: one root in every bundle and pin set, and /roots serves the new root alone', async () => {
    // Leaves under the old root (here also those enrolled by earlier files) hold it back until they expire.
    const done = await retireOnceAllowed<PhaseResult>(ctx.prefix, { timeoutMs: 900_000, intervalMs: 10_000 });
    expect(done.result).toMatchObject({ phase: 'retire', state: 'none', newFingerprint: fp(newRoot) });
    await expectOnlyRoot(shared.stack, newRoot);
    expect(await servedRoots(ctx.outputs.ca_host_url, newRoot)).toEqual([fp(newRoot)]);
  });

  it('0 failed calls across the whole sequence in every client of the mesh; no app restarted', async () => {
    await expectNoFailedCalls(shared.stack, callsBefore);
    await expectNoRestarts(shared.stack, before);
  });
});
