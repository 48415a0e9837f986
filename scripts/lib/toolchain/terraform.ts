import path from 'node:path';
import { $, fs } from 'zx';
import { DOCKER_PROVIDER, MIN_TERRAFORM_VERSION, OPENTOFU } from '../../../stack/versions.js';
import type { CachePaths } from '../cache.js';
import { goBuildInModule } from './go-build.js';

export interface TerraformCli {
  /** Absolute path or bare command name handed to cdktf as TERRAFORM_BINARY_NAME. */
  readonly binary: string;
  readonly flavour: 'terraform' | 'tofu';
  readonly version: string;
  readonly built: boolean;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.replace(/^v/, '').split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function versionOf(binary: string): Promise<string | undefined> {
  const out = await $({ quiet: true, nothrow: true, timeout: '20s' })`${binary} version -json`;
  if (out.exitCode !== 0) return undefined;
  try {
    return (JSON.parse(out.stdout) as { terraform_version?: string }).terraform_version;
  } catch {
    return undefined;
  }
}

export function tofuPath(paths: CachePaths): string {
  return path.join(paths.bin, `tofu-${OPENTOFU.version}`, 'tofu');
}

/** Finds terraform >= 1.5 on PATH, else a cached OpenTofu; builds one if asked. */
export async function findTerraform(paths: CachePaths, opts: { build: boolean }): Promise<TerraformCli | undefined> {
  const onPath = await versionOf('terraform');
  if (onPath && compareVersions(onPath, MIN_TERRAFORM_VERSION) >= 0) {
    return { binary: 'terraform', flavour: 'terraform', version: onPath, built: false };
  }
  const tofu = tofuPath(paths);
  let built = false;
  if (!(await fs.pathExists(tofu))) {
    if (!opts.build) return undefined;
    await goBuildInModule(paths, { module: OPENTOFU.goModule, version: OPENTOFU.version, pkg: './cmd/tofu', output: tofu, logName: 'build-opentofu' });
    built = true;
  }
  return { binary: tofu, flavour: 'tofu', version: (await versionOf(tofu)) ?? OPENTOFU.version, built };
}

/** Terraform names the registry host in the mirror layout; OpenTofu uses its own. */
const PROVIDER_HOSTS = ['registry.terraform.io', 'registry.opentofu.org'];

async function goPlatform(): Promise<string> {
  const out = await $({ quiet: true })`go env GOOS GOARCH`;
  const [os, arch] = out.stdout.trim().split('\n');
  return `${os}_${arch}`;
}

export function providerMirrorFile(paths: CachePaths, host: string, platform: string): string {
  const v = DOCKER_PROVIDER.mirrorVersion;
  return path.join(paths.terraformMirror, host, DOCKER_PROVIDER.source, v, platform, `terraform-provider-docker_v${v}`);
}

/** Builds the docker provider into the filesystem mirror (unpacked layout). */
export async function ensureProviderMirror(paths: CachePaths, opts: { build: boolean }): Promise<{ present: boolean; built: boolean }> {
  const platform = await goPlatform();
  const files = PROVIDER_HOSTS.map((h) => providerMirrorFile(paths, h, platform));
  const [primary, ...others] = files as [string, ...string[]];
  let built = false;
  if (!(await fs.pathExists(primary))) {
    if (!opts.build) return { present: false, built };
    await goBuildInModule(paths, {
      module: DOCKER_PROVIDER.goModule,
      version: DOCKER_PROVIDER.goModuleVersion,
      pkg: '.',
      output: primary,
      logName: 'build-terraform-provider-docker',
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
 * The project's own CLI configuration (handed over as TF_CLI_CONFIG_FILE), so
 * the user's ~/.terraformrc is neither read nor written. Offline, the docker
 * provider comes from the mirror and nothing else is installed from anywhere.
 */
export async function writeCliConfig(paths: CachePaths, opts: { offline: boolean }): Promise<string> {
  const mirrored = PROVIDER_HOSTS.map((h) => `"${h}/${DOCKER_PROVIDER.source}"`).join(', ');
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
