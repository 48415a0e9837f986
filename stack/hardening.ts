import type { ContainerConfig } from '@cdktf/provider-docker/lib/container/index.js';

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
    tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m' },
    restart: 'unless-stopped',
    memory: opts.memoryMb,
    // Equal to memory: no swap, and Docker's default (2x) would show as drift on every plan.
    memorySwap: opts.memoryMb,
    // Docker's init (tini) reaps zombies and forwards SIGTERM to the process.
    init: opts.init ?? true,
    logOpts: { 'max-size': '10m', 'max-file': '3' },
  };
}
