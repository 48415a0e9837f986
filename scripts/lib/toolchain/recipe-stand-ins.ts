/**
 * Offline stand-ins for the official images the recipes build FROM (nginx,
 * curl, golang, python, postgres). Each is two layers: a Debian root
 * filesystem with the distribution's packages of that tool (mmdebstrap, from
 * the Debian mirror the host uses), then images/stand-ins/<name>/Dockerfile,
 * which reproduces what the recipe relies on in the official image and cites
 * the upstream lines. The Go stand-in carries this machine's Go toolchain.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import { $, fs } from 'zx';

import { type BaseImageKey, LOCAL_IMAGES, OFFICIAL_IMAGES, PROJECT } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import { type CachePaths, cachePaths } from './cache.js';
import { goBuildInModule } from './go-build.js';
import { buildStandIn, imageExists, importDebian } from './image-build.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

interface RecipeStandIn {
  readonly key: BaseImageKey;
  /** Folder under images/stand-ins. */
  readonly dir: string;
  /** Debian packages of its root filesystem. */
  readonly packages: readonly string[];
  /** A script in its folder that makes the root filesystem instead (`rootfs.sh TAG`), when packages alone are not enough. */
  readonly rootfsScript?: string;
  /** Adds generated files to the build context. */
  readonly prepare?: (ctx: string) => Promise<void>;
  /** Extra build args. */
  readonly buildArgs?: () => Promise<Record<string, string>>;
}

/** The host's Go toolchain as `go.tar` (`go/…`), the layout the golang stand-in expects. */
async function packGoroot(ctx: string): Promise<void> {
  const sh = $({ quiet: true, nothrow: true, timeout: '10m' });
  const goroot = (await sh`go env GOROOT`).stdout.trim();
  if (!goroot) throw new UserError("no Go toolchain on PATH: the offline golang stand-in packs the host's GOROOT");
  const tar =
    await sh`tar --owner=0 --group=0 --numeric-owner --exclude=go/pkg/obj --exclude=go/test -cf ${path.join(ctx, 'go.tar')} -C ${path.dirname(goroot)} ${path.basename(goroot)}`;
  if (tar.exitCode !== 0) throw new UserError(`packing GOROOT failed: ${tar.stderr.trim()}`);
}

async function goVersion(): Promise<string> {
  const out = await $({ quiet: true, nothrow: true })`go env GOVERSION`;
  return out.stdout.trim().replace(/^go/, '');
}

const caddyVersion = () => OFFICIAL_IMAGES.caddy.slice(OFFICIAL_IMAGES.caddy.indexOf(':') + 1);
/** Where the toolchain keeps the caddy binary of the pinned version (the recipe's tests run it). */
export const caddyBinaryPath = (paths: CachePaths = cachePaths()) => path.join(paths.bin, `caddy-v${caddyVersion()}`, 'caddy');

/** Caddy from the Go module proxy into the context as `caddy`, built once per version into the cache's bin/. */
async function caddyBinary(ctx: string): Promise<void> {
  const paths = cachePaths();
  const version = caddyVersion();
  const out = caddyBinaryPath(paths);
  if (!(await fs.pathExists(out))) {
    const ldflags = `-X github.com/caddyserver/caddy/v2.CustomVersion=v${version}`;
    await goBuildInModule(paths, {
      module: 'github.com/caddyserver/caddy/v2',
      version: `v${version}`,
      pkg: './cmd/caddy',
      output: out,
      logName: 'build-caddy',
      ldflags,
    });
  }
  await fs.copy(out, path.join(ctx, 'caddy'));
}

export const RECIPE_STAND_INS: readonly RecipeStandIn[] = [
  { key: 'nginx', dir: 'nginx', packages: ['nginx', 'openssl', 'mawk'] },
  { key: 'curl', dir: 'curl', packages: ['curl', 'ca-certificates'] },
  { key: 'python', dir: 'python', packages: ['python3', 'python3-requests', 'ca-certificates', 'netbase', 'tzdata'] },
  // rootfs.sh: the postgres account (uid 999) must exist before the packages' scripts run.
  { key: 'postgres', dir: 'postgres', packages: ['postgresql-15', 'postgresql-client-15', 'locales'], rootfsScript: 'rootfs.sh' },
  { key: 'httpd', dir: 'httpd', packages: ['apache2-bin', 'openssl', 'mawk', 'ca-certificates'] },
  { key: 'haproxy', dir: 'haproxy', packages: ['haproxy', 'ca-certificates', 'openssl', 'mawk'] },
  { key: 'mariadb', dir: 'mariadb', packages: ['mariadb-server', 'mariadb-client', 'ca-certificates', 'openssl', 'tzdata'] },
  { key: 'ruby', dir: 'ruby', packages: ['ruby', 'ca-certificates', 'mawk'] },
  { key: 'php', dir: 'php', packages: ['php-cli', 'php-curl', 'ca-certificates', 'mawk'] },
  // rootfs.sh: node_exporter built from the Go module proxy (bookworm's 1.5.0 has no client_allowed_sans).
  { key: 'nodeExporter', dir: 'node-exporter', packages: ['busybox'], rootfsScript: 'rootfs.sh' },
  { key: 'prometheus', dir: 'prometheus', packages: ['prometheus', 'busybox'] },
  // gcc, libc6-dev, libssl-dev: the Redis recipe's build stage compiles its module offline.
  { key: 'redis', dir: 'redis', packages: ['redis-server', 'redis-tools', 'tzdata', 'openssl', 'gcc', 'libc6-dev', 'libssl-dev'] },
  { key: 'golang', dir: 'golang', packages: [], prepare: packGoroot, buildArgs: async () => ({ GOLANG_VERSION: await goVersion() }) },
  // prepare: caddy built from the Go module proxy at the official image's version, cached by version (as step-ca is).
  {
    key: 'caddy',
    dir: 'caddy',
    packages: ['ca-certificates', 'curl', 'libcap2-bin', 'mailcap', 'mawk'],
    prepare: caddyBinary,
    buildArgs: () => Promise.resolve({ CADDY_VERSION: caddyVersion() }),
  },
];

async function runRootfsScript(paths: CachePaths, script: string, ref: string): Promise<void> {
  await fs.mkdirp(paths.logs);
  const log = path.join(paths.logs, `rootfs-${ref.replace(/[/:]/g, '_')}.log`);
  const out = await $({ quiet: true, nothrow: true, timeout: '20m' })`sh ${script} ${ref}`;
  await fs.writeFile(log, out.stdout + out.stderr);
  if (out.exitCode !== 0)
    throw new UserError(`${path.basename(script)} for ${ref} failed (see ${log}). Is mmdebstrap installed and Debian's mirror reachable?`);
}

/**
 * A root filesystem's tag names its inputs (the package list, the script that
 * makes it), so a changed list makes a new root filesystem instead of reusing
 * one that lacks a package.
 */
async function rootfsRef(s: RecipeStandIn, dir: string): Promise<string> {
  const inputs = createHash('sha256').update(JSON.stringify(s.packages));
  if (s.rootfsScript) inputs.update(await fs.readFile(path.join(dir, s.rootfsScript)));
  return `${PROJECT}/${s.dir}-rootfs:bookworm-${inputs.digest('hex').slice(0, 12)}`;
}

/** The stand-ins' images; `wanted` picks some by base image key. */
export function recipeStandInRefs(wanted: (key: BaseImageKey) => boolean = () => true): string[] {
  return RECIPE_STAND_INS.filter((s) => wanted(s.key)).map((s) => LOCAL_IMAGES[s.key]);
}

/** Builds each recipe stand-in whose inputs changed; returns what it built. */
export async function buildRecipeStandIns(paths: CachePaths, wanted: (key: BaseImageKey) => boolean = () => true): Promise<string[]> {
  const built: string[] = [];
  for (const s of RECIPE_STAND_INS.filter((x) => wanted(x.key))) {
    const dir = path.join(repoRoot, 'images', 'stand-ins', s.dir);
    if (!(await fs.pathExists(dir))) throw new UserError(`stand-in ${LOCAL_IMAGES[s.key]}: ${dir} is missing`);
    let base: string = LOCAL_IMAGES.debian;
    if (s.packages.length) {
      base = await rootfsRef(s, dir);
      if (!(await imageExists(base))) {
        if (s.rootfsScript) await runRootfsScript(paths, path.join(dir, s.rootfsScript), base);
        else await importDebian(base, [...s.packages], paths);
        built.push(base);
      }
    }
    const rebuilt = await buildStandIn(paths, {
      ref: LOCAL_IMAGES[s.key],
      dir,
      binaries: [],
      buildArgs: { ROOTFS_IMAGE: base, ...(await s.buildArgs?.()) },
      prepare: s.prepare,
    });
    if (rebuilt) built.push(LOCAL_IMAGES[s.key]);
  }
  return built;
}
