/**
 * What `npm run deploy` does before the engine when the stack's target is
 * Kubernetes (MTLS_TARGET=kubernetes): the toolchain's local cluster started
 * when its node is not Ready, the kubectl provider in the mirror (offline),
 * and every image the stack runs built by Docker from the Docker target's
 * recipes and imported into the node under the names the stack gives them
 * (stack/kubernetes/local-target.ts). Destroy needs only the cluster.
 */
import type { Settings } from '../../../settings.js';
import { clusterImageName } from '../../../stack/kubernetes/local-target.js';
import { stackLabels } from '../../../stack/labels.js';
import { type MeshSpec, type ResolvedMesh, resolveMesh, selectWorkloads } from '../../../stack/mesh-spec.js';
import { imageFolder, type ImageRecipe, STEP_CA_IMAGE } from '../../../stack/technology.js';
import { KUBECTL_PROVIDER } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import { cachePaths } from '../toolchain/cache.js';
import { detectMode } from '../toolchain/connectivity.js';
import type { Toolchain } from '../toolchain/index.js';
import { ensureProviderFor } from '../toolchain/terraform.js';
import { buildIntoCluster, importDockerImage } from './images.js';
import { clusterLayout } from './layout.js';
import { clusterStatus, clusterUp } from './local-cluster.js';

/** The local cluster, started when its node is not Ready. */
export async function ensureLocalCluster(log: (line: string) => void): Promise<void> {
  const paths = cachePaths();
  const layout = clusterLayout(paths);
  if ((await clusterStatus(layout)).node?.ready) return;
  const up = await clusterUp(paths, layout, log);
  log(`node ${up.node.name} Ready ${up.readySeconds.toFixed(1)} s after start`);
}

/** The recipes of the images a stack of this mesh runs: the CA's (also every renewer's), then each technology's, once each. */
export function imageRecipes(resolved: ResolvedMesh): ImageRecipe[] {
  const recipes = new Map<string, ImageRecipe>([[imageFolder(STEP_CA_IMAGE), STEP_CA_IMAGE]]);
  for (const w of resolved.workloads) if (w.technology) recipes.set(imageFolder(w.technology.image), w.technology.image);
  return [...recipes.values()];
}

/** Everything the engine's apply needs on the cluster, before it runs. */
export async function prepareKubernetesDeploy(
  settings: Settings,
  mesh: MeshSpec,
  build: { readonly baseImages: Toolchain['baseImages']; readonly projectDir: string },
  log: (line: string) => void,
): Promise<void> {
  await ensureLocalCluster(log);
  const paths = cachePaths();
  const layout = clusterLayout(paths);
  const { providers } = await detectMode();
  await ensureProviderFor(paths, KUBECTL_PROVIDER, { fromMirror: providers === 'mirror' });
  const resolved = resolveMesh(selectWorkloads(mesh, settings.workloads));
  for (const recipe of imageRecipes(resolved)) {
    const tag = clusterImageName(settings.prefix, recipe, build);
    const started = Date.now();
    await buildIntoCluster(layout, { recipe, baseImages: build.baseImages, projectDir: build.projectDir, tag, labels: stackLabels(settings.prefix) });
    log(`${tag}: built and imported into the node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  // Images of your own are the node's as Docker has them: no registry to pull from.
  for (const w of resolved.workloads) {
    if (!w.custom) continue;
    await importDockerImage(layout, w.custom.image).catch((err: Error) => {
      throw new UserError(`workload "${w.name}" runs ${w.custom!.image}, which Docker does not have to import into the cluster: ${err.message}`);
    });
  }
}
