/**
 * Static PersistentVolumes for a cluster without a provisioner (the local
 * cluster): one hostPath volume per claim of HOST_PATH_STORAGE_CLASS, bound
 * to that claim alone (claimRef) and kept until the stack deletes it
 * (Retain: nothing recycles a hostPath volume). Its directory is made, owned
 * by the pods' user and 0700, before the volume is applied (kubernetes-stack.ts):
 * the pods run without fsGroup (pod.ts), so a directory the kubelet made
 * (root's) would not be theirs to write.
 */
import path from 'node:path';

import { PROJECT } from '../../common/facts.js';
import { API, type KubeObject } from './objects.js';

/** The storage class whose claims get a static hostPath volume; no StorageClass object is needed to bind them. */
export const HOST_PATH_STORAGE_CLASS = `${PROJECT}-host-path`;

interface ClaimSpec {
  readonly accessModes: readonly string[];
  readonly resources: { readonly requests: { readonly storage: string } };
  readonly storageClassName?: string;
}

/** A claim's host directory: `<dir>/<namespace>/<claim>`. */
export function hostPathOf(dir: string, claim: KubeObject): string {
  if (!claim.metadata.namespace) throw new Error(`claim ${claim.metadata.name} has no namespace`);
  return path.join(dir, claim.metadata.namespace, claim.metadata.name);
}

/** The claims of the host-path class among the objects. */
export function hostPathClaims(objects: readonly KubeObject[]): KubeObject[] {
  return objects.filter((o) => o.kind === API.pvc.kind && (o.spec as ClaimSpec).storageClassName === HOST_PATH_STORAGE_CLASS);
}

/** The volume that binds one claim: cluster-scoped, so named after the namespace too. */
export function hostPathVolume(claim: KubeObject, dir: string): KubeObject {
  const spec = claim.spec as ClaimSpec;
  const namespace = claim.metadata.namespace!;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `${namespace}-${claim.metadata.name}`, ...(claim.metadata.labels ? { labels: claim.metadata.labels } : {}) },
    spec: {
      capacity: { storage: spec.resources.requests.storage },
      accessModes: spec.accessModes,
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: HOST_PATH_STORAGE_CLASS,
      volumeMode: 'Filesystem',
      claimRef: { apiVersion: 'v1', kind: API.pvc.kind, namespace, name: claim.metadata.name },
      // Directory, not DirectoryOrCreate: a missing directory fails the pod rather than giving it root's.
      hostPath: { path: hostPathOf(dir, claim), type: 'Directory' },
    },
  };
}

/** The objects in apply order, each host-path claim preceded by its volume. */
export function withHostPathVolumes(objects: readonly KubeObject[], dir: string): KubeObject[] {
  const claims = new Set(hostPathClaims(objects));
  return objects.flatMap((o) => (claims.has(o) ? [hostPathVolume(o, dir), o] : [o]));
}
