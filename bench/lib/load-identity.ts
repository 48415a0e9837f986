import { type HostIdentity, writeHostIdentity } from '../../scripts/lib/identity/host-identity.js';
import type { Stack } from '../../scripts/lib/workloads/handles.js';

export type { HostIdentity };

/**
 * Gets the host a real certificate from the stack's CA (scripts/lib/identity/host-identity.ts:
 * key made here, one-time token minted in the CA container, /1.0/sign) and
 * writes it under `dir` for tools that read files. The files live under
 * bench/tmp (git-ignored) and are removed with it at the end of the run.
 */
export function hostIdentity(
  stack: Stack,
  rootPem: string,
  dir: string,
  opts: { commonName: string; dns?: string[]; uris?: string[]; notAfter?: string },
): Promise<HostIdentity> {
  return writeHostIdentity(stack.ca, stack.outputs.ca_host_url, rootPem, dir, opts);
}
