import { createHash } from 'node:crypto';
import path from 'node:path';
import { $, fs } from 'zx';
import { BASE_IMAGE_KEYS, LOCAL_IMAGES, NODE_RUNTIME, OFFICIAL_IMAGES, STEP_CA_VERSION, STEP_CLI_VERSION, type BaseImages } from '../../../stack/versions.js';
import type { CachePaths } from '../cache.js';
import { UserError } from '../ui.js';
import { aptInstall } from './docker-engine.js';
import { goBuildInModule } from './go-build.js';
import { ensureNodeBinary, nodeBinaryPath } from './node-runtime.js';
import { buildRecipeStandIns, recipeStandInRefs } from './recipe-stand-ins.js';

export type { BaseImages };

const docker = $({ quiet: true, nothrow: true, timeout: '20m', env: { ...process.env, DOCKER_BUILDKIT: '0' } });
const repoRoot = path.resolve(import.meta.dirname, '../../..');

export async function imageLabel(ref: string, label: string): Promise<string | undefined> {
  const out = await docker`docker image inspect --format ${`{{ index .Config.Labels "${label}" }}`} ${ref}`;
  if (out.exitCode !== 0) return undefined;
  const v = out.stdout.trim();
  return v === '<no value>' ? '' : v;
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await docker`docker image inspect ${ref}`).exitCode === 0;
}

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

/**
 * A Debian bookworm root filesystem from Debian's own mirror (the sources the
 * host already uses), imported as an image: the offline replacement for
 * pulling a debian image from a registry.
 */
export async function importDebian(ref: string, packages: string[], paths: CachePaths): Promise<void> {
  const sources = (await fs.pathExists('/etc/apt/sources.list.d/debian.sources'))
    ? '/etc/apt/sources.list.d/debian.sources'
    : '/etc/apt/sources.list';
  const include = packages.length ? [`--include=${packages.join(',')}`] : [];
  const log = path.join(paths.logs, `mmdebstrap-${ref.replace(/[/:]/g, '_')}.log`);
  await fs.mkdirp(paths.logs);
  const out = await $({ quiet: true, nothrow: true, timeout: '20m' })`set -o pipefail; mmdebstrap --variant=minbase --quiet ${include} bookworm - ${sources} 2>${log} | docker import --change ${'ENV LANG=C.UTF-8'} --change ${`LABEL org.opencontainers.image.title=${ref}`} - ${ref}`;
  if (out.exitCode !== 0) {
    throw new UserError(`building base image ${ref} with mmdebstrap failed: ${out.stderr.trim()} (see ${log}). Is mmdebstrap installed and Debian's mirror reachable?`);
  }
}

/**
 * Identity of what makes an image, stored as a label to detect changes: the
 * project's files by content, the built binaries by path (it names their
 * version), size and mtime — hashing 120 MB of binaries on every warm run
 * would be most of its time.
 */
async function contextHash(sources: string[], binaries: string[], extra: string[] = []): Promise<string> {
  const h = createHash('sha256');
  for (const f of sources) h.update(path.basename(f)).update(await fs.readFile(f));
  for (const f of binaries) {
    const st = await fs.stat(f);
    h.update(`${f}\0${st.size}\0${st.mtimeMs}`);
  }
  for (const e of extra) h.update(`\0${e}`);
  return h.digest('hex').slice(0, 16);
}

const INPUTS_LABEL = 'io.mtls-reference.inputs';

/** The Dockerfiles of the stand-ins for the official images. */
export const BASE_IMAGE_DIRS = {
  stepCa: path.join(repoRoot, 'services', 'base-images', 'step-ca'),
  node: path.join(repoRoot, 'services', 'base-images', 'node'),
} as const;

export interface StandInBuild {
  readonly ref: string;
  readonly dir: string;
  /** Binaries copied into the context (their identity goes into the label). */
  readonly binaries: string[];
  readonly buildArgs: Record<string, string>;
  /** Adds generated files to the context before the build. */
  readonly prepare?: (ctx: string) => Promise<void>;
}

/** Builds a stand-in image unless one with the same inputs exists. */
export async function buildStandIn(paths: CachePaths, b: StandInBuild): Promise<boolean> {
  const files = (await fs.readdir(b.dir)).sort().map((f: string) => path.join(b.dir, f));
  const args = Object.entries(b.buildArgs).map(([k, v]) => `${k}=${v}`);
  const inputs = await contextHash(files, b.binaries, args);
  if ((await imageLabel(b.ref, INPUTS_LABEL)) === inputs) return false;
  const ctx = path.join(paths.imageContexts, path.basename(b.dir));
  await fs.emptyDir(ctx);
  for (const f of [...files, ...b.binaries]) await fs.copy(f, path.join(ctx, path.basename(f)));
  await b.prepare?.(ctx);
  const buildArgs = args.flatMap((a) => ['--build-arg', a]);
  const out = await docker`docker build --quiet ${buildArgs} --label ${`${INPUTS_LABEL}=${inputs}`} -t ${b.ref} ${ctx}`;
  if (out.exitCode !== 0) throw new UserError(`docker build of ${b.ref} failed:\n${out.stderr.trim()}`);
  return true;
}

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
  const tar = await sh`tar --xattrs --xattrs-include=security.capability --owner=0 --group=0 --numeric-owner -cf ${path.join(ctx, 'step-ca.tar')} -C ${stage} usr`;
  await fs.remove(stage);
  if (tar.exitCode !== 0) throw new UserError(`packing step-ca failed: ${tar.stderr.trim()}`);
}

/** The offline stand-ins for the official images, built on the Debian base. */
export async function buildStandIns(paths: CachePaths): Promise<string[]> {
  const built: string[] = [];
  const bins = stepBinaries(paths);
  const debian = { DEBIAN_IMAGE: LOCAL_IMAGES.debian };
  if (await buildStandIn(paths, {
    ref: LOCAL_IMAGES.stepCa,
    dir: BASE_IMAGE_DIRS.stepCa,
    binaries: [bins.step, bins.stepCa],
    buildArgs: debian,
    prepare: async (ctx) => {
      await fs.remove(path.join(ctx, 'step-ca')); // goes in through the tar only
      await packStepCaWithCapability(paths, ctx);
    },
  })) built.push(LOCAL_IMAGES.stepCa);
  if (await buildStandIn(paths, {
    ref: LOCAL_IMAGES.node,
    dir: BASE_IMAGE_DIRS.node,
    binaries: [nodeBinaryPath(paths)],
    buildArgs: { ...debian, NODE_VERSION: NODE_RUNTIME.version },
  })) built.push(LOCAL_IMAGES.node);
  return built;
}

/**
 * Connected: the official images (pulled once). Offline: a Debian base and
 * stand-ins for the official step-ca and node images on it, each built once
 * and reused.
 */
export async function ensureBaseImages(
  paths: CachePaths,
  opts: { offline: boolean; build: boolean },
): Promise<{ images: BaseImages; built: string[]; missing: string[] }> {
  const built: string[] = [];
  const missing: string[] = [];
  if (!opts.offline) {
    for (const ref of BASE_IMAGE_KEYS.map((k) => OFFICIAL_IMAGES[k])) {
      if (await imageExists(ref)) continue;
      if (!opts.build) { missing.push(ref); continue; }
      const pull = await docker`docker pull ${ref}`;
      if (pull.exitCode !== 0) throw new UserError(`docker pull ${ref} failed: ${pull.stderr.trim()}. Offline? Set MTLS_OFFLINE=1 to build local images instead.`);
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
    built.push(...(await buildRecipeStandIns(paths)));
  } else {
    for (const ref of [LOCAL_IMAGES.stepCa, LOCAL_IMAGES.node, ...recipeStandInRefs()]) if (!(await imageExists(ref))) missing.push(ref);
  }
  return { images: LOCAL_IMAGES, built, missing };
}
