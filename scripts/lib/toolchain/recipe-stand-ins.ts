/**
 * Offline stand-ins for the official images the recipes build FROM (nginx,
 * curl, golang, python, postgres). Each is two layers: a Debian root
 * filesystem with the distribution's packages of that tool (mmdebstrap, from
 * the Debian mirror the host uses), then images/stand-ins/<name>/Dockerfile,
 * which reproduces what the recipe relies on in the official image and cites
 * the upstream lines. The Go stand-in carries this machine's Go toolchain.
 */
import path from 'node:path';

import { $, fs } from 'zx';

import { type BaseImageKey, LOCAL_IMAGES, PROJECT } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';
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

export const RECIPE_STAND_INS: readonly RecipeStandIn[] = [
  { key: 'nginx', dir: 'nginx', packages: ['nginx', 'openssl', 'mawk'] },
  { key: 'curl', dir: 'curl', packages: ['curl', 'ca-certificates'] },
  { key: 'python', dir: 'python', packages: ['python3', 'ca-certificates', 'netbase', 'tzdata'] },
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
  { key: 'golang', dir: 'golang', packages: [], prepare: packGoroot, buildArgs: async () => ({ GOLANG_VERSION: await goVersion() }) },
];

async function runRootfsScript(paths: CachePaths, script: string, ref: string): Promise<void> {
  await fs.mkdirp(paths.logs);
  const log = path.join(paths.logs, `rootfs-${ref.replace(/[/:]/g, '_')}.log`);
  const out = await $({ quiet: true, nothrow: true, timeout: '20m' })`sh ${script} ${ref}`;
  await fs.writeFile(log, out.stdout + out.stderr);
  if (out.exitCode !== 0)
    throw new UserError(`${path.basename(script)} for ${ref} failed (see ${log}). Is mmdebstrap installed and Debian's mirror reachable?`);
}

const rootfsRef = (s: RecipeStandIn) => `${PROJECT}/${s.dir}-rootfs:bookworm`;

export function recipeStandInRefs(): string[] {
  return RECIPE_STAND_INS.map((s) => LOCAL_IMAGES[s.key]);
}

/** Builds each recipe stand-in whose inputs changed; returns what it built. */
export async function buildRecipeStandIns(paths: CachePaths): Promise<string[]> {
  const built: string[] = [];
  for (const s of RECIPE_STAND_INS) {
    const dir = path.join(repoRoot, 'images', 'stand-ins', s.dir);
    if (!(await fs.pathExists(dir))) throw new UserError(`stand-in ${LOCAL_IMAGES[s.key]}: ${dir} is missing`);
    let base: string = LOCAL_IMAGES.debian;
    if (s.packages.length) {
      base = rootfsRef(s);
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
