/**
 * One workload of the mesh on Kubernetes: a Deployment whose pod runs the
 * app and its renewer as a native sidecar, sharing an in-memory certs
 * volume; the root pin in a ConfigMap that only the app mounts; a Service
 * for a server; a claim for a technology's data.
 */
import path from 'node:path';

import { LABEL, ROOT_PIN_FILE, TRUST_DIR } from '../../common/facts.js';
import { baseLabels, stackLabels } from '../labels.js';
import type { ResolvedWorkload } from '../mesh-spec.js';
import { appEnvironment, appRuntime } from '../workload-env.js';
import { appPlan, type PlanVolume, renewerPlan } from '../workload-plan.js';
import {
  API,
  claim,
  HOST_PORT_ANNOTATION,
  type ImagePullPolicy,
  type KubeObject,
  type PodSpec,
  type Service,
  service,
  singlePod,
  type Volume,
} from './objects.js';
import { containerOf, podSpec } from './pod.js';

/** The key of the trust ConfigMap: the pin file's name in TRUST_DIR, where the app mounts it. */
export const PIN_KEY = path.posix.basename(ROOT_PIN_FILE);
if (path.posix.dirname(ROOT_PIN_FILE) !== TRUST_DIR) throw new Error('ROOT_PIN_FILE must be a file directly in TRUST_DIR');

/** The certs volume holds root.crt, site.crt and site.key: a few KiB. */
export const CERTS_SIZE = '1Mi';
/** A technology's data (PostgreSQL, MariaDB). */
export const DATA_SIZE = '1Gi';

export interface WorkloadRenderProps {
  readonly namePrefix: string;
  readonly namespace: string;
  readonly appImage: string;
  /** The step image: the renewer. */
  readonly renewerImage: string;
  readonly caUrl: string;
  readonly pullPolicy: ImagePullPolicy;
  readonly storageClassName: string | undefined;
  /** The mesh's names (the CA and every server) at their Services' addresses: no cluster DNS needed. */
  readonly hostAliases: PodSpec['hostAliases'];
  /** The Service's address, for a server. */
  readonly serviceIp: string | undefined;
  readonly clientRate?: number;
}

/** Annotations, not labels: a SPIFFE URI (`:` and `/`) or a long DNS name is no label value. */
export function identityAnnotations(w: ResolvedWorkload): Record<string, string> {
  return { [LABEL.dnsName]: w.identity.dnsName, [LABEL.uri]: w.identity.uri };
}

/** The names renderWorkload gives a workload's containers and its root pin's ConfigMap: what the stack's outputs point at. */
export const WORKLOAD_NAMES = { app: 'app', renewer: 'renewer', trust: (workload: string) => `${workload}-trust` } as const;

export function renderWorkload(w: ResolvedWorkload, p: WorkloadRenderProps): KubeObject[] {
  const selector = { ...stackLabels(p.namePrefix), [LABEL.workload]: w.name };
  const labels = baseLabels(p.namePrefix, w.role, { [LABEL.workload]: w.name, [LABEL.technology]: w.technologyName });
  const meta = (name: string) => ({ name, namespace: p.namespace, labels });
  const runtime = appRuntime(w);
  const app = appPlan(runtime, appEnvironment(w, { clientRate: p.clientRate, caUrl: p.caUrl }));
  const trustName = WORKLOAD_NAMES.trust(w.name);
  const dataName = `${w.name}-data`;

  const volumes: Partial<Record<PlanVolume, string>> = { certs: 'certs', trust: 'trust', ...(runtime.dataPath ? { data: 'data' } : {}) };
  const appContainer = containerOf(app, {
    name: WORKLOAD_NAMES.app,
    image: p.appImage,
    pullPolicy: p.pullPolicy,
    volumes,
    ...(w.port !== undefined ? { ports: [{ name: w.protocol, containerPort: w.port, protocol: 'TCP' as const }] } : {}),
  });
  // The renewer is handed the certs volume alone: a plan that mounted the trust volume would be refused.
  const renewer = containerOf(renewerPlan(p.caUrl), {
    name: WORKLOAD_NAMES.renewer,
    image: p.renewerImage,
    pullPolicy: p.pullPolicy,
    volumes: { certs: 'certs' },
    sidecar: true,
  });
  const podVolumes: Volume[] = [
    { name: 'certs', emptyDir: { medium: 'Memory', sizeLimit: CERTS_SIZE } },
    { name: 'trust', configMap: { name: trustName, defaultMode: 0o444 } },
    ...(runtime.dataPath ? [{ name: 'data', persistentVolumeClaim: { claimName: dataName } }] : []),
    ...renewer.memoryVolumes,
    ...appContainer.memoryVolumes,
  ];

  const deployment = singlePod({ ...meta(w.name), annotations: identityAnnotations(w) }, selector, {
    metadata: { labels, annotations: identityAnnotations(w) },
    spec: podSpec({
      hostname: w.name,
      hostAliases: p.hostAliases,
      initContainers: [renewer.container],
      containers: [appContainer.container],
      volumes: podVolumes,
      restartPolicy: 'Always',
      // Docker's stopTimeout.
      terminationGracePeriodSeconds: 15,
    }),
  });

  // No data: the pin is configuration only the operator's commands write
  // (bootstrap-trust, rotate-ca), through the API; until then the app's
  // TRUST_DIR is empty, as Docker's fresh trust volume is.
  const trust: KubeObject = { ...API.configMap, metadata: meta(trustName) };
  const objects: KubeObject[] = [trust];
  if (runtime.dataPath) objects.push(claim(meta(dataName), DATA_SIZE, p.storageClassName));
  objects.push(deployment);
  if (w.port !== undefined) objects.push(serviceOf(w, w.port, p, meta(w.name), selector));
  return objects;
}

function serviceOf(w: ResolvedWorkload, port: number, p: WorkloadRenderProps, meta: KubeObject['metadata'], selector: Record<string, string>): Service {
  if (!p.serviceIp) throw new Error(`server "${w.name}" has no Service address (serviceIps)`);
  const hostPort: Record<string, string> = w.hostPort !== undefined ? { [HOST_PORT_ANNOTATION]: String(w.hostPort) } : {};
  return service({ ...meta, annotations: { ...identityAnnotations(w), ...hostPort } }, p.serviceIp, selector, { name: w.protocol, port });
}
