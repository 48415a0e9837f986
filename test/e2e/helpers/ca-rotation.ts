/**
 * What the CA rotation files (19, 21, 24) share: running `rotate-ca` as an
 * operator does, and checking the mesh afterwards (the roots every workload
 * trusts, its clients' calls, its apps' restarts).
 */
import { X509Certificate } from 'node:crypto';

import { expect } from 'vitest';

import { ROOT_PIN_FILE } from '../../../common/facts.js';
import { waitFor } from '../../../common/wait.js';
import * as docker from '../../../scripts/lib/docker/commands.js';
import { fingerprintOf, splitPem } from '../../../scripts/lib/identity/pki.js';
import { appReport } from '../../../scripts/lib/workloads/app-report.js';
import { FILES, type Stack } from '../../../scripts/lib/workloads/handles.js';
import { type ContainerState, containerState } from './containers.js';
import { operatorScript } from './scripts.js';

export const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));

export interface RotateCaRun<T> {
  readonly exitCode: number | null;
  readonly output: string;
  /** The parsed `--json` result, when it succeeded. */
  readonly result?: T;
  readonly ms: number;
}

/** Runs `rotate-ca <args> --prefix <prefix> --json` as an operator would (CI=true: no spinners). */
export async function rotateCa<T>(prefix: string, args: readonly string[]): Promise<RotateCaRun<T>> {
  const started = Date.now();
  const out = await operatorScript`npx tsx scripts/rotate-ca.ts ${args} --prefix ${prefix} --json`;
  return {
    exitCode: out.exitCode,
    output: out.stdout + out.stderr,
    result: out.exitCode === 0 ? (JSON.parse(out.stdout) as T) : undefined,
    ms: Date.now() - started,
  };
}

/** `rotate-ca root retire`, tried every `intervalMs` until it goes through: leaves under the old root hold it back until they expire. */
export async function retireOnceAllowed<T>(prefix: string, opts: { readonly timeoutMs: number; readonly intervalMs: number }): Promise<RotateCaRun<T>> {
  return waitFor(
    'retire to go through once no old-root leaf is valid',
    async () => {
      const run = await rotateCa<T>(prefix, ['root', 'retire']);
      return run.exitCode === 0 ? run : undefined;
    },
    opts,
  );
}

/** Every workload's bundle holds `rootPem` alone, and its app pins that root alone. */
export async function expectOnlyRoot(stack: Stack, rootPem: string): Promise<void> {
  expect(stack.workloads.length).toBeGreaterThan(0);
  for (const w of stack.workloads) {
    expect(splitPem((await docker.readFile(w.renewer, FILES.root)) ?? '').map(fp), w.name).toEqual([fp(rootPem)]);
    expect((await docker.readFile(w.container, ROOT_PIN_FILE))?.match(/^[0-9a-f]{64}$/gm), w.name).toEqual([fp(rootPem)]);
  }
}

export type CallCounts = Map<string, { ok: number; failed: number }>;

/** The calls each client of the mesh has counted so far. */
export async function clientCalls(stack: Stack): Promise<CallCounts> {
  const clients = stack.workloads.filter((w) => w.role === 'client');
  return new Map(
    await Promise.all(
      clients.map(async (w) => {
        const r = (await appReport(w))?.requests ?? {};
        return [w.name, { ok: r.ok ?? 0, failed: r.failed ?? 0 }] as const;
      }),
    ),
  );
}

/** Since `start`: no failed call in any client of the mesh (the error and its log lines named if there is one), and more than 20 good ones each. */
export async function expectNoFailedCalls(stack: Stack, start: CallCounts): Promise<void> {
  const now = await clientCalls(stack);
  expect(now.size, 'the mesh has clients').toBeGreaterThan(0);
  for (const [name, r] of now) {
    const failed = r.failed - start.get(name)!.failed;
    const w = stack.workloads.find((x) => x.name === name)!;
    const why = failed
      ? `${(await appReport(w))?.lastError ?? 'none'}\n${(await docker.logs(w.container))
          .split('\n')
          .filter((l) => /fail|error|refus/i.test(l))
          .slice(-4)
          .join('\n')}`
      : '';
    expect({ name, failed }, `${name}: last error ${why}`).toEqual({ name, failed: 0 });
    expect(r.ok - start.get(name)!.ok, name).toBeGreaterThan(20);
  }
}

/** Each app container's restart count and start time. */
export async function appStates(stack: Stack): Promise<Map<string, ContainerState>> {
  return new Map(await Promise.all(stack.workloads.map(async (w) => [w.container, await containerState(w.container)] as const)));
}

/** No app container restarted since `before`. */
export async function expectNoRestarts(stack: Stack, before: Map<string, ContainerState>): Promise<void> {
  for (const w of stack.workloads) {
    const now = await containerState(w.container);
    expect({ restarts: now.restartCount, startedAt: now.startedAt }, w.container).toEqual({
      restarts: before.get(w.container)!.restartCount,
      startedAt: before.get(w.container)!.startedAt,
    });
  }
}
