import path from 'node:path';
import { fs } from 'zx';
import { loadStack, type Stack, type Workload } from '../../../scripts/lib/workloads/handles.js';
import type { E2eContext } from './context.js';
import { enrollHostIdentity, type IssuedCredential } from './operator.js';

export async function rootPemOf(ctx: E2eContext): Promise<string> {
  return fs.readFile(path.join(ctx.hostStepPath, 'certs', 'root_ca.crt'), 'utf8');
}

/** The host's own operator identity (on the server's allow-list), from the real CA. */
export async function operatorCredential(ctx: E2eContext, lifetime = '10m'): Promise<IssuedCredential> {
  const stack = await loadStack(ctx.prefix);
  return enrollHostIdentity(stack.ca, ctx.outputs.ca_host_url, await rootPemOf(ctx), {
    commonName: 'operator.mesh.internal',
    uris: [ctx.operatorUri],
    notAfter: lifetime,
  });
}

export function workload(stack: Stack, name: string): Workload {
  const w = stack.workloads.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w;
}
