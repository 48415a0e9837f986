// The Kubernetes renderer on the meshes the project ships, and accessors for
// the pods inside the rendered objects.
import { NAMED_MESHES } from '../../../../meshes/index.js';
import type { Container, Deployment, Job, KubeObject, PodSpec } from '../../../../stack/kubernetes/objects.js';
import { allocateServiceIps, type KubernetesRenderProps, renderMesh, serviceNames } from '../../../../stack/kubernetes/render.js';
import { type ResolvedMesh, resolveMesh } from '../../../../stack/mesh-spec.js';

export const PREFIX = 'k8stest';
export const FIRST_SERVICE_IP = '10.96.0.10';
export const CA_IMAGE = 'k8stest-step-ca:local';
export const imageOf: KubernetesRenderProps['images']['workload'] = (w) => (w.custom ? w.custom.image : `k8stest-${w.technologyName}:local`);

export interface Rendered {
  readonly mesh: ResolvedMesh;
  readonly ips: Record<string, string>;
  readonly objects: KubeObject[];
}

export function render(mesh: ResolvedMesh, overrides: Partial<KubernetesRenderProps> = {}): Rendered {
  const ips = allocateServiceIps(FIRST_SERVICE_IP, serviceNames(mesh));
  const objects = renderMesh({ namePrefix: PREFIX, mesh, images: { ca: CA_IMAGE, workload: imageOf }, serviceIps: ips, ...overrides });
  return { mesh, ips, objects };
}

/** Both meshes the project ships (default: the demo's; catalog: every technology). */
export const MESHES = Object.entries(NAMED_MESHES).map(([name, m]) => ({ name, ...render(resolveMesh(m.spec)) }));

export interface Pod {
  /** `Deployment/server`, `Job/ca-init`. */
  readonly owner: string;
  /** A Deployment's pod runs until deleted; a Job's exits. */
  readonly longRunning: boolean;
  readonly spec: PodSpec;
}

export function podsOf(objects: readonly KubeObject[]): Pod[] {
  return objects
    .filter((o): o is Deployment | Job => o.kind === 'Deployment' || o.kind === 'Job')
    .map((o) => ({ owner: `${o.kind}/${o.metadata.name}`, longRunning: o.kind === 'Deployment', spec: o.spec.template.spec }));
}

export const containersOf = (spec: PodSpec): Container[] => [...(spec.initContainers ?? []), ...spec.containers];

export const envRecord = (c: Container): Record<string, string> => Object.fromEntries(c.env.map((e) => [e.name, e.value]));

/** A workload's pod: its app and its renewer. */
export function workloadPod(objects: readonly KubeObject[], name: string): { spec: PodSpec; app: Container; renewer: Container } {
  const spec = podsOf(objects).find((p) => p.owner === `Deployment/${name}`)!.spec;
  return { spec, app: spec.containers.find((c) => c.name === 'app')!, renewer: spec.initContainers!.find((c) => c.name === 'renewer')! };
}

/** The claim a pod volume reads, by the volume's name. */
export function claimOf(spec: PodSpec, volume: string): string | undefined {
  const v = spec.volumes.find((x) => x.name === volume);
  return v && 'persistentVolumeClaim' in v ? v.persistentVolumeClaim.claimName : undefined;
}
