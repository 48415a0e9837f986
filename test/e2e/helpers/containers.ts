import { $ } from 'zx';

import type { StackOutputs } from '../../../scripts/lib/deploy/stack-instance.js';

const docker = $({ quiet: true, nothrow: true, timeout: '30s' });

export interface ContainerState {
  readonly restartCount: number;
  readonly startedAt: string;
  readonly running: boolean;
  readonly restartPolicy: string;
}

/** What Docker knows about a container's life: restarts, last start, policy. */
export async function containerState(name: string): Promise<ContainerState> {
  const format = '{{.RestartCount}}|{{.State.StartedAt}}|{{.State.Running}}|{{.HostConfig.RestartPolicy.Name}}';
  const out = await docker`docker inspect --format ${format} ${name}`;
  if (out.exitCode !== 0) throw new Error(`docker inspect ${name} failed: ${out.stderr.trim()}`);
  const [restartCount, startedAt, running, restartPolicy] = out.stdout.trim().split('|');
  return { restartCount: Number(restartCount), startedAt: startedAt ?? '', running: running === 'true', restartPolicy: restartPolicy ?? '' };
}

/**
 * The stack's long-running containers, from its outputs: the CA and each
 * workload's app and renewer. The CA's one-shot init step is not among them.
 */
export function servingContainers(outputs: StackOutputs): string[] {
  return [outputs.ca_container, ...outputs.workloads.flatMap((w) => [w.container, w.renewer])];
}

/** The Node reference pair: the files that test the reference services watch only these two. */
export const NODE_PAIR = ['server', 'client'] as const;
