/** What the k8s suite's globalSetup hands to its tests (vitest provide/inject). */
export interface K8sContext {
  /** The administrator's kubeconfig of the local cluster. */
  readonly kubeconfig: string;
  /** The image built by Docker for this run and imported into the cluster's containerd. */
  readonly image: string;
  /** The file the image holds and its content (what `kubectl exec` must read back). */
  readonly imageFile: { readonly path: string; readonly content: string };
  /** The namespace the tests create their pods in. */
  readonly namespace: string;
  /** The kernel tunables the kubelet sets, as the host had them before the cluster came up. */
  readonly hostTunables: Readonly<Record<string, string>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    k8s: K8sContext;
  }
}
