/**
 * The Kubernetes stack's props for the toolchain's local cluster, from the
 * same settings the Docker stack takes: the project's images as the deploy
 * imports them into the node (`<prefix>-<folder>:<content hash>`, never pulled), the
 * Services at fixed addresses of the cluster's service range, the claims on
 * static host-path volumes, and the cluster's own kubeconfig and kubectl.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import { contentHash } from '../content-hash.js';
import type { ResolvedMesh, ResolvedWorkload } from '../mesh-spec.js';
import { baseImageBuildArgs, type ImageRecipe, projectImageRepository, STEP_CA_IMAGE } from '../technology.js';
import type { BaseImages } from '../versions.js';
import type { CaSettings } from '../workload-plan.js';
import type { KubernetesStackProps } from './kubernetes-stack.js';
import { allocateServiceIps, serviceNames } from './render.js';
import { HOST_PATH_STORAGE_CLASS } from './volumes.js';

/** What the local cluster's layout gives (scripts/lib/kubernetes/layout.ts). */
export interface LocalCluster {
  readonly adminKubeconfig: string;
  readonly kubectl: string;
  /** The node's directory for the stacks' static volumes. */
  readonly volumesDir: string;
  readonly firstServiceIp: string;
}

/** What the project's images are built from: its folders and the base images the toolchain chose. */
export interface ImageSources {
  readonly projectDir: string;
  readonly baseImages: BaseImages;
}

/**
 * One of the project's images on the cluster: the Docker stack's repository
 * name, tagged with a hash of what it is built from (its folders and its
 * base images). A change is a new image name, so the Deployments that run it
 * roll; the Docker stack gets the same from its content-hash trigger.
 */
export function clusterImageName(prefix: string, recipe: ImageRecipe, from: ImageSources): string {
  const context = path.join(from.projectDir, recipe.contextDir);
  const tag = createHash('sha256')
    .update(
      contentHash(
        context,
        recipe.sources?.map((s) => path.join(context, s)),
      ),
    )
    .update(JSON.stringify(baseImageBuildArgs(recipe, from.baseImages)))
    .digest('hex')
    .slice(0, 16);
  return `${projectImageRepository(prefix, recipe)}:${tag}`;
}

export function localClusterStackProps(
  cluster: LocalCluster,
  s: {
    readonly prefix: string;
    readonly mesh: ResolvedMesh;
    readonly images: ImageSources;
    readonly statePath: string;
    readonly ca: CaSettings;
    readonly clientRate?: number;
  },
): KubernetesStackProps {
  const workloadImage = (w: ResolvedWorkload) => (w.technology ? clusterImageName(s.prefix, w.technology.image, s.images) : w.custom!.image);
  return {
    namePrefix: s.prefix,
    mesh: s.mesh,
    images: { ca: clusterImageName(s.prefix, STEP_CA_IMAGE, s.images), workload: workloadImage },
    ca: s.ca,
    serviceIps: allocateServiceIps(cluster.firstServiceIp, serviceNames(s.mesh)),
    pullPolicy: 'Never',
    storageClassName: HOST_PATH_STORAGE_CLASS,
    hostPathDir: cluster.volumesDir,
    kubeconfig: cluster.adminKubeconfig,
    kubectl: cluster.kubectl,
    statePath: s.statePath,
    ...(s.clientRate ? { clientRate: s.clientRate } : {}),
  };
}

/** The local cluster's layout as the stack needs it. */
export function localCluster(
  layout: { readonly adminKubeconfig: string; readonly kubernetesBin: string; readonly state: string },
  firstServiceIp: string,
): LocalCluster {
  return {
    adminKubeconfig: layout.adminKubeconfig,
    kubectl: path.join(layout.kubernetesBin, 'kubectl'),
    volumesDir: path.join(layout.state, 'volumes'),
    firstServiceIp,
  };
}
