import { CERT_DIR } from '../../stack/mtls-workload.js';
import * as docker from './docker.js';
import { certInfo, splitPem, type CertInfo } from './pki.js';
import { readOutputs, type StackOutputs, type WorkloadOutput } from './stack.js';
import type { CaRef } from './step.js';
import { UserError } from './ui.js';

export const FILES = {
  root: `${CERT_DIR}/root.crt`,
  cert: `${CERT_DIR}/site.crt`,
  key: `${CERT_DIR}/site.key`,
} as const;

export interface Workload extends WorkloadOutput {
  /** SANs requested at enrollment: the DNS name, and the URI when there is one. */
  readonly sans: string[];
}

export interface Stack {
  readonly prefix: string;
  readonly outputs: StackOutputs;
  readonly ca: CaRef;
  readonly workloads: Workload[];
}

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

/** What the app process reports about itself on its loopback admin port. */
export interface AppStats {
  readonly role: 'server' | 'client';
  readonly state?: string;
  readonly credentials?: { state: string; serial?: string; notBefore?: string; notAfter?: string; reloads?: number; failedReloads?: number; lastReloadAt?: string | null };
  readonly requests?: { successes?: number; failures?: number; consecutiveFailures?: number; failuresByReason?: Record<string, number>; total?: number; byStatus?: Record<string, number> };
  readonly serverSerials?: string[];
  readonly [k: string]: unknown;
}

export async function appStats(w: Workload): Promise<AppStats | undefined> {
  const out = await docker.exec(w.container, ['node', '/app/probe.mjs', 'get', '/stats'], { timeout: '15s' });
  if (out.exitCode !== 0) return undefined;
  try {
    return JSON.parse(out.stdout) as AppStats;
  } catch {
    return undefined;
  }
}
