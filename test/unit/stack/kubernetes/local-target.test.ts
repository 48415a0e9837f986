// The Kubernetes stack as `npm run deploy` makes it for the local cluster
// (MTLS_TARGET=kubernetes): the images it names are exactly those the deploy
// builds and imports into the node, in the repositories the Docker stack
// uses for the same recipes, tagged by what they are built from (so a change
// rolls the pods); never pulled; Services in the cluster's range from the
// given address; claims on the node's static volumes.
import { Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';

import { NAMED_MESHES } from '../../../../meshes/index.js';
import { imageRecipes } from '../../../../scripts/lib/kubernetes/target.js';
import { KubernetesStack } from '../../../../stack/kubernetes/kubernetes-stack.js';
import { clusterImageName, localCluster, localClusterStackProps } from '../../../../stack/kubernetes/local-target.js';
import type { Deployment, Job } from '../../../../stack/kubernetes/objects.js';
import { HOST_PATH_STORAGE_CLASS } from '../../../../stack/kubernetes/volumes.js';
import { resolveMesh } from '../../../../stack/mesh-spec.js';
import { NODE_IMAGE, STEP_CA_IMAGE } from '../../../../stack/technology.js';
import { BASE_IMAGES, buildStack, PROJECT_DIR } from '../fixtures.js';

const LAYOUT = { adminKubeconfig: '/c/kubeconfig/admin.kubeconfig', kubernetesBin: '/c/kubernetes-v1/bin', state: '/c/cluster' };

const SOURCES = { projectDir: PROJECT_DIR, baseImages: BASE_IMAGES };

describe("an image's tag on the cluster", () => {
  it('is the same for the same sources, and changes with a base image (a changed file changes its content hash, as on Docker)', () => {
    expect(clusterImageName('mtls', STEP_CA_IMAGE, SOURCES)).toBe(clusterImageName('mtls', STEP_CA_IMAGE, SOURCES));
    const other = { ...SOURCES, baseImages: { ...BASE_IMAGES, stepCa: 'registry.example/stepCa:other' } };
    expect(clusterImageName('mtls', STEP_CA_IMAGE, other)).not.toBe(clusterImageName('mtls', STEP_CA_IMAGE, SOURCES));
    expect(clusterImageName('mtls', NODE_IMAGE, other)).toBe(clusterImageName('mtls', NODE_IMAGE, SOURCES));
  });
});

describe.each(Object.keys(NAMED_MESHES))('the %s mesh on the local cluster', (meshName) => {
  const spec = NAMED_MESHES[meshName]!.spec;
  const mesh = resolveMesh(spec);
  const props = localClusterStackProps(localCluster(LAYOUT, '10.96.0.2'), {
    prefix: 'mtls',
    mesh,
    images: SOURCES,
    statePath: '/p/.state/mtls/terraform.tfstate',
    ca: {},
  });
  const stack = new KubernetesStack(Testing.app(), 'mtls', props);
  const pods = stack.objects.filter((o): o is Deployment | Job => o.kind === 'Deployment' || o.kind === 'Job').map((o) => o.spec.template.spec);
  const images = new Set(pods.flatMap((p) => [...p.containers, ...(p.initContainers ?? [])].map((c) => c.image)));

  it("runs exactly the images the deploy builds, in the Docker stack's repositories, tagged by content, never pulled", () => {
    const built = imageRecipes(mesh).map((r) => clusterImageName('mtls', r, SOURCES));
    expect([...images].sort()).toEqual([...built].sort());
    const repository = (name: string) => name.slice(0, name.lastIndexOf(':'));
    const dockerImages = Object.values(buildStack({ namePrefix: 'mtls', mesh: spec }).json.resource?.['docker_image'] ?? {}).map(
      (i) => (i as { name: string }).name,
    );
    expect(dockerImages.map(repository).sort()).toEqual(built.map(repository).sort());
    for (const name of built) expect(name).toMatch(/:[0-9a-f]{16}$/);
    for (const c of pods.flatMap((p) => [...p.containers, ...(p.initContainers ?? [])])) expect(c.imagePullPolicy, c.name).toBe('Never');
  });

  it("uses the local cluster's kubeconfig and kubectl, its static volumes and Service addresses from the given one", () => {
    expect(props).toMatchObject({
      kubeconfig: LAYOUT.adminKubeconfig,
      kubectl: '/c/kubernetes-v1/bin/kubectl',
      hostPathDir: '/c/cluster/volumes',
      storageClassName: HOST_PATH_STORAGE_CLASS,
      statePath: '/p/.state/mtls/terraform.tfstate',
    });
    expect(props.serviceIps['ca']).toBe('10.96.0.2');
    expect(new Set(Object.values(props.serviceIps)).size).toBe(Object.keys(props.serviceIps).length);
  });
});
