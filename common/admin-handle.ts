/**
 * How a stack's outputs name a container on Kubernetes for the scripts'
 * admin channel (scripts/lib/admin/channel.ts, which parses and checks it):
 * `k8s:<namespace>/<deployment|job>/<name>/<container>`. On Docker a handle
 * is the container's name.
 */
export const KUBERNETES_HANDLE_SCHEME = 'k8s:';

export type KubernetesOwnerKind = 'deployment' | 'job';

export function formatKubernetesHandle(namespace: string, owner: { readonly kind: KubernetesOwnerKind; readonly name: string }, container: string): string {
  return `${KUBERNETES_HANDLE_SCHEME}${namespace}/${owner.kind}/${owner.name}/${container}`;
}
