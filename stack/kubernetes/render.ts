/**
 * The resolved mesh as Kubernetes objects, in apply order: the namespace
 * (`<prefix>`, Pod Security "restricted" enforced), its network fences, the
 * CA, then every workload. A pure function: it reads the same plans the
 * Docker constructs read (workload-plan.ts, workload-env.ts) and does no I/O.
 *
 * The mesh's names (`ca.mesh.internal`, `<name>.mesh.internal`) resolve in
 * every pod through hostAliases to fixed Service addresses (`serviceIps`):
 * no cluster DNS is needed (the local cluster has none), and on a cluster
 * with DNS `<name>.<prefix>.svc` names the same Service.
 */
import { CA_PORT, LABEL } from '../../common/facts.js';
import { stackLabels } from '../labels.js';
import type { ResolvedMesh, ResolvedWorkload } from '../mesh-spec.js';
import { acmeDnsNames } from '../workload-env.js';
import { caPlan, type CaSettings } from '../workload-plan.js';
import { CA_NAMES, renderCa } from './ca.js';
import { API, type ImagePullPolicy, type KubeObject, type PodSpec } from './objects.js';
import { renderWorkload } from './workload.js';

export interface KubernetesRenderProps {
  /** The stack's prefix: also its namespace. */
  readonly namePrefix: string;
  readonly mesh: ResolvedMesh;
  /** The CA's image (also the renewers'), and each workload's app image. */
  readonly images: { readonly ca: string; readonly workload: (w: ResolvedWorkload) => string };
  /** The CA's name, provisioner and certificate lifetimes, as for the Docker target. */
  readonly ca?: CaSettings;
  /** The CA's port on 127.0.0.1 (a port-forward). @default 9000 */
  readonly caHostPort?: number;
  /** Each Service's address, by Service name: `ca` and every server (serviceNames; allocateServiceIps). */
  readonly serviceIps: Readonly<Record<string, string>>;
  /** @default 'Never': images imported into the node, no registry */
  readonly pullPolicy?: ImagePullPolicy;
  /** @default the cluster's default storage class */
  readonly storageClassName?: string;
  /** Requests per second each Node reference client sends. @default the mesh's pace */
  readonly clientRate?: number;
}

/** RFC 1123 labels (namespaces), RFC 1035 labels (Services): a prefix or a workload name may end with a dash, these may not. */
const DNS_LABEL = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The Services of a mesh, which need an address each: the CA's, then every server's. */
export function serviceNames(mesh: ResolvedMesh): string[] {
  return [CA_NAMES.service, ...mesh.workloads.filter((w) => w.port !== undefined).map((w) => w.name)];
}

/**
 * Consecutive IPv4 addresses from `first`, one per name. Kubernetes assigns
 * a Service the address it asks for when it is free and in the service
 * range, and refuses it otherwise; the lower part of the range is where
 * it assigns none on its own (KEP-3070).
 */
export function allocateServiceIps(first: string, names: readonly string[]): Record<string, string> {
  const octets = first.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(first)}`);
  const base = octets.reduce((n, o) => n * 256 + o, 0);
  return Object.fromEntries(
    names.map((name, i) => {
      const n = base + i;
      return [name, [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')];
    }),
  );
}

export function renderMesh(p: KubernetesRenderProps): KubeObject[] {
  const namespace = p.namePrefix;
  const labels = stackLabels(namespace);
  if (!DNS_LABEL.test(namespace)) throw new Error(`the prefix names the namespace, so it must end with a letter or digit, got ${JSON.stringify(namespace)}`);
  for (const w of p.mesh.workloads) {
    if (!DNS_LABEL.test(w.name)) throw new Error(`workload "${w.name}" names a Deployment and a Service, so it must end with a letter or digit`);
    if (w.name === CA_NAMES.deployment) throw new Error(`workload "${w.name}" has the CA's name: rename it`);
  }
  const plan = caPlan(p.mesh.domain, p.ca ?? {}, acmeDnsNames(p.mesh.workloads));
  const ipOf = (name: string): string => {
    const ip = p.serviceIps[name];
    if (!ip) throw new Error(`serviceIps has no address for the Service "${name}" (it needs ${serviceNames(p.mesh).join(', ')})`);
    return ip;
  };
  const servers = p.mesh.workloads.filter((w) => w.port !== undefined);
  const hostAliases: PodSpec['hostAliases'] = [
    { ip: ipOf(CA_NAMES.service), hostnames: [plan.dnsName] },
    ...servers.map((w) => ({ ip: ipOf(w.name), hostnames: [w.identity.dnsName] })),
  ];
  const common = { namePrefix: namespace, namespace, pullPolicy: p.pullPolicy ?? 'Never', storageClassName: p.storageClassName } as const;

  const objects: KubeObject[] = [
    {
      ...API.namespace,
      metadata: {
        name: namespace,
        labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
      },
    },
    ...fences(namespace, labels),
    ...renderCa({ ...common, plan, image: p.images.ca, serviceIp: ipOf(CA_NAMES.service), hostPort: p.caHostPort ?? CA_PORT }),
    ...p.mesh.workloads.flatMap((w) =>
      renderWorkload(w, {
        ...common,
        appImage: p.images.workload(w),
        renewerImage: p.images.ca,
        caUrl: plan.caUrl,
        hostAliases,
        serviceIp: w.port !== undefined ? ipOf(w.name) : undefined,
        clientRate: p.clientRate,
      }),
    ),
  ];
  const seen = new Set<string>();
  for (const o of objects) {
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) throw new Error(`two objects are named ${key}`);
    seen.add(key);
  }
  return objects;
}

/**
 * Docker's internal mesh network as NetworkPolicy: pods of the namespace
 * reach each other and nothing else; the CA's Jobs (which the first policy
 * leaves out: policies add up) reach nothing (Docker's `networkMode: none`). A second fence where the network plugin enforces
 * policy; the local cluster's bridge plugin does not.
 */
function fences(namespace: string, labels: Record<string, string>): KubeObject[] {
  const meta = (name: string) => ({ name, namespace, labels });
  const sameNamespace = [{ podSelector: {} }];
  return [
    {
      ...API.networkPolicy,
      metadata: meta('mesh'),
      spec: {
        podSelector: { matchExpressions: [{ key: LABEL.role, operator: 'NotIn', values: ['ca-init'] }] },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: sameNamespace }],
        egress: [{ to: sameNamespace }],
      },
    },
    {
      ...API.networkPolicy,
      metadata: meta('ca-jobs'),
      spec: { podSelector: { matchLabels: { [LABEL.role]: 'ca-init' } }, policyTypes: ['Ingress', 'Egress'] },
    },
  ];
}
