import { createHash } from 'node:crypto';
import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';

// Building and inspecting local images: the primitives both the base-image
// stand-ins (images.ts) and the recipe stand-ins (recipe-stand-ins.ts) use.

const docker = $({ quiet: true, nothrow: true, timeout: '20m', env: { ...process.env, DOCKER_BUILDKIT: '0' } });

export async function imageLabel(ref: string, label: string): Promise<string | undefined> {
  const out = await docker`docker image inspect --format ${`{{ index .Config.Labels "${label}" }}`} ${ref}`;
  if (out.exitCode !== 0) return undefined;
  const v = out.stdout.trim();
  return v === '<no value>' ? '' : v;
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await docker`docker image inspect ${ref}`).exitCode === 0;
}

/**
 * A Debian bookworm root filesystem from Debian's own mirror (the sources the
 * host already uses), imported as an image: the offline replacement for
 * pulling a debian image from a registry.
 */
export async function importDebian(ref: string, packages: string[], paths: CachePaths): Promise<void> {
  const sources = (await fs.pathExists('/etc/apt/sources.list.d/debian.sources')) ? '/etc/apt/sources.list.d/debian.sources' : '/etc/apt/sources.list';
  const include = packages.length ? [`--include=${packages.join(',')}`] : [];
  const log = path.join(paths.logs, `mmdebstrap-${ref.replace(/[/:]/g, '_')}.log`);
  await fs.mkdirp(paths.logs);
  const out = await $({
    quiet: true,
    nothrow: true,
    timeout: '20m',
  })`set -o pipefail; mmdebstrap --variant=minbase --quiet ${include} bookworm - ${sources} 2>${log} | docker import --change ${'ENV LANG=C.UTF-8'} --change ${`LABEL org.opencontainers.image.title=${ref}`} - ${ref}`;
  if (out.exitCode !== 0) {
    throw new UserError(
      `building base image ${ref} with mmdebstrap failed: ${out.stderr.trim()} (see ${log}). Is mmdebstrap installed and Debian's mirror reachable?`,
    );
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
