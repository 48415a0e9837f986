import type { ContainerConfig } from '@cdktf/provider-docker/lib/container/index.js';

import { type ContainerPlan, type PlanVolume, SCRATCH_TMPFS } from './workload-plan.js';

/**
 * Settings every container of the stack gets: no root, no capabilities, no
 * privilege escalation, an immutable root filesystem with a small tmpfs for
 * scratch space, a restart policy and bounded memory.
 */
export const UNPRIVILEGED_USER = '1000:1000';

export function hardenedContainer(opts: { memoryMb: number; init?: boolean }): Partial<ContainerConfig> {
  return {
    user: UNPRIVILEGED_USER,
    capabilities: { drop: ['ALL'] },
    securityOpts: ['no-new-privileges:true'],
    readOnly: true,
    tmpfs: { ...SCRATCH_TMPFS },
    restart: 'unless-stopped',
    memory: opts.memoryMb,
    // Equal to memory: no swap, and Docker's default (2x) would show as drift on every plan.
    memorySwap: opts.memoryMb,
    // Docker's init (tini) reaps zombies and forwards SIGTERM to the process.
    init: opts.init ?? true,
    logOpts: { 'max-size': '10m', 'max-file': '3' },
  };
}

/** A plan's tmpfs, environment and volumes as the docker provider takes them. */
export function dockerFiles(
  plan: ContainerPlan,
  volumeNames: Partial<Record<PlanVolume, string>>,
): { tmpfs: Record<string, string>; env: string[]; volumes: Array<{ volumeName: string; containerPath: string; readOnly?: boolean }> } {
  return {
    tmpfs: { ...plan.tmpfs },
    env: Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
    volumes: plan.mounts.map((m) => ({ volumeName: volumeNames[m.volume]!, containerPath: m.path, ...(m.readOnly ? { readOnly: true } : {}) })),
  };
}
