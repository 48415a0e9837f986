/**
 * The CDKTF app. Its settings come from readSettings (settings.ts), the one
 * reader of the environment, and its mesh from MTLS_MESH (the default:
 * mesh.ts); everything below takes typed props. `npm run
 * deploy` (scripts/cdktf.ts) sets the base images from the toolchain; the
 * defaults are the official images. The test suite labels its throw-away
 * stacks through the cdktf context key `owner` (CDKTF_CONTEXT_JSON), not a
 * setting.
 */
import { App } from 'cdktf';

import { OWNER_CONTEXT } from './common/facts.js';
import { clusterLayout, NETWORK } from './scripts/lib/kubernetes/layout.js';
import { cachePaths } from './scripts/lib/toolchain/cache.js';
import { readSettings } from './settings.js';
import { KubernetesStack } from './stack/kubernetes/kubernetes-stack.js';
import { localCluster, localClusterStackProps } from './stack/kubernetes/local-target.js';
import { loadMesh } from './stack/mesh-file.js';
import { resolveMesh, selectWorkloads } from './stack/mesh-spec.js';
import { MtlsStack } from './stack/mtls-stack.js';
import { stateFileOf } from './stack/names.js';
import { BASE_IMAGE_KEYS, type BaseImages, OFFICIAL_IMAGES } from './stack/versions.js';

const settings = readSettings(process.env);
const { spec } = await loadMesh(settings.mesh).catch((err: Error) => {
  // The scripts check the mesh before they start the app; run by hand, it still says what is wrong in one line.
  console.error(err.message);
  process.exit(1);
});
const app = new App();
const owner: unknown = app.node.tryGetContext(OWNER_CONTEXT);
// The toolchain's choice of base images (official, or the offline stand-ins), as the scripts hand them over.
const baseImages = Object.fromEntries(BASE_IMAGE_KEYS.map((k) => [k, settings.baseImages?.[k] ?? OFFICIAL_IMAGES[k]])) as unknown as BaseImages;
const ca = { certLifetime: settings.certLifetime, minCertLifetime: settings.minCertLifetime, maxCertLifetime: settings.maxCertLifetime };
if (settings.target === 'kubernetes') {
  // The toolchain's local cluster; `npm run deploy` starts it and imports the images first.
  const layout = clusterLayout(cachePaths());
  new KubernetesStack(app, settings.prefix, {
    ...localClusterStackProps(localCluster(layout, NETWORK.firstStackServiceIp), {
      prefix: settings.prefix,
      mesh: resolveMesh(selectWorkloads(spec, settings.workloads), { hostPorts: settings.hostPorts }),
      images: { projectDir: import.meta.dirname, baseImages },
      statePath: stateFileOf(import.meta.dirname, settings.prefix),
      ca,
      clientRate: settings.clientRate,
    }),
    // The engine the scripts run (recorded in the state).
    iac: settings.iac,
  });
} else {
  new MtlsStack(app, settings.prefix, {
    namePrefix: settings.prefix,
    projectDir: import.meta.dirname,
    mesh: selectWorkloads(spec, settings.workloads),
    baseImages,
    ...ca,
    caPort: settings.caPort,
    hostPorts: settings.hostPorts,
    clientRate: settings.clientRate,
    // The engine the scripts run (recorded in the state).
    iac: settings.iac,
    owner: typeof owner === 'string' && owner !== '' ? owner : undefined,
  });
}
app.synth();
