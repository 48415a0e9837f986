/**
 * The workloads whose containers start, as the engine reports them: Docker's
 * event stream (the start of each of the stack's containers), or a watch on
 * the stack's pods (every change of a pod, its containers' starts among them;
 * the watch begins with the pods there are). One child process, blocked on
 * its stream: nothing is polled.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';

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
