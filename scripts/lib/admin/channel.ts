/**
 * The admin channel: how the scripts run a command inside one of the stack's
 * containers, on either target. A stack's outputs name each container by a
 * handle; the handle says which API carries the command:
 *
 * - Docker: the container's name, run with `docker exec`;
 * - Kubernetes: `k8s:<namespace>/<owner>/<container>`, run with `kubectl exec`
 *   in a pod of `<owner>` (`deployment/<name>` or `job/<name>`), container
 *   `<container>`.
 *
 * Both carry stdin, so a secret travels there and never in an argv; both
 * return the command's own exit code. Nothing here runs a process: it
 * builds the argv the caller runs.
 */
import { formatKubernetesHandle, KUBERNETES_HANDLE_SCHEME, type KubernetesOwnerKind } from '../../../common/admin-handle.js';
import { UserError } from '../cli/ui.js';

export type ExecTarget =
  | { readonly kind: 'docker'; readonly container: string }
  | { readonly kind: 'kubernetes'; readonly namespace: string; readonly owner: KubernetesOwner; readonly container: string };

export interface KubernetesOwner {
  readonly kind: KubernetesOwnerKind;
  readonly name: string;
}

/** How to reach a cluster: the kubectl binary and, when not the user's default, a kubeconfig file. */
export interface KubectlAccess {
  readonly bin: string;
  readonly kubeconfig?: string;
  /** @default the kubeconfig's current context */
  readonly context?: string;
}

const K8S_SCHEME = KUBERNETES_HANDLE_SCHEME;
/** A Docker container name, as Docker accepts it. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/** An RFC 1123 label: namespaces, container names, and the objects' names here. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const OWNER_KINDS: readonly KubernetesOwnerKind[] = ['deployment', 'job'];

/** A handle as the outputs write it; a malformed one is refused with what was expected. */
export function parseHandle(handle: string): ExecTarget {
  if (!handle.startsWith(K8S_SCHEME)) {
    if (!DOCKER_NAME.test(handle)) throw new UserError(`not a container name: ${JSON.stringify(handle)}`);
    return { kind: 'docker', container: handle };
  }
  const parts = handle.slice(K8S_SCHEME.length).split('/');
  const [namespace = '', ownerKind = '', ownerName = '', container = ''] = parts;
  const kind = OWNER_KINDS.find((k) => k === ownerKind);
  if (parts.length !== 4 || !kind || ![namespace, ownerName, container].every((s) => LABEL.test(s)))
    throw new UserError(`not a Kubernetes handle (k8s:<namespace>/<deployment|job>/<name>/<container>): ${JSON.stringify(handle)}`);
  return { kind: 'kubernetes', namespace, owner: { kind, name: ownerName }, container };
}

/** The handle of a container in a Kubernetes workload, as the outputs write it. */
export function kubernetesHandle(namespace: string, owner: KubernetesOwner, container: string): string {
  const handle = formatKubernetesHandle(namespace, owner, container);
  parseHandle(handle); // refuses a name no cluster would take
  return handle;
}

/**
 * The argv that runs `args` in the container (`interactive`: with stdin).
 * `kubectl` is required for a Kubernetes handle.
 */
export function execArgv(handle: string, args: readonly string[], opts: { interactive: boolean; kubectl?: KubectlAccess }): string[] {
  const target = parseHandle(handle);
  const stdin = opts.interactive ? ['-i'] : [];
  if (target.kind === 'docker') return ['docker', 'exec', ...stdin, target.container, ...args];
  const { namespace, owner, container } = target;
  return kubectlArgv(clusterFor(handle, opts.kubectl), ['exec', ...stdin, '-n', namespace, `${owner.kind}/${owner.name}`, '-c', container, '--', ...args]);
}

/** The line kubectl exec prints to stderr when the command exits non-zero (client-go v0.37.2 `tools/remotecommand/v4.go`, printed by kubectl `pkg/cmd/util/helpers.go` checkErr). */
const KUBECTL_EXIT_LINE = /(?:^|\n)command terminated with exit code \d+\n?$/;

/**
 * The command's own stderr: on Kubernetes, without the line kubectl adds
 * after a failure, so a health check's last line is its own verdict
 * (`waiting: …`), as `docker exec` leaves it.
 */
export function commandStderr(handle: string, stderr: string): string {
  return parseHandle(handle).kind === 'kubernetes' ? stderr.replace(KUBECTL_EXIT_LINE, '') : stderr;
}

/** The argv of one kubectl command against a cluster (its kubeconfig and context, when not the user's defaults). */
export function kubectlArgv(access: KubectlAccess, args: readonly string[]): string[] {
  const config = access.kubeconfig ? ['--kubeconfig', access.kubeconfig] : [];
  const context = access.context ? ['--context', access.context] : [];
  return [access.bin, ...config, ...context, ...args];
}

/** The cluster a Kubernetes handle runs on; refused, naming the handle, when none is configured. */
export function clusterFor(handle: string, access: KubectlAccess | undefined): KubectlAccess {
  if (!access) throw new UserError(`${handle} is on Kubernetes, and no cluster is configured for this command`);
  return access;
}

let cluster: KubectlAccess | undefined;

/** The cluster that Kubernetes handles run on: set by a script once it has read which cluster a stack is on. */
export function useCluster(access: KubectlAccess | undefined): void {
  cluster = access;
}

export function currentCluster(): KubectlAccess | undefined {
  return cluster;
}
