/** The suite's handle on the local cluster: its layout and kubectl as its administrator. */
import { inject } from 'vitest';

import { kubectl, kubectlOk, type KubectlResult } from '../../../scripts/lib/kubernetes/kubectl.js';
import { clusterLayout } from '../../../scripts/lib/kubernetes/layout.js';
import { cachePaths } from '../../../scripts/lib/toolchain/cache.js';

export const layout = clusterLayout(cachePaths());

export const run = (args: readonly string[], input?: string): Promise<KubectlResult> => kubectl(layout, args, { input, timeout: '120s' });
export const runOk = (args: readonly string[], input?: string): Promise<string> => kubectlOk(layout, args, { input, timeout: '120s' });

export async function apply(...objects: readonly object[]): Promise<void> {
  await runOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

export async function podReady(name: string): Promise<void> {
  await runOk(['wait', '--namespace', inject('k8s').namespace, '--for=condition=Ready', `pod/${name}`, '--timeout=90s']);
}

/** `kubectl exec` in the pod's app container; the result, not an exception, so refusals can be asserted. */
export const exec = (pod: string, command: readonly string[]): Promise<KubectlResult> =>
  run(['exec', '--namespace', inject('k8s').namespace, pod, '-c', 'app', '--', ...command]);
