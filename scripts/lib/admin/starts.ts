/**
 * The workloads whose containers start, as the engine reports them: Docker's
 * event stream (the start of each of the stack's containers), or a watch on
 * the stack's pods (every change of a pod, its containers' starts among them;
 * the watch begins with the pods there are). One child process, blocked on
 * its stream: nothing is polled.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import { LABEL } from '../../../common/facts.js';
import type { StackOutputs } from '../deploy/stack-outputs.js';
import { clusterFor, currentCluster, kubectlArgv } from './channel.js';

/** A label key as a kubectl JSONPath segment (its dots escaped). */
const jsonPathKey = (key: string) => key.replace(/\./g, '\\.');

/** The command whose output is one line per start (or pod change), naming the workload ('' for the CA's own). */
export function startsArgv(outputs: StackOutputs): string[] {
  const selector = `${LABEL.prefix}=${outputs.prefix}`;
  if (outputs.cluster) {
    const access = clusterFor(`stack "${outputs.prefix}"`, currentCluster());
    const line = `jsonpath={.metadata.labels.${jsonPathKey(LABEL.workload)}}{"\\n"}`;
    return kubectlArgv(access, ['get', 'pods', '--namespace', outputs.prefix, '--selector', selector, '--watch', '--output', line]);
  }
  const format = `{{index .Actor.Attributes "${LABEL.workload}"}}`;
  return ['docker', 'events', '--filter', `label=${selector}`, '--filter', 'event=start', '--format', format];
}

/**
 * Yields the name of each workload of the stack whose container or pod starts
 * or changes, until `signal` aborts (then it returns). A stream that ends on
 * its own (the engine or the API went away) is an error, with what it said.
 */
export async function* workloadStarts(outputs: StackOutputs, signal: AbortSignal): AsyncGenerator<string> {
  const [bin = '', ...args] = startsArgv(outputs);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-2000)));
  const stop = () => child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    for await (const line of readline.createInterface({ input: child.stdout })) {
      const name = line.trim();
      if (name) yield name;
    }
    const code = await exited;
    if (!signal.aborted) throw new Error(`${bin} ${args.slice(0, 3).join(' ')} … ended (exit ${code}): ${stderr.trim() || 'no output'}`);
  } finally {
    signal.removeEventListener('abort', stop);
    stop();
  }
}

/** Pauses before a stream that ended is opened again: the first, and the most it doubles to while the stream keeps failing. */
export const REOPEN_PAUSES_MS = { first: 1000, max: 30_000 } as const;

/**
 * Calls `onStart` for each start until `signal` aborts. A stream that ends on
 * its own is opened again: the API server closes every watch after its
 * request timeout (30-60 min by default), and Docker's stream ends with the
 * engine. `onGap` says why, so that the caller can look again at what the gap
 * may have hidden. The pause before reopening doubles while the stream keeps
 * failing at once, and starts over once it has delivered a line.
 */
export async function followStarts(
  outputs: StackOutputs,
  signal: AbortSignal,
  on: { readonly start: (workload: string) => void; readonly gap: (why: Error) => void },
  pauses: { readonly first: number; readonly max: number } = REOPEN_PAUSES_MS,
): Promise<void> {
  let pause = pauses.first;
  while (!signal.aborted) {
    try {
      for await (const name of workloadStarts(outputs, signal)) {
        pause = pauses.first;
        on.start(name);
      }
    } catch (err) {
      if (!signal.aborted) on.gap(err as Error);
    }
    await sleep(pause, undefined, { signal }).catch(() => undefined);
    pause = Math.min(pause * 2, pauses.max);
  }
}
