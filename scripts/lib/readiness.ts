/**
 * "Every container of the stack is up": what `deploy` waits for after apply.
 *
 * Terraform only creates and starts the containers (`wait = false`): the
 * provider's wait is Docker's health status, which Docker 20.10 first probes
 * one full interval (5 s) after a container starts, and each waited container
 * holds one of Terraform's parallel slots meanwhile. Here every container is
 * checked at once, and a container with a health check is probed with that
 * same command right away and then every second until it passes — what a
 * start interval does on Docker API 1.44 and later. Docker's own probe keeps
 * running at its interval; `docker ps` can say `starting` for a few seconds
 * after deploy has seen the check pass.
 */
import * as docker from './docker.js';
import type { StackOutputs } from './stack.js';
import { UserError } from './ui.js';

/** How long one container may take to become ready (the provider's old wait timeout). */
export const READY_TIMEOUT_MS = 120_000;
/** The gaps between probes of one container: fast while it starts, then once a second. */
const PROBE_GAPS_MS = [100, 250, 500, 1000];
/** Probes in flight at once (each is a `docker exec`). */
const MAX_PROBES_IN_FLIGHT = 6;

export type Verdict =
  | { readonly kind: 'ready' }
  | { readonly kind: 'probe'; readonly test: readonly string[]; readonly timeoutMs: number }
  | { readonly kind: 'wait'; readonly why: string }
  | { readonly kind: 'failed'; readonly why: string };

/** What to do next about a container, from `docker inspect` alone. */
export function verdict(state: docker.ContainerState | undefined): Verdict {
  if (!state) return { kind: 'failed', why: 'does not exist' };
  if (state.status === 'exited' || state.status === 'dead') return { kind: 'failed', why: `${state.status} with code ${state.exitCode}` };
  if (state.status !== 'running') return { kind: 'wait', why: state.restartCount > 0 ? `${state.status} (restarted ${state.restartCount}×)` : state.status };
  if (state.health === 'healthy') return { kind: 'ready' };
  const test = state.healthTest;
  if (!test || test.length === 0 || test[0] === 'NONE') return { kind: 'ready' };
  const argv = healthArgv(test);
  if (!argv) return { kind: 'failed', why: `health check ${JSON.stringify(test)} is neither CMD nor CMD-SHELL` };
  return { kind: 'probe', test: argv, timeoutMs: state.healthTimeoutMs || 30_000 };
}

/** A Docker health test as the argv `docker exec` runs: CMD a b → a b; CMD-SHELL s → /bin/sh -c s. */
export function healthArgv(test: readonly string[]): string[] | undefined {
  const [form, ...rest] = test;
  if (form === 'CMD' && rest.length > 0) return rest;
  if (form === 'CMD-SHELL' && rest.length === 1) return ['/bin/sh', '-c', rest[0]!];
  return undefined;
}

/** Waits until every container of the stack is ready (the CA, each app and its renewer). */
export async function waitUntilReady(outputs: StackOutputs, timeoutMs = READY_TIMEOUT_MS): Promise<string[]> {
  const names = [outputs.ca_container, ...outputs.workloads.flatMap((w) => [w.container, w.renewer])];
  await waitForContainers(names, `of stack "${outputs.prefix}"`, timeoutMs);
  return names;
}

/** Waits until every named container is ready; one that exits, or is not ready in time, fails the wait with why and its last log lines. */
export async function waitForContainers(names: readonly string[], whose: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const probes = new Semaphore(MAX_PROBES_IN_FLIGHT);
  const results = await Promise.all(names.map((name) => readyOrWhy(name, probes, timeoutMs)));
  const failed = results.filter((r) => r.why !== undefined);
  if (failed.length === 0) return;
  const details = await Promise.all(failed.map(async (f) => `  ${f.name}: ${f.why}\n${indent(lastLines(await docker.logs(f.name), 5))}`));
  throw new UserError(
    `${failed.length} of ${names.length} containers ${whose} are not ready:\n${details.join('\n')}\n` +
      'See `docker logs <container>`; `npm run status` shows the whole stack.',
  );
}

async function readyOrWhy(name: string, probes: Semaphore, timeoutMs: number): Promise<{ name: string; why?: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = 'not checked';
  for (let attempt = 0; ; attempt += 1) {
    const v = verdict(await docker.containerState(name));
    if (v.kind === 'ready') return { name };
    if (v.kind === 'failed') return { name, why: v.why };
    if (v.kind === 'wait') why = v.why;
    if (v.kind === 'probe') {
      const out = await probes.with(() => docker.exec(name, v.test, { timeout: `${v.timeoutMs}ms` }));
      if (out.exitCode === 0) return { name };
      const ended = out.exitCode === null ? `did not finish within ${v.timeoutMs} ms` : `exits ${out.exitCode}`;
      why = `health check \`${v.test.join(' ')}\` ${ended}: ${lastLines(out.stdout + out.stderr, 1) || '(no output)'}`;
    }
    if (Date.now() >= deadline) return { name, why: `not ready after ${Math.round(timeoutMs / 1000)} s; last: ${why}` };
    await new Promise((r) => setTimeout(r, PROBE_GAPS_MS[Math.min(attempt, PROBE_GAPS_MS.length - 1)]));
  }
}

class Semaphore {
  private free: number;
  private readonly queue: Array<() => void> = [];

  constructor(n: number) {
    this.free = n;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((r) => this.queue.push(r));
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

const lastLines = (text: string, n: number) => text.trim().split('\n').slice(-n).join('\n').trim();
const indent = (text: string) => (text ? text.split('\n').map((l) => `    ${l}`).join('\n') : '    (no log output)');
