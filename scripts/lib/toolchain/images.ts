import { createHash } from 'node:crypto';
import path from 'node:path';
import { $, fs } from 'zx';
import { LOCAL_IMAGES, OFFICIAL_IMAGES, STEP_CA_VERSION, STEP_CLI_VERSION } from '../../../stack/versions.js';
import type { CachePaths } from '../cache.js';
import { UserError } from '../ui.js';
import { goBuildInModule } from './go-build.js';

/** Base images the stack's Dockerfiles are built FROM (their build args). */
export interface BaseImages {
  readonly stepCa: string;
  readonly node: string;
}

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
 * pulling debian/node images from a registry.
 */
async function importDebian(ref: string, packages: string[], paths: CachePaths): Promise<void> {
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
async function contextHash(sources: string[], binaries: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of sources) h.update(path.basename(f)).update(await fs.readFile(f));
  for (const f of binaries) {
    const st = await fs.stat(f);
    h.update(`${f}\0${st.size}\0${st.mtimeMs}`);
  }
  return h.digest('hex').slice(0, 16);
}

const INPUTS_LABEL = 'io.mtls-reference.inputs';

async function buildLocalStepCa(paths: CachePaths, debianImage: string): Promise<boolean> {
  const bins = stepBinaries(paths);
  const src = path.join(repoRoot, 'services', 'step-ca');
  const files = [path.join(src, 'Dockerfile.base'), path.join(src, 'entrypoint.sh')];
  const inputs = await contextHash(files, [bins.step, bins.stepCa]);
  if ((await imageLabel(LOCAL_IMAGES.stepCa, INPUTS_LABEL)) === inputs) return false;
  const ctx = path.join(paths.imageContexts, 'step-ca');
  await fs.emptyDir(ctx);
  for (const f of [...files, bins.step, bins.stepCa]) await fs.copy(f, path.join(ctx, path.basename(f)));
  const out = await docker`docker build --quiet -f ${path.join(ctx, 'Dockerfile.base')} --build-arg ${`DEBIAN_IMAGE=${debianImage}`} --label ${`${INPUTS_LABEL}=${inputs}`} -t ${LOCAL_IMAGES.stepCa} ${ctx}`;
  if (out.exitCode !== 0) throw new UserError(`docker build of ${LOCAL_IMAGES.stepCa} failed:\n${out.stderr.trim()}`);
  return true;
}

/**
 * Connected: the official images (pulled once). Offline: a Debian base, a Node
 * base (Debian's nodejs) and a local step-ca image, each built once and reused.
 */
export async function ensureBaseImages(
  paths: CachePaths,
  opts: { offline: boolean; build: boolean },
): Promise<{ images: BaseImages; built: string[]; missing: string[] }> {
  const built: string[] = [];
  const missing: string[] = [];
  if (!opts.offline) {
    for (const ref of Object.values(OFFICIAL_IMAGES)) {
      if (await imageExists(ref)) continue;
      if (!opts.build) { missing.push(ref); continue; }
      const pull = await docker`docker pull ${ref}`;
      if (pull.exitCode !== 0) throw new UserError(`docker pull ${ref} failed: ${pull.stderr.trim()}. Offline? Set MTLS_OFFLINE=1 to build local images instead.`);
      built.push(ref);
    }
    return { images: { stepCa: OFFICIAL_IMAGES.stepCa, node: OFFICIAL_IMAGES.node }, built, missing };
  }
  const bases: Array<[string, string[]]> = [
    [LOCAL_IMAGES.debian, []],
    [LOCAL_IMAGES.node, ['nodejs', 'ca-certificates']],
  ];
  for (const [ref, packages] of bases) {
    if (await imageExists(ref)) continue;
    if (!opts.build) { missing.push(ref); continue; }
    await importDebian(ref, packages, paths);
    built.push(ref);
  }
  if (opts.build) {
    if (await buildLocalStepCa(paths, LOCAL_IMAGES.debian)) built.push(LOCAL_IMAGES.stepCa);
  } else if (!(await imageExists(LOCAL_IMAGES.stepCa))) {
    missing.push(LOCAL_IMAGES.stepCa);
  }
  return { images: { stepCa: LOCAL_IMAGES.stepCa, node: LOCAL_IMAGES.node }, built, missing };
}
