/**
 * What a deployed stack reports about its mesh, in the shape the scripts read
 * (scripts/lib/deploy/stack-outputs.ts), written once for both targets: each
 * target says only where a workload's containers and volumes are.
 */
import type { ResolvedMesh, ResolvedWorkload } from './mesh-spec.js';

/** Where a workload is, as the target names it: container handles for the admin channel, and its volumes. */
export interface WorkloadPlaces {
  readonly container: string;
  readonly renewer: string;
  /** The certs volume ('' where it is in memory, not a named volume). */
  readonly volume: string;
  /** What holds the app's root pin: a volume (Docker) or a ConfigMap (Kubernetes). */
  readonly trustVolume: string;
}

export function workloadOutputs(mesh: ResolvedMesh, places: (w: ResolvedWorkload) => WorkloadPlaces) {
  return mesh.workloads.map((w) => {
    const at = places(w);
    return {
      name: w.name,
      technology: w.technologyName,
      label: w.technology?.label ?? w.custom?.label ?? w.custom?.image ?? '',
      role: w.role,
      protocol: w.protocol,
      identity_form: w.identityForm,
      stats: w.technology?.stats ?? 'none',
      container: at.container,
      renewer: at.renewer,
      volume: at.volume,
      trust_volume: at.trustVolume,
      dns_name: w.identity.dnsName,
      uri: w.identity.uri,
      port: w.port ?? 0,
      host_port: w.hostPort ?? 0,
      allow: w.allowed.map((a) => a.name),
      calls: w.target?.identity.name ?? '',
    };
  });
}

export function operatorOutputs(mesh: ResolvedMesh) {
  return mesh.operators.map((o) => ({ name: o.name, dns_name: o.dnsName, uri: o.uri }));
}
