/**
 * The k8s suite owns the local cluster for its run: it brings it up (building
 * the binaries when this version is not cached), builds a small image with
 * Docker from the toolchain's Debian base, imports it into the cluster's
 * containerd, and brings everything down afterwards, also when setup fails.
 */
import type { TestProject } from 'vitest/node';
import { $, fs } from 'zx';

import { createUi } from '../../scripts/lib/cli/ui.js';
import { KUBELET_TUNABLES, savedTunables } from '../../scripts/lib/kubernetes/host-state.js';
import { importDockerImage } from '../../scripts/lib/kubernetes/images.js';
import { clusterLayout } from '../../scripts/lib/kubernetes/layout.js';
import { clusterDown, clusterUp } from '../../scripts/lib/kubernetes/local-cluster.js';
import { cachePaths } from '../../scripts/lib/toolchain/cache.js';
import { ensureToolchain } from '../../scripts/lib/toolchain/index.js';
import { readSetting } from '../../settings.js';
import { PROJECT } from '../../stack/versions.js';
import type { K8sContext } from './helpers/context.js';

const IMAGE = `${PROJECT}/k8s-smoke:test`;
const IMAGE_FILE = { path: '/etc/k8s-smoke.txt', content: `built by Docker for the ${PROJECT} k8s suite` };

const docker = $({ quiet: true, nothrow: true, timeout: '10m', env: { ...process.env, DOCKER_BUILDKIT: '0' } });

export async function readTunables(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of KUBELET_TUNABLES) values[key] = (await fs.readFile(`/proc/sys/${key}`, 'utf8')).trim();
  return values;
}

/** The smoke image: the toolchain's Debian base, one file, and uid 1000 as its user. */
export function smokeDockerfile(base: string): string {
  return [`FROM ${base}`, `RUN printf '%s\\n' '${IMAGE_FILE.content}' > ${IMAGE_FILE.path}`, 'USER 1000:1000', ''].join('\n');
}

export default async function setup(project: TestProject) {
  const log = (s: string) => process.stderr.write(`[k8s setup] ${s}\n`);
  const { toolchain } = await ensureToolchain(createUi({ quiet: true }), { engine: readSetting('iac') });
  const paths = cachePaths();
  const layout = clusterLayout(paths);
  const teardown = async () => {
    const { stopped } = await clusterDown(layout, log);
    log(`cluster down (stopped ${stopped.join(', ') || 'nothing'})`);
    await docker`docker image rm ${IMAGE}`;
  };
  // The host's own values: read now, or, when a cluster is already up (the kubelet has changed them), as `up` recorded them.
  const hostTunables = (await savedTunables(layout)) ?? (await readTunables());
  try {
    const up = await clusterUp(paths, layout, log);
    log(`node ${up.node.name} Ready ${up.readySeconds.toFixed(1)} s after start; kubeconfig ${up.kubeconfig}`);
    const build = await docker({ input: smokeDockerfile(toolchain!.baseImages.debian) })`docker build --quiet --tag ${IMAGE} -`;
    if (build.exitCode !== 0) throw new Error(`docker build of ${IMAGE} failed: ${build.stderr.trim()}`);
    await importDockerImage(layout, IMAGE);
    const context: K8sContext = { kubeconfig: up.kubeconfig, image: IMAGE, imageFile: IMAGE_FILE, namespace: 'k8s-smoke', hostTunables };
    project.provide('k8s', context);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
