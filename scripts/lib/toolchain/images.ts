import path from 'node:path';

import { $, fs } from 'zx';

import {
  BASE_IMAGE_KEYS,
  type BaseImageKey,
  type BaseImages,
  LOCAL_IMAGES,
  NODE_RUNTIME,
  OFFICIAL_IMAGES,
  STEP_CA_VERSION,
  STEP_CLI_VERSION,
} from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';
import { aptInstall } from './docker-engine.js';
import { goBuildInModule } from './go-build.js';
import { buildStandIn, imageExists, importDebian } from './image-build.js';
import { ensureNodeBinary, nodeBinaryPath } from './node-runtime.js';
import { buildRecipeStandIns, recipeStandInRefs } from './recipe-stand-ins.js';
import { FULL_SCOPE, inScope, type ToolchainScope } from './scope.js';

export type { BaseImages };

const docker = $({ quiet: true, nothrow: true, timeout: '20m', env: { ...process.env, DOCKER_BUILDKIT: '0' } });
const repoRoot = path.resolve(import.meta.dirname, '../../..');

export function stepBinaries(paths: CachePaths) {
  return {
    stepCa: path.join(paths.bin, `step-ca-v${STEP_CA_VERSION}`, 'step-ca'),
    step: path.join(paths.bin, `step-v${STEP_CLI_VERSION}`, 'step'),
  };
}

/** step-ca and step, built from the Go module proxy with CGO off. */
export async function ensureStepBinaries(paths: CachePaths, opts: { build: boolean }) {
  const bins = stepBinaries(paths);
  const built: string[] = [];
  const wanted = [
    { out: bins.stepCa, module: 'github.com/smallstep/certificates', version: `v${STEP_CA_VERSION}`, pkg: './cmd/step-ca', name: 'step-ca' },
    { out: bins.step, module: 'github.com/smallstep/cli', version: `v${STEP_CLI_VERSION}`, pkg: './cmd/step', name: 'step' },
  ];
  for (const w of wanted) {
    if (await fs.pathExists(w.out)) continue;
    if (!opts.build) continue;
    await goBuildInModule(paths, { module: w.module, version: w.version, pkg: w.pkg, output: w.out, logName: `build-${w.name}` });
    built.push(w.name);
  }
  return { ...bins, built, present: (await fs.pathExists(bins.stepCa)) && (await fs.pathExists(bins.step)) };
}

/** The Dockerfiles of the stand-ins for the official images. */
export const BASE_IMAGE_DIRS = {
  stepCa: path.join(repoRoot, 'images', 'stand-ins', 'step-ca'),
  node: path.join(repoRoot, 'images', 'stand-ins', 'node'),
} as const;

/**
 * The upstream image runs `setcap CAP_NET_BIND_SERVICE=+eip` on step-ca. The
 * stand-in carries the same file capability: set on the host (root), packed
 * with its security.capability xattr, applied by the Dockerfile's ADD.
 */
async function packStepCaWithCapability(paths: CachePaths, ctx: string): Promise<void> {
  const stage = path.join(paths.imageContexts, 'step-ca-rootfs');
  const bin = path.join(stage, 'usr', 'local', 'bin', 'step-ca');
  await fs.emptyDir(stage);
  await fs.copy(stepBinaries(paths).stepCa, bin);
  await fs.chmod(bin, 0o755);
  const sh = $({ quiet: true, nothrow: true, timeout: '2m' });
  const setcap = await sh`setcap cap_net_bind_service=+eip ${bin}`;
  if (setcap.exitCode !== 0) {
    throw new UserError(`setcap on the stand-in step-ca failed (${setcap.stderr.trim()}); it needs root and libcap2-bin.`);
  }
  const tar =
    await sh`tar --xattrs --xattrs-include=security.capability --owner=0 --group=0 --numeric-owner -cf ${path.join(ctx, 'step-ca.tar')} -C ${stage} usr`;
  await fs.remove(stage);
  if (tar.exitCode !== 0) throw new UserError(`packing step-ca failed: ${tar.stderr.trim()}`);
}

/** The offline stand-ins for the official images, built on the Debian base. */
export async function buildStandIns(paths: CachePaths): Promise<string[]> {
  const built: string[] = [];
  const bins = stepBinaries(paths);
  const debian = { DEBIAN_IMAGE: LOCAL_IMAGES.debian };
  if (
    await buildStandIn(paths, {
      ref: LOCAL_IMAGES.stepCa,
      dir: BASE_IMAGE_DIRS.stepCa,
      binaries: [bins.step, bins.stepCa],
      buildArgs: debian,
      prepare: async (ctx) => {
        await fs.remove(path.join(ctx, 'step-ca')); // goes in through the tar only
        await packStepCaWithCapability(paths, ctx);
      },
    })
  )
    built.push(LOCAL_IMAGES.stepCa);
  if (
    await buildStandIn(paths, {
      ref: LOCAL_IMAGES.node,
      dir: BASE_IMAGE_DIRS.node,
      binaries: [nodeBinaryPath(paths)],
      buildArgs: { ...debian, NODE_VERSION: NODE_RUNTIME.version },
    })
  )
    built.push(LOCAL_IMAGES.node);
  return built;
}

/**
 * Connected: the official images (pulled once). Offline: a Debian base and
 * stand-ins for the official step-ca and node images on it, each built once
 * and reused.
 */
export async function ensureBaseImages(
  paths: CachePaths,
  opts: { offline: boolean; build: boolean; scope?: ToolchainScope },
): Promise<{ images: BaseImages; built: string[]; missing: string[] }> {
  const wanted = (key: BaseImageKey) => inScope(opts.scope ?? FULL_SCOPE, key);
  const built: string[] = [];
  const missing: string[] = [];
  if (!opts.offline) {
    for (const ref of BASE_IMAGE_KEYS.filter(wanted).map((k) => OFFICIAL_IMAGES[k])) {
      if (await imageExists(ref)) continue;
      if (!opts.build) {
        missing.push(ref);
        continue;
      }
      const pull = await docker`docker pull ${ref}`;
      if (pull.exitCode !== 0)
        throw new UserError(`docker pull ${ref} failed: ${pull.stderr.trim()}. Offline? Set MTLS_OFFLINE=1 to build local images instead.`);
      built.push(ref);
    }
    return { images: OFFICIAL_IMAGES, built, missing };
  }
  if (!(await imageExists(LOCAL_IMAGES.debian))) {
    if (opts.build) {
      await importDebian(LOCAL_IMAGES.debian, [], paths);
      built.push(LOCAL_IMAGES.debian);
    } else {
      missing.push(LOCAL_IMAGES.debian);
    }
  }
  if (opts.build) {
    await aptInstall(['libcap2-bin'], paths); // setcap, for the step-ca stand-in
    const node = await ensureNodeBinary(paths, { build: true });
    if (node.fetched) built.push(`node ${NODE_RUNTIME.version}`);
    built.push(...(await buildStandIns(paths)));
    built.push(...(await buildRecipeStandIns(paths, wanted)));
  } else {
    for (const ref of [LOCAL_IMAGES.stepCa, LOCAL_IMAGES.node, ...recipeStandInRefs(wanted)]) if (!(await imageExists(ref))) missing.push(ref);
  }
  return { images: LOCAL_IMAGES, built, missing };
}
