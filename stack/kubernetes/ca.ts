/**
 * step-ca on Kubernetes: its state on a claim, one replica (Recreate: never
 * two CAs on one database), a Service for its port; the root key on a claim
 * of its own that only Jobs mount (the init Job here, the rotation Jobs of
 * the admin channel through caJob), never the serving CA.
 */
import { CA_PORT, LABEL } from '../../common/facts.js';
import { baseLabels, type Role } from '../labels.js';
import type { CaPlan, ContainerPlan, PlanVolume } from '../workload-plan.js';
import { API, claim, HOST_PORT_ANNOTATION, type ImagePullPolicy, type Job, type KubeObject, service, singlePod } from './objects.js';
import { containerOf, podSpec } from './pod.js';

/** Object names in the stack's namespace (a workload may not take the CA's). */
export const CA_NAMES = { deployment: 'ca', container: 'ca', service: 'ca', state: 'ca', rootKey: 'ca-root-key', initJob: 'ca-init' } as const;
/** The CA's keys, config and database. */
export const CA_STATE_SIZE = '1Gi';
/** Two root keys and their certificates at most (during a root rotation). */
export const ROOT_KEY_SIZE = '64Mi';
/** Docker's init container: restarted on failure up to 3 times. */
const JOB_RETRIES = 3;

export interface CaRenderProps {
  readonly namePrefix: string;
  readonly namespace: string;
  readonly plan: CaPlan;
  readonly image: string;
  readonly pullPolicy: ImagePullPolicy;
  readonly storageClassName: string | undefined;
  readonly serviceIp: string;
  /** Where the host reaches the CA (a port-forward on 127.0.0.1). */
  readonly hostPort: number;
}

/** The pod volume of each of the CA's plan volumes, and the claim behind it. */
const VOLUMES: Partial<Record<PlanVolume, string>> = { ca: 'state', 'root-key': 'root-key' };
const CLAIM_OF: Partial<Record<PlanVolume, string>> = { ca: CA_NAMES.state, 'root-key': CA_NAMES.rootKey };

/** Only the claims a plan mounts: the serving CA's pod has no root-key volume at all. */
function claimVolumes(plan: ContainerPlan) {
  return plan.mounts.map((m) => ({ name: VOLUMES[m.volume]!, persistentVolumeClaim: { claimName: CLAIM_OF[m.volume]! } }));
}

/**
 * A one-shot Job of the CA's image on the CA's claims: the init Job, and
 * the rotation Jobs of the admin channel. Its pod needs no network (a
 * NetworkPolicy denies it all, render.ts).
 */
export function caJob(p: CaRenderProps, name: string, role: Role, plan: ContainerPlan): Job {
  const labels = baseLabels(p.namePrefix, role);
  const c = containerOf(plan, { name: CA_NAMES.container, image: p.image, pullPolicy: p.pullPolicy, volumes: VOLUMES });
  return {
    ...API.job,
    metadata: { name, namespace: p.namespace, labels },
    spec: {
      backoffLimit: JOB_RETRIES,
      template: {
        metadata: { labels },
        spec: podSpec({ containers: [c.container], volumes: [...claimVolumes(plan), ...c.memoryVolumes], restartPolicy: 'OnFailure' }),
      },
    },
  };
}

/** In apply order: the claims, the init Job (the applier waits for it to complete), the CA and its Service. */
export function renderCa(p: CaRenderProps): KubeObject[] {
  const stateMeta = (name: string, role: Role) => ({ name, namespace: p.namespace, labels: baseLabels(p.namePrefix, role) });
  const labels = baseLabels(p.namePrefix, 'ca');
  const serve = containerOf(p.plan.serve, {
    name: CA_NAMES.container,
    image: p.image,
    pullPolicy: p.pullPolicy,
    volumes: VOLUMES,
    ports: [{ name: 'https', containerPort: CA_PORT, protocol: 'TCP' }],
    healthyOnItsOwn: true,
  });
  const deployment = singlePod(stateMeta(CA_NAMES.deployment, 'ca'), labels, {
    metadata: { labels },
    spec: podSpec({
      hostname: CA_NAMES.deployment,
      containers: [serve.container],
      volumes: [...claimVolumes(p.plan.serve), ...serve.memoryVolumes],
      restartPolicy: 'Always',
    }),
  });
  const serviceMeta = { ...stateMeta(CA_NAMES.service, 'ca'), annotations: { [LABEL.dnsName]: p.plan.dnsName, [HOST_PORT_ANNOTATION]: String(p.hostPort) } };
  return [
    claim(stateMeta(CA_NAMES.state, 'ca'), CA_STATE_SIZE, p.storageClassName),
    claim(stateMeta(CA_NAMES.rootKey, 'ca-init'), ROOT_KEY_SIZE, p.storageClassName),
    caJob(p, CA_NAMES.initJob, 'ca-init', p.plan.init),
    deployment,
    service(serviceMeta, p.serviceIp, labels, { name: 'https', port: CA_PORT }),
  ];
}
