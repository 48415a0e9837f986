import path from 'node:path';

import { $, fs } from 'zx';

import type { IacEngine } from '../../../stack/names.js';
import { DOCKER_PROVIDER, KUBECTL_PROVIDER, OPENTOFU } from '../../../stack/versions.js';
import type { CachePaths } from './cache.js';
import { chooseEngine, type EngineChoice, type EnginesOnPath, type TerraformCli, usable } from './engine.js';
import { goBuildInModule } from './go-build.js';

export type { TerraformCli } from './engine.js';
export { compareVersions } from './versions.js';

async function versionOf(binary: string): Promise<string | undefined> {
  const out = await $({ quiet: true, nothrow: true, timeout: '20s' })`${binary} version -json`;
  if (out.exitCode !== 0) return undefined;
  try {
    // OpenTofu keeps Terraform's key in `version -json`.
    return (JSON.parse(out.stdout) as { terraform_version?: string }).terraform_version;
  } catch {
    return undefined;
  }
}

/** A release build (no `-dev` in its version): the state records the version it reports. */
export function tofuPath(paths: CachePaths): string {
  return path.join(paths.bin, `opentofu-${OPENTOFU.version}`, 'tofu');
}

/** Versions of `terraform` and `tofu` on PATH. */
export async function enginesOnPath(): Promise<EnginesOnPath> {
  const [terraform, tofu] = await Promise.all([versionOf('terraform'), versionOf('tofu')]);
  return { terraform, tofu };
}

/**
 * The CLI of one engine: the PATH's when it is new enough; for OpenTofu
 * otherwise the toolchain's cached build, built from the Go module proxy if
 * `build` (about 4 minutes cold, then cached by version). Undefined when
 * absent and not built.
 */
export async function engineCli(
  paths: CachePaths,
  engine: IacEngine,
  opts: { build: boolean; onPath?: EnginesOnPath; chosenBy?: string },
): Promise<TerraformCli | undefined> {
  const onPath = opts.onPath ?? (await enginesOnPath());
  const version = usable(engine, onPath);
  if (version) return { binary: engine, flavour: engine, version, built: false, chosenBy: opts.chosenBy };
  if (engine === 'terraform') return undefined;
  const tofu = tofuPath(paths);
  let built = false;
  if (!(await fs.pathExists(tofu))) {
    if (!opts.build) return undefined;
    await goBuildInModule(paths, {
      module: OPENTOFU.goModule,
      version: OPENTOFU.version,
      pkg: './cmd/tofu',
      output: tofu,
      logName: 'build-opentofu',
      // As OpenTofu's release builds do; otherwise it reports `1.10.10-dev`.
      ldflags: `-X ${OPENTOFU.goModule}/version.dev=no`,
    });
    built = true;
  }
  return { binary: tofu, flavour: 'tofu', version: (await versionOf(tofu)) ?? OPENTOFU.version.replace(/^v/, ''), built, chosenBy: opts.chosenBy };
}

/** The engine chosen by MTLS_IAC (`requested`) or by what is on PATH; see chooseEngine. */
export async function findTerraform(paths: CachePaths, opts: { build: boolean; requested?: IacEngine }): Promise<{ cli?: TerraformCli; choice: EngineChoice }> {
  const onPath = await enginesOnPath();
  const choice = chooseEngine(opts.requested, onPath);
  return { cli: await engineCli(paths, choice.engine, { build: opts.build, onPath, chosenBy: choice.why }), choice };
}

/** Terraform names the registry host in the mirror layout; OpenTofu uses its own. */
const PROVIDER_HOSTS = ['registry.terraform.io', 'registry.opentofu.org'];

async function goPlatform(): Promise<string> {
  const out = await $({ quiet: true })`go env GOOS GOARCH`;
  const [os, arch] = out.stdout.trim().split('\n');
  return `${os}_${arch}`;
}

/** A provider the toolchain builds from the Go module proxy into the mirror (stack/versions.ts). */
export interface MirroredProvider {
  /** `<namespace>/<type>` in the registry. */
  readonly source: string;
  readonly constraint: string;
  /** The version the build is installed as. */
  readonly mirrorVersion: string;
  readonly goModule: string;
  readonly goModuleVersion: string;
}

/** Every provider the mirror may hold: the Docker target's, always built; the Kubernetes target's, built when asked for. */
export const MIRRORED_PROVIDERS: readonly MirroredProvider[] = [DOCKER_PROVIDER, KUBECTL_PROVIDER];

/** `terraform-provider-<type>`: the binary's name, as the registry's releases name it. */
const providerBinary = (p: MirroredProvider) => `terraform-provider-${p.source.split('/')[1]}`;

export function providerMirrorFile(paths: CachePaths, host: string, platform: string, provider: MirroredProvider = DOCKER_PROVIDER): string {
  const v = provider.mirrorVersion;
  return path.join(paths.terraformMirror, host, provider.source, v, platform, `${providerBinary(provider)}_v${v}`);
}

/**
 * Builds a provider (the docker provider unless told) into the filesystem
 * mirror (unpacked layout), under both registry hosts.
 */
export async function ensureProviderMirror(
  paths: CachePaths,
  opts: { build: boolean; provider?: MirroredProvider },
): Promise<{ present: boolean; built: boolean }> {
  const provider = opts.provider ?? DOCKER_PROVIDER;
  const platform = await goPlatform();
  const files = PROVIDER_HOSTS.map((h) => providerMirrorFile(paths, h, platform, provider));
  const [primary, ...others] = files as [string, ...string[]];
  let built = false;
  if (!(await fs.pathExists(primary))) {
    if (!opts.build) return { present: false, built };
    await goBuildInModule(paths, {
      module: provider.goModule,
      version: provider.goModuleVersion,
      pkg: '.',
      output: primary,
      logName: `build-${providerBinary(provider)}`,
    });
    built = true;
  }
  for (const other of others) {
    if (!(await fs.pathExists(other))) {
      await fs.mkdirp(path.dirname(other));
      await fs.copyFile(primary, other);
      await fs.chmod(other, 0o755);
    }
  }
  return { present: true, built };
}

/**
 * A provider a stack needs beyond the docker one (the Kubernetes target's):
 * offline (`fromMirror`), built into the mirror on first use and named in
 * the CLI configuration; connected, left to `terraform init` and the public
 * registry. Building on demand keeps its few minutes off a Docker-only machine.
 */
export async function ensureProviderFor(paths: CachePaths, provider: MirroredProvider, opts: { fromMirror: boolean }): Promise<{ built: boolean }> {
  if (!opts.fromMirror) return { built: false };
  const { built } = await ensureProviderMirror(paths, { build: true, provider });
  await writeCliConfig(paths, { offline: true });
  return { built };
}

/** What the offline CLI configuration names: the docker provider, and every other one the mirror holds. */
async function mirroredSources(paths: CachePaths): Promise<string[]> {
  const held = await Promise.all(
    MIRRORED_PROVIDERS.map(
      async (p) => p === DOCKER_PROVIDER || (await fs.pathExists(path.join(paths.terraformMirror, PROVIDER_HOSTS[0]!, p.source, p.mirrorVersion))),
    ),
  );
  return MIRRORED_PROVIDERS.filter((_, i) => held[i]).flatMap((p) => PROVIDER_HOSTS.map((h) => `"${h}/${p.source}"`));
}

/**
 * The project's own CLI configuration (handed over as TF_CLI_CONFIG_FILE), so
 * the user's ~/.terraformrc is neither read nor written. Offline, the docker
 * provider (and the kubectl one, once built) comes from the mirror and nothing
 * else is installed from anywhere.
 */
export async function writeCliConfig(paths: CachePaths, opts: { offline: boolean }): Promise<string> {
  const mirrored = opts.offline ? (await mirroredSources(paths)).join(', ') : '';
  const body = opts.offline
    ? `# Written by scripts/toolchain.ts: offline, providers come from the project's mirror.
provider_installation {
  filesystem_mirror {
    path    = "${paths.terraformMirror}"
    include = [${mirrored}]
  }
}
`
    : `# Written by scripts/toolchain.ts: connected, providers come from the public registry.
plugin_cache_dir = "${paths.terraformPluginCache}"
provider_installation {
  direct {}
}
`;
  await fs.mkdirp(path.dirname(paths.terraformCliConfig));
  await fs.mkdirp(paths.terraformPluginCache);
  const current = (await fs.pathExists(paths.terraformCliConfig)) ? await fs.readFile(paths.terraformCliConfig, 'utf8') : '';
  if (current !== body) await fs.writeFile(paths.terraformCliConfig, body);
  return paths.terraformCliConfig;
}
