import path from 'node:path';

import { beforeAll, inject } from 'vitest';
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

/** What every e2e file starts from: the suite's stack, the root the host pinned, and the host's operator credential. */
export interface SharedStack {
  readonly stack: Stack;
  readonly rootPem: string;
  /** Only when `useSharedStack` was given `operator`. */
  readonly operator: IssuedCredential;
}

/**
 * Registers a `beforeAll` that loads the suite's stack and the pinned root,
 * and with `operator` (a lifetime, e.g. '5m') enrolls the host's operator
 * identity at the real CA. The returned object is filled in by that hook:
 * read it in later hooks and in tests. Call it before the file's own
 * `beforeAll`, which then runs after it.
 */
export function useSharedStack(options: { readonly operator?: string } = {}): SharedStack {
  const ctx = inject('e2e');
  const shared = {} as { stack: Stack; rootPem: string; operator: IssuedCredential };
  beforeAll(async () => {
    shared.stack = await loadStack(ctx.prefix);
    shared.rootPem = await rootPemOf(ctx);
    if (options.operator) shared.operator = await operatorCredential(ctx, options.operator);
  });
  return shared;
}

export function workload(stack: Stack, name: string): Workload {
  const w = stack.workloads.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w;
}
