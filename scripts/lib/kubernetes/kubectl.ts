/** kubectl against the local cluster, as its administrator: one typed function per verb the scripts and tests use. */
import path from 'node:path';

import { $, type Duration } from 'zx';

import type { ClusterLayout } from './layout.js';

export interface KubectlResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl with the admin kubeconfig; `input` is written to its stdin (manifests). */
export async function kubectl(layout: ClusterLayout, args: readonly string[], opts: { input?: string; timeout?: Duration } = {}): Promise<KubectlResult> {
  const bin = path.join(layout.kubernetesBin, 'kubectl');
  const p = $({ quiet: true, nothrow: true, timeout: opts.timeout ?? '60s', input: opts.input })`${bin} --kubeconfig ${layout.adminKubeconfig} ${args}`;
  const out = await p;
  return { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr };
}

/** kubectl that must succeed; its stderr is the error. */
export async function kubectlOk(layout: ClusterLayout, args: readonly string[], opts: { input?: string; timeout?: Duration } = {}): Promise<string> {
  const out = await kubectl(layout, args, opts);
  if (out.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${out.stderr.trim()}`);
  return out.stdout;
}

export async function kubectlJson<T>(layout: ClusterLayout, args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectlOk(layout, [...args, '-o', 'json'])) as T;
}

interface NodeJson {
  metadata: { name: string };
  status: { conditions?: { type: string; status: string; message?: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
}

export interface NodeState {
  readonly name: string;
  readonly ready: boolean;
  readonly kubeletVersion: string;
  readonly containerRuntime: string;
  readonly message: string;
}

export async function nodes(layout: ClusterLayout): Promise<NodeState[]> {
  const list = await kubectlJson<{ items: NodeJson[] }>(layout, ['get', 'nodes']);
  return list.items.map((n) => {
    const ready = n.status.conditions?.find((c) => c.type === 'Ready');
    return {
      name: n.metadata.name,
      ready: ready?.status === 'True',
      kubeletVersion: n.status.nodeInfo.kubeletVersion,
      containerRuntime: n.status.nodeInfo.containerRuntimeVersion,
      message: ready?.message ?? '',
    };
  });
}
