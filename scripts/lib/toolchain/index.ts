import { fs } from 'zx';

import { readSettings, type Settings, settingsEnv } from '../../../settings.js';
import type { IacEngine } from '../../../stack/names.js';
import { DOCKER_PROVIDER } from '../../../stack/versions.js';
import { type Ui, UserError } from '../cli/ui.js';
import { type CachePaths, cachePaths } from './cache.js';
import { detectMode, type Mode, type ModeDecision } from './connectivity.js';
import { engineAdvice, engineStatus, ensureEngine } from './docker-engine.js';
import { type DockerEndpoint, providerEnv, resolveDockerEndpoint } from './docker-host.js';
import { ensureGoRecipeModules } from './go-recipe-modules.js';
import { ensureHostTools, HOST_TOOLS } from './host-tools.js';
import { type BaseImages, ensureBaseImages, ensureStepBinaries } from './images.js';
import { FULL_SCOPE, type ToolchainScope } from './scope.js';
import { ensureProviderMirror, findTerraform, type TerraformCli, writeCliConfig } from './terraform.js';

/** The report step naming the IaC engine in use (`npm run toolchain -- --check`). */
export const ENGINE_STEP = 'IaC engine';

/** What the toolchain resolved; other scripts turn it into cdktf's environment. */
export interface Toolchain {
  readonly mode: Mode;
  readonly modeReason: string;
  readonly cacheDir: string;
  readonly terraform: TerraformCli;
  readonly terraformCliConfig: string;
  readonly baseImages: BaseImages;
  readonly dockerServerVersion: string;
  /** The docker CLI's endpoint, handed to the provider (which ignores contexts). */
  readonly dockerEndpoint?: DockerEndpoint;
}

export interface StepReport {
  readonly step: string;
  readonly status: 'ok' | 'built' | 'started' | 'missing';
  readonly detail: string;
  readonly seconds: number;
}

async function timed<T>(
  reports: StepReport[],
  step: string,
  ui: Ui,
  work: () => Promise<{ value: T; status: StepReport['status']; detail: string }>,
): Promise<T> {
  const started = Date.now();
  const { value, status, detail } = await ui.step(step, work);
  reports.push({ step, status, detail, seconds: (Date.now() - started) / 1000 });
  return value;
}

/**
 * Brings up everything the stack needs, idempotently: a Docker engine, a
 * Terraform CLI, the docker provider, step binaries and base images. With
 * `check` it only reports what is present or missing and changes nothing.
 */
export async function ensureToolchain(
  ui: Ui,
  opts: {
    check?: boolean;
    paths?: CachePaths;
    mode?: ModeDecision;
    /** MTLS_IAC, read by the caller. */ engine?: IacEngine;
    /** What to make present (scope.ts): one mesh's needs, or everything (the tests). @default FULL_SCOPE */ scope?: ToolchainScope;
  } = {},
): Promise<{ toolchain?: Toolchain; reports: StepReport[] }> {
  const paths = opts.paths ?? cachePaths();
  const build = !opts.check;
  const scope = opts.scope ?? FULL_SCOPE;
  const reports: StepReport[] = [];
  const { mode, why, providers } = opts.mode ?? (await detectMode());
  const offline = mode === 'offline';
  const fromMirror = providers === 'mirror';
  reports.push({ step: 'mode', status: 'ok', detail: `${mode} (${why})`, seconds: 0 });
  if (offline && build && !(process.platform === 'linux' && (await fs.pathExists('/etc/debian_version')))) {
    throw new UserError(
      `offline mode (${why}) builds the toolchain from Debian packages and the Go module proxy, which needs a Debian or Ubuntu host (and root). ` +
        'If this machine reaches Docker Hub and registry.terraform.io (directly or through a proxy), run with MTLS_OFFLINE=0.',
    );
  }

  const engine = await timed(reports, 'Docker engine', ui, async () => {
    if (!build) {
      const s = await engineStatus();
      return {
        value: s,
        status: s.running ? 'ok' : 'missing',
        detail: s.running ? `server ${s.serverVersion}, API ${s.apiVersion}` : engineAdvice(s, process.platform),
      };
    }
    const s = await ensureEngine(paths, { offline });
    return {
      value: s,
      status: s.startedByUs ? 'started' : 'ok',
      detail: `server ${s.serverVersion}, API ${s.apiVersion}${s.startedByUs ? `; log ${paths.dockerdLog}` : ''}`,
    };
  });

  await timed(reports, 'host tools', ui, async () => {
    const t = await ensureHostTools(paths, { build, debian: await fs.pathExists('/etc/debian_version'), testTools: scope.testTools });
    if (t.missing.length) return { value: undefined, status: 'missing', detail: `missing ${t.missing.join(', ')}` };
    return {
      value: undefined,
      status: t.installed.length ? 'built' : 'ok',
      detail: HOST_TOOLS.filter((h) => scope.testTools || !('tests' in h))
        .map((h) => h.command)
        .join(', '),
    };
  });

  const terraform = await timed(reports, ENGINE_STEP, ui, async () => {
    const { cli, choice } = await findTerraform(paths, { build, requested: opts.engine });
    if (!cli) return { value: undefined, status: 'missing', detail: `${choice.engine}: not built yet (${choice.why})` };
    return { value: cli, status: cli.built ? 'built' : 'ok', detail: `${cli.flavour} ${cli.version} (${cli.binary}); ${choice.why}` };
  });

  await timed(reports, `${DOCKER_PROVIDER.source} provider`, ui, async () => {
    if (!fromMirror) return { value: undefined, status: 'ok', detail: `${DOCKER_PROVIDER.constraint}, installed by terraform init from the public registry` };
    const p = await ensureProviderMirror(paths, { build });
    return {
      value: undefined,
      status: p.present ? (p.built ? 'built' : 'ok') : 'missing',
      detail: `${DOCKER_PROVIDER.mirrorVersion} in the filesystem mirror ${paths.terraformMirror}`,
    };
  });

  const cliConfig = build ? await writeCliConfig(paths, { offline: fromMirror }) : paths.terraformCliConfig;

  await timed(reports, 'step-ca and step binaries', ui, async () => {
    if (!offline) return { value: undefined, status: 'ok', detail: 'provided by the official smallstep/step-ca image' };
    const s = await ensureStepBinaries(paths, { build });
    return { value: undefined, status: !s.present ? 'missing' : s.built.length ? 'built' : 'ok', detail: `${s.stepCa}, ${s.step}` };
  });

  const images = await timed(reports, 'base images', ui, async () => {
    if (!engine.running) return { value: undefined, status: 'missing', detail: 'needs a Docker engine' };
    const r = await ensureBaseImages(paths, { offline, build, scope }).catch((err: unknown) => {
      // A failed pull is most often a wrong guess of the mode: say how it was made.
      if (err instanceof UserError && !offline) throw new UserError(`${err.message} (connected mode: ${why})`);
      throw err;
    });
    const status = r.missing.length ? 'missing' : r.built.length ? 'built' : 'ok';
    return {
      value: r.images,
      status,
      detail: r.missing.length ? `missing ${r.missing.join(', ')}` : `${r.images.stepCa}, ${r.images.node} and ${Object.keys(r.images).length - 2} more`,
    };
  });

  if (scope.goModuleTree)
    await timed(reports, "gRPC recipe's Go modules", ui, async () => ({ value: undefined, ...(await ensureGoRecipeModules(paths, { build, offline })) }));

  const endpoint = await timed(reports, 'engine endpoint for Terraform', ui, async () => {
    const e = await resolveDockerEndpoint();
    return { value: e, status: 'ok', detail: e.host ? `DOCKER_HOST=${e.host} (${e.why})` : e.why };
  });

  if (!build) return { reports };
  if (!terraform || !images || !engine.serverVersion) throw new UserError('toolchain incomplete; see the steps above');
  const toolchain: Toolchain = {
    mode,
    modeReason: why,
    cacheDir: paths.root,
    terraform,
    terraformCliConfig: cliConfig,
    baseImages: images,
    dockerServerVersion: engine.serverVersion,
    dockerEndpoint: endpoint,
  };
  await fs.mkdirp(paths.root);
  // Atomically: a concurrent run (the e2e suite beside a benchmark) reads it.
  const staged = `${paths.resolved}.${process.pid}.tmp`;
  await fs.writeJson(staged, toolchain, { spaces: 2 });
  await fs.rename(staged, paths.resolved);
  return { toolchain, reports };
}

/** Reads what the last toolchain run resolved, or says to run it. */
export async function loadToolchain(paths: CachePaths = cachePaths()): Promise<Toolchain> {
  if (!(await fs.pathExists(paths.resolved))) {
    throw new UserError(`the toolchain has not been set up on this machine (${paths.resolved} is missing). Run \`npm run toolchain\` first.`);
  }
  return (await fs.readJson(paths.resolved)) as Toolchain;
}

/** The base image of each Dockerfile a stack is built from: the toolchain's choice, where one the user set (MTLS_<IMAGE>_BASE_IMAGE) wins. */
export function effectiveBaseImages(tc: Pick<Toolchain, 'baseImages'>, settings: { readonly baseImages?: Settings['baseImages'] }): BaseImages {
  return { ...tc.baseImages, ...settings.baseImages };
}

/**
 * The environment cdktf (and Terraform under it) needs: the project's CLI
 * config instead of ~/.terraformrc, the chosen binary, no telemetry, the
 * classic builder (no buildx on the Debian engine), the base images, and the
 * engine endpoint of the docker CLI's context.
 */
export function toolchainEnv(tc: Toolchain, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    TF_CLI_CONFIG_FILE: tc.terraformCliConfig,
    // cdktf otherwise points Terraform's plugin cache at ~/.terraform.d.
    TF_PLUGIN_CACHE_DIR: cachePaths(tc.cacheDir).terraformPluginCache,
    TERRAFORM_BINARY_NAME: tc.terraform.binary,
    CHECKPOINT_DISABLE: '1',
    DOCKER_BUILDKIT: '0',
    // main.ts records the engine in the stack's state (output iac_engine);
    // one base image per Dockerfile, where one the user set wins.
    ...settingsEnv({ iac: tc.terraform.flavour, baseImages: effectiveBaseImages(tc, readSettings(base)) }),
    // The provider reads DOCKER_HOST, not the CLI's context; one the user set wins.
    ...(base.DOCKER_HOST ? {} : providerEnv(tc.dockerEndpoint)),
  };
}
