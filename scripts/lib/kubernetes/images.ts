/**
 * Images in the cluster's containerd without a registry: the pause image,
 * built from Kubernetes' own build/pause/linux/pause.c and written as an OCI
 * archive (one layer, `/pause`, user 65535, as upstream's Dockerfile makes
 * it), and any image Docker holds (`docker save | ctr images import`), for
 * pods with `imagePullPolicy: Never`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import { pack } from 'tar-stream';
import { $, fs } from 'zx';

import { labelArgs } from '../../../stack/labels.js';
import { baseImageBuildArgs, imageFolder, type ImageRecipe } from '../../../stack/technology.js';
import { type BaseImages, KUBERNETES_LOCAL } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from '../toolchain/cache.js';
import { aptInstall } from '../toolchain/docker-engine.js';
import { goModDownload } from '../toolchain/go-build.js';
import type { ClusterLayout } from './layout.js';

/** The containerd namespace the CRI plugin (so the kubelet) sees. */
export const CRI_NAMESPACE = 'k8s.io';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: ReadonlyArray<{ name: string; body: Buffer; mode?: number }>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const f of files) p.entry({ name: f.name, mode: f.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0 }, f.body);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** An OCI image archive holding one static binary as its entrypoint, named `ref` for containerd. */
export async function singleBinaryImage(ref: string, binary: Buffer, opts: { path: string; user: string }): Promise<Buffer> {
  const layer = await tarOf([{ name: opts.path.replace(/^\//, ''), body: binary, mode: 0o755 }]);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { User: opts.user, Entrypoint: [opts.path] },
      rootfs: { type: 'layers', diff_ids: [sha(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }),
  );
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha(manifest),
        size: manifest.length,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.split(':').pop() },
      },
    ],
  };
  const blob = (b: Buffer) => ({ name: `blobs/sha256/${sha(b).slice('sha256:'.length)}`, body: b });
  return tarOf([
    { name: 'oci-layout', body: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { name: 'index.json', body: Buffer.from(JSON.stringify(index)) },
    blob(layer),
    blob(config),
    blob(manifest),
  ]);
}

/** Builds the pause image's archive once per version (gcc -static, as upstream's Makefile does). */
export async function ensurePauseArchive(paths: CachePaths, layout: ClusterLayout): Promise<string> {
  const archive = path.join(layout.pauseDir, 'pause.oci.tar');
  if (await fs.pathExists(archive)) return archive;
  const k8s = await goModDownload(paths, KUBERNETES_LOCAL.kubernetes.goModule, KUBERNETES_LOCAL.kubernetes.version);
  const tag = KUBERNETES_LOCAL.pauseImage.split(':').pop()!;
  const binary = path.join(layout.pauseDir, 'pause');
  await fs.mkdirp(layout.pauseDir);
  await aptInstall(['gcc', 'libc6-dev'], paths);
  const cc = await $({
    quiet: true,
    nothrow: true,
  })`gcc -Os -Wall -Werror -static -DVERSION=v${tag} -o ${binary} ${path.join(k8s, 'build/pause/linux/pause.c')}`;
  if (cc.exitCode !== 0) throw new UserError(`gcc could not build the pause binary (install gcc and libc6-dev): ${cc.stderr.trim()}`);
  const image = await singleBinaryImage(KUBERNETES_LOCAL.pauseImage, await fs.readFile(binary), { path: '/pause', user: '65535:65535' });
  await fs.writeFile(`${archive}.partial`, image);
  await fs.move(`${archive}.partial`, archive, { overwrite: true });
  return archive;
}

const ctrCmd = (layout: ClusterLayout) => [path.join(layout.nodeBin, 'ctr'), '--address', layout.containerdSocket, '--namespace', CRI_NAMESPACE];

/** The image references the cluster's containerd holds. */
export async function clusterImages(layout: ClusterLayout): Promise<string[]> {
  const out = await $({ quiet: true, nothrow: true, timeout: '60s' })`${ctrCmd(layout)} images list --quiet`;
  if (out.exitCode !== 0) throw new Error(`ctr images list failed: ${out.stderr.trim()}`);
  return out.stdout.split('\n').filter(Boolean);
}

export async function importArchive(layout: ClusterLayout, file: string): Promise<void> {
  const out = await $({ quiet: true, nothrow: true, timeout: '5m' })`${ctrCmd(layout)} images import ${file}`;
  if (out.exitCode !== 0) throw new UserError(`ctr could not import ${file}: ${out.stderr.trim()}`);
}

/** Copies an image from Docker into the cluster (`docker save | ctr images import`), for `imagePullPolicy: Never`. */
export async function importDockerImage(layout: ClusterLayout, image: string): Promise<void> {
  const out = await $({ quiet: true, nothrow: true, timeout: '10m' })`docker save ${image} | ${ctrCmd(layout)} images import -`;
  if (out.exitCode !== 0) throw new UserError(`could not import ${image} from Docker into the cluster: ${out.stderr.trim()}`);
}

/**
 * Builds one of the project's images with Docker, as the Docker target's
 * stack does (the same recipe and base images), under `tag`, and imports it
 * into the cluster's containerd for pods with `imagePullPolicy: Never`.
 */
export async function buildIntoCluster(
  layout: ClusterLayout,
  image: {
    readonly recipe: ImageRecipe;
    readonly baseImages: BaseImages;
    readonly projectDir: string;
    readonly tag: string;
    /** stackLabels: the Dockerfiles apply them, so the stack's images are found by label, as on Docker. */
    readonly labels?: Record<string, string>;
  },
): Promise<void> {
  const { recipe, baseImages, tag } = image;
  const context = path.join(image.projectDir, recipe.contextDir);
  const buildArgs = { ...baseImageBuildArgs(recipe, baseImages), ...(image.labels ? labelArgs(image.labels) : {}) };
  const args = Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  const build = await $({
    quiet: true,
    nothrow: true,
    timeout: '20m',
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  })`docker build --quiet --file ${path.join(context, recipe.dockerfile ?? 'Dockerfile')} ${args} --tag ${tag} ${context}`;
  if (build.exitCode !== 0)
    throw new UserError(`docker build of ${tag} (${imageFolder(recipe)}) failed: ${build.stderr.trim().split('\n').slice(-10).join('\n')}`);
  await importDockerImage(layout, tag);
}
