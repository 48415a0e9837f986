/**
 * Whether containers are up, and whether they are ready to serve.
 *
 * Every health command of the stack prints one line in one vocabulary: exit 0
 * is `ready:` (serving or calling with valid credentials); otherwise the line
 * starts with `waiting:` (up and fine, waiting for an operator step: the root
 * pin or enrollment), `starting:` (still coming up by itself, e.g. initdb) or
 * anything else (unhealthy). `deploy` waits until every container is at least
 * waiting ("up"); enrollment waits until every container is ready.
 *
 * Terraform only creates and starts the containers (`wait = false`). Docker
 * probes at its own, long interval (the checks are cheap but not free), so
 * here each container's own health command is run at once with `docker exec`
 * and then again after short gaps, up to once a second, until it passes.
 */
import { Semaphore } from '../../../common/semaphore.js';
import { waitFor } from '../../../common/wait.js';
import { UserError } from '../cli/ui.js';
import type { StackOutputs } from '../deploy/stack-outputs.js';
import * as docker from '../docker/commands.js';

/** How long one container may take to become ready (the provider's old wait timeout). */
export const READY_TIMEOUT_MS = 120_000;
/** The gaps between probes of one container: fast while it starts, then once a second. */
const PROBE_GAPS_MS = [100, 250, 500, 1000];
/** Probes in flight at once (each is a `docker exec`). */
export const MAX_PROBES_IN_FLIGHT = 6;

export type Verdict =
  | { readonly kind: 'ready' }
  | { readonly kind: 'probe'; readonly test: readonly string[]; readonly timeoutMs: number }
  | { readonly kind: 'wait'; readonly why: string }
  | { readonly kind: 'failed'; readonly why: string };

/**
 * What to do next about a container, from `docker inspect` alone. Docker's
 * `healthy` counts as ready unless `trustDocker` is false (its last probe
 * may be an interval old).
 */
export function verdict(state: docker.ContainerState | undefined, opts: { trustDocker?: boolean } = {}): Verdict {
  if (!state) return { kind: 'failed', why: 'does not exist' };
  if (state.status === 'exited' || state.status === 'dead') return { kind: 'failed', why: `${state.status} with code ${state.exitCode}` };
  if (state.status !== 'running') return { kind: 'wait', why: state.restartCount > 0 ? `${state.status} (restarted ${state.restartCount}×)` : state.status };
  if (state.health === 'healthy' && opts.trustDocker !== false) return { kind: 'ready' };
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

/** What a health command's answer says: the shared vocabulary of every check in the stack. */
export type Phase = 'ready' | 'waiting' | 'starting' | 'unhealthy';

/** The phase of one health command's run: exit 0 is ready; otherwise the first word of its last line. */
export function phaseOf(exitCode: number | null, output: string): Phase {
  if (exitCode === 0) return 'ready';
  const line = lastLines(output, 1);
  if (line.startsWith('waiting:')) return 'waiting';
  if (line.startsWith('starting:')) return 'starting';
  return 'unhealthy';
}

/** What a wait accepts: `up` (ready, or waiting for an operator step) or `ready` only. */
export type Want = 'up' | 'ready';
const accepts = (want: Want, phase: Phase) => phase === 'ready' || (want === 'up' && phase === 'waiting');

/** One container's health now, from its own health command (not Docker's last, possibly old, probe). */
export async function healthNow(name: string): Promise<{ phase: Phase | 'no check'; line: string } | { phase: 'failed' | 'not running'; line: string }> {
  const v = verdict(await docker.containerState(name), { trustDocker: false });
  if (v.kind === 'failed') return { phase: 'failed', line: v.why };
  if (v.kind === 'wait') return { phase: 'not running', line: v.why };
  if (v.kind === 'ready') return { phase: 'no check', line: 'running (no health check)' };
  const out = await docker.exec(name, v.test, { timeout: `${v.timeoutMs}ms` });
  const line = out.exitCode === null ? `unhealthy: the check did not finish within ${v.timeoutMs} ms` : lastLines(out.stdout + out.stderr, 1) || '(no output)';
  return { phase: phaseOf(out.exitCode, line), line };
}

/**
 * Docker's words for `healthNow`: healthy (ready, or running without a
 * check), starting (waiting or starting), unhealthy; else the container's
 * state (exited, missing, …).
 */
export async function health(name: string): Promise<string> {
  return (await healthWithDetail(name)).health;
}

/** `health`, with the line that explains it: the check's last output line, or why it could not run. */
export async function healthWithDetail(name: string): Promise<{ health: string; detail: string }> {
  const h = await healthNow(name);
  if (h.phase === 'ready' || h.phase === 'no check') return { health: 'healthy', detail: h.line };
  if (h.phase === 'waiting' || h.phase === 'starting') return { health: 'starting', detail: h.line };
  if (h.phase === 'unhealthy') return { health: 'unhealthy', detail: h.line };
  return { health: (await docker.containerState(name))?.status ?? 'missing', detail: h.line };
}

/** Every container of the stack: the CA, each app and its renewer. */
export const stackContainers = (outputs: StackOutputs): string[] => [outputs.ca_container, ...outputs.workloads.flatMap((w) => [w.container, w.renewer])];

/** Waits until every container of the stack is up (ready, or waiting for enrollment): what deploy promises. */
export async function waitUntilUp(outputs: StackOutputs, timeoutMs = READY_TIMEOUT_MS): Promise<string[]> {
  const names = stackContainers(outputs);
  await waitForContainers(names, `of stack "${outputs.prefix}"`, { want: 'up', timeoutMs });
  return names;
}

/** Waits until every container of the stack is ready to serve: what enrollment promises. */
export async function waitUntilReady(outputs: StackOutputs, timeoutMs = READY_TIMEOUT_MS): Promise<string[]> {
  const names = stackContainers(outputs);
  await waitForContainers(names, `of stack "${outputs.prefix}"`, { want: 'ready', timeoutMs });
  return names;
}

/** Waits until each workload's app and renewer are ready: what enrollment promises. */
export async function waitForWorkloads(
  workloads: ReadonlyArray<{ readonly container: string; readonly renewer: string }>,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  await waitForContainers(
    workloads.flatMap((w) => [w.container, w.renewer]),
    'just enrolled',
    { want: 'ready', timeoutMs },
  );
}

/** Waits until every named container is up or ready; one that exits, or does not get there in time, fails the wait with why and its last log lines. */
export async function waitForContainers(names: readonly string[], whose: string, opts: { want?: Want; timeoutMs?: number } = {}): Promise<void> {
  const want = opts.want ?? 'ready';
  const probes = new Semaphore(MAX_PROBES_IN_FLIGHT);
  const results = await Promise.all(names.map((name) => untilOrWhy(name, want, probes, opts.timeoutMs ?? READY_TIMEOUT_MS)));
  const failed = results.filter((r) => r.why !== undefined);
  if (failed.length === 0) return;
  const details = await Promise.all(failed.map(async (f) => `  ${f.name}: ${f.why}\n${indent(lastLines(await docker.logs(f.name), 5))}`));
  throw new UserError(
    `${failed.length} of ${names.length} containers ${whose} are not ${want}:\n${details.join('\n')}\n` +
      'See `docker logs <container>`; `npm run status` shows the whole stack.',
  );
}

/** Polls one container until it is `want` (why undefined) or has failed for good (why says how). */
async function untilOrWhy(name: string, want: Want, probes: Semaphore, timeoutMs: number): Promise<{ name: string; why?: string }> {
  let why = 'not checked';
  const outcome = await waitFor(
    `${name} to be ${want}`,
    async () => {
      const v = verdict(await docker.containerState(name));
      if (v.kind === 'ready') return { name };
      if (v.kind === 'failed') return { name, why: v.why };
      if (v.kind === 'wait') why = v.why;
      if (v.kind === 'probe') {
        const out = await probes.with(() => docker.exec(name, v.test, { timeout: `${v.timeoutMs}ms` }));
        const line = lastLines(out.stdout + out.stderr, 1) || '(no output)';
        if (accepts(want, phaseOf(out.exitCode, line))) return { name };
        const ended = out.exitCode === null ? `did not finish within ${v.timeoutMs} ms` : `exits ${out.exitCode}`;
        why = `health check \`${v.test.join(' ')}\` ${ended}: ${line}`;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: PROBE_GAPS_MS },
  ).catch(() => undefined);
  return outcome ?? { name, why: `not ${want} after ${Math.round(timeoutMs / 1000)} s; last: ${why}` };
}

const lastLines = (text: string, n: number) => text.trim().split('\n').slice(-n).join('\n').trim();
const indent = (text: string) =>
  text
    ? text
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')
    : '    (no log output)';
