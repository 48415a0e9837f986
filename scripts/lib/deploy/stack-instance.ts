import path from 'node:path';

import { $, fs } from 'zx';

import { OWNER_CONTEXT } from '../../../common/facts.js';
import { buildServices as bundleServices } from '../../../services/build.js';
import { type Settings, settingsEnv } from '../../../settings.js';
import { loadMesh } from '../../../stack/mesh-file.js';
import { publishedWorkloads, selectWorkloads } from '../../../stack/mesh-spec.js';
import { stateFileOf, type Target, validatePrefix } from '../../../stack/names.js';
import { useCluster } from '../admin/channel.js';
import { UserError } from '../cli/ui.js';
import { ensureLocalCluster, prepareKubernetesDeploy } from '../kubernetes/target.js';
import type { TerraformCli } from '../toolchain/engine.js';
import { effectiveBaseImages, loadToolchain, type Toolchain, toolchainEnv } from '../toolchain/index.js';
import { waitUntilUp } from '../workloads/readiness.js';
import { checkEngine, readEngineRecord } from './engine-record.js';
import { freePorts } from './free-ports.js';
import { appCommand, engineSteps, outputValues, stepShell, type TimedLine, TimedRun } from './iac.js';
import type { StackOutputs } from './stack-outputs.js';

export type { OperatorOutput, StackOutputs, WorkloadOutput } from './stack-outputs.js';

export const projectDir = path.resolve(import.meta.dirname, '../../..');

/**
 * Settings of one stack instance (settings.ts); they reach the CDKTF app as
 * its environment (settingsEnv), the owner label of a test run's throw-away
 * stack as the cdktf context key main.ts reads (not a setting).
 */
export type StackSettings = Settings & {
  /** Owner label of a throw-away stack (the e2e suite's run); see scripts/lib/docker/ownership.ts. */
  readonly owner?: string;
};

/** How cdktf and terraform run: which engine, and whether it may take over a stack another engine manages. */
export interface EngineOptions {
  /** @default the engine the last toolchain run resolved */
  readonly engine?: TerraformCli;
  /** MTLS_IAC_SWITCH=1. @default false */
  readonly allowEngineSwitch?: boolean;
}

export function stackDirs(prefix: string) {
  // The prefix becomes a path below .state/ and cdktf.out/: never `..` or a separator.
  try {
    validatePrefix(prefix, 'prefix');
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const out = path.join(projectDir, 'cdktf.out', prefix);
  const stepPath = path.join(projectDir, '.state', prefix, 'step');
  return {
    synthOut: out,
    workDir: path.join(out, 'stacks', prefix),
    stateDir: path.join(projectDir, '.state', prefix),
    outputsFile: path.join(projectDir, '.state', prefix, 'outputs.json'),
    stateFile: stateFileOf(projectDir, prefix),
    /** The host's pinned trust, in the step CLI's layout (bootstrap-trust writes it; a root rotation updates it). */
    hostStep: {
      dir: stepPath,
      defaults: path.join(stepPath, 'config', 'defaults.json'),
      root: path.join(stepPath, 'certs', 'root_ca.crt'),
    },
  };
}

/** The CDKTF app's environment for these settings. */
function appEnv({ owner, ...settings }: StackSettings): Record<string, string> {
  return { ...settingsEnv(settings), ...(owner ? { CDKTF_CONTEXT_JSON: JSON.stringify({ [OWNER_CONTEXT]: owner }) } : {}) };
}

/** Removes a stack's state and synth output on the host. */
export async function removeLocalState(prefix: string): Promise<void> {
  const dirs = stackDirs(prefix);
  await fs.remove(dirs.stateDir);
  await fs.remove(dirs.synthOut);
}

/** Bundles services/ into the workload image's build context. */
export async function buildServices(): Promise<void> {
  try {
    await bundleServices();
  } catch (err) {
    throw new UserError(`bundling services failed: ${(err as Error).message}`);
  }
}

/**
 * Runs a cdktf verb for one stack with the toolchain's environment: the CDKTF
 * app (cdktf.json's `app`) synthesizes the stack, then the engine runs in its
 * directory (scripts/lib/deploy/iac.ts says why not through the cdktf CLI). Each
 * prefix synthesizes into its own directory, so stacks can be deployed side by
 * side without sharing cdktf.out. `deploy` then writes the outputs and waits
 * until every container is ready (scripts/lib/workloads/readiness.ts).
 */
export async function cdktf(
  verb: 'deploy' | 'destroy' | 'synth' | 'diff',
  settings: StackSettings,
  opts: { quiet?: boolean; extraEnv?: Record<string, string> } & EngineOptions = {},
): Promise<{ stdout: string; stderr: string; lines: TimedLine[] }> {
  // A mistake in the mesh file stops here, in one line, not in the app's stack trace.
  const { spec: mesh } = await loadMesh(settings.mesh);
  const dirs = stackDirs(settings.prefix);
  const tc = await engineToolchain(settings.prefix, opts, verb !== 'synth');
  settings = { ...settings, target: await stackTarget(settings, verb) };
  if (settings.target === 'kubernetes' && verb !== 'synth') {
    // The engine talks to the cluster: it must run, and a deploy's images must be in its node.
    const log = (line: string) => void (opts.quiet ? undefined : process.stderr.write(`${line}\n`));
    // The base images the app is handed (toolchainEnv), so the images built are the ones the stack names.
    if (verb === 'deploy') await prepareKubernetesDeploy(settings, mesh, { baseImages: effectiveBaseImages(tc, settings), projectDir }, log);
    else await ensureLocalCluster(log);
  }
  await fs.mkdirp(dirs.stateDir);
  await fs.mkdirp(dirs.synthOut);
  const env = { ...toolchainEnv(tc), ...appEnv({ ...settings, iac: tc.terraform.flavour }), ...opts.extraEnv, FORCE_COLOR: '0', TF_IN_AUTOMATION: '1' };
  const quiet = opts.quiet ?? false;
  const timed = new TimedRun(quiet);
  const fail = (what: string, code: number) =>
    new UserError(`${what} of stack "${settings.prefix}" failed (exit ${code}).\n${tail(timed.stdout + timed.stderr, 40)}`);

  const synthCode = await timed.run(stepShell({ cwd: projectDir, env: { ...env, CDKTF_OUTDIR: dirs.synthOut }, quiet })`sh -c ${await appCommand(projectDir)}`);
  if (synthCode !== 0) throw fail('synth', synthCode);
  timed.mark('synthesized', `${settings.prefix}: synthesized ${path.relative(projectDir, dirs.workDir)}`);
  if (verb !== 'synth') {
    const engine = stepShell({ cwd: dirs.workDir, env, quiet });
    for (const args of engineSteps(verb)) {
      const code = await timed.run(engine`${tc.terraform.binary} ${args}`);
      if (code !== 0) throw fail(`${tc.terraform.flavour} ${args[0]}`, code);
    }
  }
  if (verb === 'deploy') {
    await recordOutputs(settings.prefix, tc.terraform, env);
    timed.mark('outputs', `${settings.prefix}: outputs written to ${path.relative(projectDir, dirs.outputsFile)}`);
    const up = await waitUntilUp(await readOutputs(settings.prefix));
    timed.mark('ready', `${settings.prefix}: ${up.length} containers up`);
  }
  timed.end();
  return { stdout: timed.stdout, stderr: timed.stderr, lines: timed.lines };
}

/**
 * The toolchain with the engine this run uses; refuses (UserError) when the
 * stack's state records another engine and no switch was allowed.
 */
async function engineToolchain(prefix: string, opts: EngineOptions, touchesState: boolean): Promise<Toolchain> {
  const loaded = await loadToolchain();
  const tc = opts.engine ? { ...loaded, terraform: opts.engine } : loaded;
  if (touchesState) {
    const { stateFile } = stackDirs(prefix);
    const record = await readEngineRecord(stateFile);
    const using = { engine: tc.terraform.flavour, version: tc.terraform.version };
    checkEngine(record, using, { prefix, stateFile: path.relative(projectDir, stateFile), allowSwitch: opts.allowEngineSwitch ?? false });
  }
  return tc;
}

/** Reads an applied stack's outputs from its engine and writes them where readOutputs finds them. */
export async function recordOutputs(prefix: string, engine: Pick<TerraformCli, 'binary' | 'flavour'>, env: NodeJS.ProcessEnv): Promise<void> {
  const dirs = stackDirs(prefix);
  const out = await stepShell({ cwd: dirs.workDir, env, quiet: true })`${engine.binary} output -json`;
  if (out.exitCode !== 0) throw new UserError(`${engine.flavour} output of stack "${prefix}" failed (exit ${out.exitCode}).\n${tail(out.stderr, 20)}`);
  await fs.writeJson(dirs.outputsFile, { [prefix]: outputValues(out.stdout) }, { spaces: 2 });
}

/**
 * The target a command acts on: MTLS_TARGET, else where the stack's state
 * says it is (so `npm run destroy` finds a Kubernetes stack without being
 * told), else Docker. A stack is never deployed over onto the other target.
 */
async function stackTarget(settings: StackSettings, verb: string): Promise<Target> {
  const recorded = verb === 'synth' ? undefined : (await readEngineRecord(stackDirs(settings.prefix).stateFile))?.target;
  if (recorded && settings.target && recorded !== settings.target) {
    throw new UserError(
      `stack "${settings.prefix}" is deployed on ${recorded}, and MTLS_TARGET=${settings.target}: take it down first (MTLS_TARGET=${recorded} npm run destroy), or name another stack (MTLS_PREFIX)`,
    );
  }
  return settings.target ?? recorded ?? 'docker';
}

/** The engine a stack's state records (undefined: not deployed, destroyed, or not recorded). */
export async function stackEngine(prefix: string) {
  return readEngineRecord(stackDirs(prefix).stateFile);
}

/** Runs terraform (or tofu) directly in the synthesized stack dir (plan checks, outputs). */
export async function terraform(prefix: string, args: string[], opts: EngineOptions = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const tc = await engineToolchain(prefix, opts, true);
  const env = { ...toolchainEnv(tc), FORCE_COLOR: '0' };
  const out = await $({ cwd: stackDirs(prefix).workDir, env, nothrow: true, quiet: true, timeout: '20m' })`${tc.terraform.binary} ${args}`;
  return { exitCode: out.exitCode ?? 1, stdout: out.stdout, stderr: out.stderr };
}

export async function readOutputs(prefix: string): Promise<StackOutputs> {
  const file = stackDirs(prefix).outputsFile;
  if (!(await fs.pathExists(file))) {
    throw new UserError(
      `stack "${prefix}" has no outputs (${path.relative(projectDir, file)} missing). Deploy it first: npm run deploy (MTLS_PREFIX=${prefix}).`,
    );
  }
  const all = (await fs.readJson(file)) as Record<string, StackOutputs>;
  const outputs = all[prefix];
  if (!outputs) throw new UserError(`${file} has no outputs for stack "${prefix}"; redeploy it.`);
  // A stack on Kubernetes: its containers' handles run on its cluster.
  if (outputs.cluster) {
    const { kubectl, kubeconfig, context } = outputs.cluster;
    useCluster({ bin: kubectl, ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) });
  }
  return outputs;
}

/**
 * Free 127.0.0.1 ports for every workload of the mesh (`mesh`: MTLS_MESH's
 * value; the default mesh) that publishes one (among `workloads` when
 * given), none equal to `avoid`.
 */
export async function freeHostPorts(opts: { mesh?: string; workloads?: readonly string[]; avoid?: readonly number[] } = {}): Promise<Record<string, number>> {
  const { spec } = await loadMesh(opts.mesh);
  const names = publishedWorkloads(selectWorkloads(spec, opts.workloads));
  const ports = (await freePorts(names.length + (opts.avoid?.length ?? 0))).filter((p) => !opts.avoid?.includes(p));
  return Object.fromEntries(names.map((n, i) => [n, ports[i]!]));
}

/** `https://127.0.0.1:<port>/` of a published HTTPS workload; an error says why there is none. */
export function hostUrl(outputs: StackOutputs, name: string): string {
  const w = outputs.workloads.find((x) => x.name === name);
  if (!w) throw new UserError(`no workload "${name}" in stack "${outputs.prefix}"`);
  if (!w.host_port) throw new UserError(`workload "${name}" publishes no port on 127.0.0.1 (give it a hostPort in mesh.ts)`);
  if (w.protocol !== 'https') throw new UserError(`workload "${name}" speaks ${w.protocol}, not HTTPS`);
  return `https://127.0.0.1:${w.host_port}/`;
}

function tail(text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
