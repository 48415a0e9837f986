import { CERT_DIR, CERT_FILES } from '../../../common/facts.js';
import type { CaRef } from '../ca/step.js';
import { UserError } from '../cli/ui.js';
import { readOutputs } from '../deploy/stack-instance.js';
import type { StackOutputs, Workload } from '../deploy/stack-outputs.js';
import * as docker from '../docker/commands.js';
import { type CertInfo, certInfo, splitPem } from '../identity/pki.js';

export const FILES = {
  root: `${CERT_DIR}/${CERT_FILES.root}`,
  cert: `${CERT_DIR}/${CERT_FILES.cert}`,
  key: `${CERT_DIR}/${CERT_FILES.key}`,
} as const;

export type { Workload };

export interface Stack {
  readonly prefix: string;
  readonly outputs: StackOutputs;
  readonly ca: CaRef;
  readonly workloads: Workload[];
}

/** Reads a stack's outputs (for a stack on Kubernetes, readOutputs points the admin channel at its cluster). */
export async function loadStack(prefix: string): Promise<Stack> {
  const outputs = await readOutputs(prefix);
  return {
    prefix,
    outputs,
    ca: { container: outputs.ca_container, provisioner: outputs.provisioner },
    workloads: outputs.workloads.map((w) => ({ ...w, sans: [w.dns_name, ...(w.uri ? [w.uri] : [])] })),
  };
}

/** Workloads by name; all when `names` is empty; an unknown name is an error. */
export function selectWorkloads(stack: Stack, names: readonly string[]): Workload[] {
  if (names.length === 0) return stack.workloads;
  const known = new Map(stack.workloads.map((w) => [w.name, w]));
  return names.map((n) => {
    const w = known.get(n);
    if (!w) throw new UserError(`no workload "${n}" in stack "${stack.prefix}"; it has: ${[...known.keys()].join(', ')}`);
    return w;
  });
}

/** The certificate on disk in the workload's volume, read through its renewer. */
export async function certOnDisk(w: Workload): Promise<CertInfo | undefined> {
  const pem = await docker.readFile(w.renewer, FILES.cert);
  const leaf = pem ? splitPem(pem)[0] : undefined;
  if (!leaf) return undefined;
  try {
    return certInfo(leaf);
  } catch {
    return undefined; // half-written: the caller polls again
  }
}

/** The Node services' admin /stats (either role); appReport (app-report.ts) reads every technology. */
export { type AppStats, nodeStats as appStats } from './app-report.js';
