/**
 * The Kubernetes objects the renderer makes, as plain typed data (the
 * fields of the core/v1, apps/v1, batch/v1 and networking.k8s.io/v1 APIs it
 * uses, nothing more): ready to serialize as YAML or to hand to an applier.
 */
import { PROJECT } from '../../common/facts.js';

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
  readonly data?: Readonly<Record<string, string>>;
}

export interface SecurityContext {
  readonly runAsNonRoot: true;
  readonly runAsUser: number;
  readonly runAsGroup: number;
  readonly readOnlyRootFilesystem: true;
  readonly allowPrivilegeEscalation: false;
  readonly capabilities: { readonly drop: readonly ['ALL'] };
  readonly seccompProfile: { readonly type: 'RuntimeDefault' };
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}

export interface Probe {
  readonly exec: { readonly command: readonly string[] };
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly failureThreshold: number;
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly volumeMounts: readonly VolumeMount[];
  readonly resources: { readonly requests: { readonly memory: string }; readonly limits: { readonly memory: string } };
  readonly securityContext: SecurityContext;
  readonly startupProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly ports?: ReadonlyArray<{ readonly name: string; readonly containerPort: number; readonly protocol: 'TCP' }>;
  /** `Always` on an init container makes it a native sidecar (Kubernetes >= 1.29). */
  readonly restartPolicy?: 'Always';
}

export type Volume =
  | { readonly name: string; readonly emptyDir: { readonly medium: 'Memory'; readonly sizeLimit: string } }
  | { readonly name: string; readonly persistentVolumeClaim: { readonly claimName: string } }
  | { readonly name: string; readonly configMap: { readonly name: string; readonly defaultMode: number } };

export interface PodSpec {
  readonly automountServiceAccountToken: false;
  /** No `<SERVICE>_PORT` variables: the environment is the plan's, nothing else. */
  readonly enableServiceLinks: false;
  readonly hostname?: string;
  readonly hostAliases?: ReadonlyArray<{ readonly ip: string; readonly hostnames: readonly string[] }>;
  readonly securityContext: {
    readonly runAsNonRoot: true;
    readonly runAsUser: number;
    readonly runAsGroup: number;
    readonly seccompProfile: { readonly type: 'RuntimeDefault' };
  };
  readonly initContainers?: readonly Container[];
  readonly containers: readonly Container[];
  readonly volumes: readonly Volume[];
  readonly restartPolicy: 'Always' | 'OnFailure' | 'Never';
  readonly terminationGracePeriodSeconds?: number;
}

export interface PodTemplate {
  readonly metadata: { readonly labels: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec: PodSpec;
}

export interface Deployment extends KubeObject {
  readonly kind: 'Deployment';
  readonly spec: {
    readonly replicas: 1;
    readonly strategy: { readonly type: 'Recreate' };
    readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
    readonly template: PodTemplate;
  };
}

export interface Job extends KubeObject {
  readonly kind: 'Job';
  readonly spec: { readonly backoffLimit: number; readonly template: PodTemplate };
}

export interface Service extends KubeObject {
  readonly kind: 'Service';
  readonly spec: {
    readonly type: 'ClusterIP';
    readonly clusterIP: string;
    readonly selector: Readonly<Record<string, string>>;
    readonly ports: ReadonlyArray<{ readonly name: string; readonly port: number; readonly targetPort: number; readonly protocol: 'TCP' }>;
    /** Traffic does not wait on the readiness probe, as on Docker (the scripts judge readiness themselves). */
    readonly publishNotReadyAddresses: true;
  };
}

/** The port a Service is reached on from the host (a port-forward on 127.0.0.1), when it has one. */
export const HOST_PORT_ANNOTATION = `io.${PROJECT}.host-port`;

export type ImagePullPolicy = 'Never' | 'IfNotPresent' | 'Always';

/** Helpers for the object kinds the renderer makes. */
export const API = {
  namespace: { apiVersion: 'v1', kind: 'Namespace' },
  configMap: { apiVersion: 'v1', kind: 'ConfigMap' },
  pvc: { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  service: { apiVersion: 'v1', kind: 'Service' },
  deployment: { apiVersion: 'apps/v1', kind: 'Deployment' },
  job: { apiVersion: 'batch/v1', kind: 'Job' },
  networkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
} as const;

/** A ReadWriteOnce claim of `size` (a Kubernetes quantity), of the given storage class or the cluster's default. */
export function claim(meta: ObjectMeta, size: string, storageClassName: string | undefined): KubeObject {
  return {
    ...API.pvc,
    metadata: meta,
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...(storageClassName ? { storageClassName } : {}) },
  };
}

/** The object in a list by kind and name; an error names what the list has. */
export function find<T extends KubeObject = KubeObject>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} "${name}" among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found as T;
}

/**
 * A Service at a fixed address (the pods' hostAliases name it: no cluster
 * DNS needed) whose traffic does not wait on readiness, as on Docker.
 */
export function service(meta: ObjectMeta, clusterIP: string, selector: Readonly<Record<string, string>>, port: { name: string; port: number }): Service {
  return {
    ...API.service,
    metadata: meta,
    spec: {
      type: 'ClusterIP',
      clusterIP,
      selector,
      ports: [{ name: port.name, port: port.port, targetPort: port.port, protocol: 'TCP' }],
      publishNotReadyAddresses: true,
    },
  };
}

/** One pod, replaced by stopping it first (Recreate): never two of a workload or of the CA at once, as one container on Docker. */
export function singlePod(meta: ObjectMeta, selector: Readonly<Record<string, string>>, template: PodTemplate): Deployment {
  return { ...API.deployment, metadata: meta, spec: { replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: selector }, template } };
}
