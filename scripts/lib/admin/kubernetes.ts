/**
 * The admin channel's Kubernetes side beyond `exec` (channel.ts): what the
 * scripts ask of a container on Docker with `docker inspect`, `docker logs`
 * and a throwaway container, asked of the Kubernetes API with kubectl. A
 * container is named by its handle (`k8s:<namespace>/<owner>/<container>`);
 * the pod is the owner's newest one that is not being deleted.
 */
import { spawn } from 'node:child_process';

import { $ } from 'zx';

import { PROJECT } from '../../../common/facts.js';
import { UserError } from '../cli/ui.js';
import { clusterFor, currentCluster, type ExecTarget, type KubectlAccess, kubectlArgv, parseHandle } from './channel.js';
import type { ContainerState } from './container-state.js';

type KubernetesTarget = Extract<ExecTarget, { kind: 'kubernetes' }>;

/** The field manager of what the operator's commands write (the stack's engine has its own). */
const FIELD_MANAGER = 'mtls-operator';

const run = (access: KubectlAccess, args: readonly string[]) => {
  const [bin = '', ...rest] = kubectlArgv(access, args);
  return $({ quiet: true, nothrow: true, timeout: '60s' })`${bin} ${rest}`;
};

async function runOk(access: KubectlAccess, args: readonly string[]): Promise<string> {
  const out = await run(access, args);
  if (out.exitCode !== 0) throw new UserError(`kubectl ${args.slice(0, 3).join(' ')} … failed (exit ${out.exitCode}): ${out.stderr.trim()}`);
  return out.stdout;
}

function target(handle: string): { target: KubernetesTarget; access: KubectlAccess } {
  const t = parseHandle(handle);
  if (t.kind !== 'kubernetes') throw new Error(`${handle} is not a Kubernetes handle`);
  return { target: t, access: clusterFor(handle, currentCluster()) };
}

interface ContainerStatusJson {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { running?: object; waiting?: { reason?: string }; terminated?: { exitCode?: number; reason?: string } };
}
interface ContainerSpecJson {
  name: string;
  /** A native sidecar's: Always. */
  restartPolicy?: string;
  readinessProbe?: { exec?: { command?: string[] }; timeoutSeconds?: number };
}
export interface PodJson {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec: { containers: ContainerSpecJson[]; initContainers?: ContainerSpecJson[]; restartPolicy?: string };
  status?: { phase?: string; containerStatuses?: ContainerStatusJson[]; initContainerStatuses?: ContainerStatusJson[] };
}

/** The owner's newest pod that is not being deleted (a Deployment of one replica has one, but a rollout briefly has two). */
export function currentPod(pods: readonly PodJson[]): PodJson | undefined {
  return pods
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => Date.parse(b.metadata.creationTimestamp ?? '') - Date.parse(a.metadata.creationTimestamp ?? ''))[0];
}

/**
 * A pod's container as the readiness code reads a Docker container: running,
 * waiting (with the kubelet's reason) or exited; its restarts; Ready as
 * `healthy`; its readiness probe as the health test, so the same code runs
 * the same check through `kubectl exec`. A native sidecar is an init
 * container with restartPolicy Always: looked up there too.
 */
export function containerStateOf(pod: PodJson, container: string): ContainerState | undefined {
  const spec = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === container);
  if (!spec) return undefined;
  const status = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((c) => c.name === container);
  const s = status?.state;
  const command = spec.readinessProbe?.exec?.command;
  // A container the kubelet starts again once it ends is restarting, as Docker says of one with a restart policy.
  const restarts = (spec.restartPolicy ?? pod.spec.restartPolicy ?? 'Always') === 'Always';
  const waiting = `waiting${s?.waiting?.reason ? ` (${s.waiting.reason})` : ` (pod ${pod.status?.phase ?? 'Pending'})`}`;
  return {
    status: s?.running ? 'running' : s?.terminated ? (restarts ? 'restarting' : 'exited') : waiting,
    exitCode: s?.terminated?.exitCode ?? 0,
    restartCount: status?.restartCount ?? 0,
    ...(command ? { health: status?.ready ? 'healthy' : 'starting', healthTest: ['CMD', ...command] } : {}),
    healthTimeoutMs: (spec.readinessProbe?.timeoutSeconds ?? 0) * 1000,
  };
}

/** The pods of a handle's owner (a Deployment or a Job), by the owner's own selector. */
async function podsOf(t: KubernetesTarget, access: KubectlAccess): Promise<PodJson[] | undefined> {
  const owner = await run(access, ['get', '-n', t.namespace, `${t.owner.kind}/${t.owner.name}`, '-o', 'jsonpath={.spec.selector.matchLabels}']);
  if (owner.exitCode !== 0) return undefined;
  const labels = JSON.parse(owner.stdout || '{}') as Record<string, string>;
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (!selector) return undefined;
  const out = await run(access, ['get', 'pods', '-n', t.namespace, '--selector', selector, '-o', 'json']);
  return out.exitCode === 0 ? (JSON.parse(out.stdout) as { items: PodJson[] }).items : undefined;
}

/** What the API says about a handle's container now (undefined: no such owner, pod or container). */
export async function kubernetesContainerState(handle: string): Promise<ContainerState | undefined> {
  const { target: t, access } = target(handle);
  const pod = currentPod((await podsOf(t, access)) ?? []);
  return pod ? containerStateOf(pod, t.container) : undefined;
}

/** The container's log in the owner's current pod; `since` is an RFC 3339 time, as for `docker logs`. */
export async function kubernetesLogs(handle: string, opts: { since?: string; timestamps?: boolean } = {}): Promise<string> {
  const { target: t, access } = target(handle);
  const flags = [...(opts.since ? [`--since-time=${opts.since}`] : []), ...(opts.timestamps ? ['--timestamps'] : [])];
  const out = await run(access, ['logs', '-n', t.namespace, `${t.owner.kind}/${t.owner.name}`, '-c', t.container, ...flags]);
  return out.stdout + out.stderr;
}

/** The annotation that asks the kubelet to sync a pod now (its value: when it was last written). */
export const REFRESH_ANNOTATION = `io.${PROJECT}/volumes-refreshed-at`;

/**
 * Sets one key of a ConfigMap in the handle's namespace (a merge patch under
 * the operator's field manager, beside the fields the stack's engine owns),
 * then annotates the owner's pods. A pod sees a ConfigMap's change in its
 * mounted volume, without a restart, when the kubelet next syncs it: on its
 * periodic sync (a minute by default), or at once on a change to the pod
 * itself, which the annotation is: every sync of a pod (syncPod) calls the
 * volume manager's WaitForAttachAndMount, which has the pod's volumes set up
 * again (ReprocessPod; Kubernetes v1.37.2 pkg/kubelet/kubelet.go and
 * pkg/kubelet/volumemanager/volume_manager.go).
 */
export async function setConfigMapKey(handle: string, configMap: string, key: string, content: string): Promise<void> {
  const { target: t, access } = target(handle);
  // Configuration, not a secret (the pins are public fingerprints): the patch may be an argument.
  const patch = JSON.stringify({ data: { [key]: content } });
  await runOk(access, ['patch', 'configmap', configMap, '-n', t.namespace, '--type', 'merge', '--field-manager', FIELD_MANAGER, '--patch', patch]);
  const pods = (await podsOf(t, access)) ?? [];
  const live = pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => `pod/${p.metadata.name}`);
  if (live.length === 0) return; // a pod made from now on mounts the new content
  await runOk(access, [
    'annotate',
    '-n',
    t.namespace,
    '--overwrite',
    '--field-manager',
    FIELD_MANAGER,
    ...live,
    `${REFRESH_ANNOTATION}=${new Date().toISOString()}`,
  ]);
}

/** A ConfigMap key's content (undefined: no such ConfigMap or key). */
export async function configMapKey(handle: string, configMap: string, key: string): Promise<string | undefined> {
  const { target: t, access } = target(handle);
  const out = await run(access, ['get', 'configmap', configMap, '-n', t.namespace, '-o', 'json']);
  if (out.exitCode !== 0) return undefined;
  return (JSON.parse(out.stdout) as { data?: Record<string, string> }).data?.[key];
}

const FORWARDING = /Forwarding from 127\.0\.0\.1:(\d+) ->/;

/**
 * Runs `fn` with a loopback port forwarded to a Service's port for its
 * duration (`kubectl port-forward`, bound to 127.0.0.1 only), then closes it.
 */
export async function withPortForward<T>(
  access: KubectlAccess,
  service: { readonly namespace: string; readonly name: string; readonly port: number },
  fn: (localPort: number) => Promise<T>,
): Promise<T> {
  const [bin = '', ...args] = kubectlArgv(access, [
    'port-forward',
    '-n',
    service.namespace,
    '--address',
    '127.0.0.1',
    `service/${service.name}`,
    `:${service.port}`,
  ]);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new UserError(`kubectl port-forward to service/${service.name} did not start in 30 s: ${err.trim()}`)), 30_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = FORWARDING.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.stderr.on('data', (b: Buffer) => void (err += b.toString()));
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new UserError(`kubectl port-forward to service/${service.name} exited (${code}): ${err.trim()}`));
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    return await fn(port);
  } finally {
    child.kill('SIGTERM');
  }
}
