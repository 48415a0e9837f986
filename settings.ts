/**
 * Every setting of the project, declared once: its name, its environment
 * variable (always MTLS_ + the name in upper snake case, so a setting is
 * called the same at every layer), its default and what it does.
 *
 * `readSettings(env)` is the only code that reads an MTLS_* variable: main.ts
 * and every script call it. An empty variable counts as unset, for every
 * setting. `settingsEnv` writes settings back as variables for the CDKTF app
 * the scripts start (its exact inverse); the scripts' --help and the README's
 * settings table are rendered from SETTINGS (`settingsHelp`, `settingsTable`).
 */
import { UserError } from './common/user-error.js';
import { NAMED_MESHES } from './meshes/index.js';
import { parseDuration } from './stack/duration.js';
import { meshRef } from './stack/mesh-file.js';
import { DEFAULT_PREFIX, type IacEngine, parseHostPorts, parseIacEngine, parseTarget, type Target, validatePrefix } from './stack/names.js';
import { BASE_IMAGE_KEYS, type BaseImageKey } from './stack/versions.js';

export interface Settings {
  readonly prefix: string;
  readonly target?: Target;
  /** A named mesh (meshes/index.ts) or the absolute path of a mesh file. */
  readonly mesh?: string;
  readonly workloads?: readonly string[];
  readonly certLifetime?: string;
  readonly minCertLifetime?: string;
  readonly maxCertLifetime?: string;
  readonly caPort?: number;
  readonly hostPorts?: Readonly<Record<string, number>>;
  readonly clientRate?: number;
  readonly iac?: IacEngine;
  readonly iacSwitch?: boolean;
  readonly offline?: boolean;
  readonly providerMirror?: boolean;
  readonly cacheDir?: string;
  /** Base image per Dockerfile, over the toolchain's choice (MTLS_<KEY>_BASE_IMAGE). */
  readonly baseImages?: Readonly<Partial<Record<BaseImageKey, string>>>;
}

type Scalar = Exclude<keyof Settings, 'baseImages'>;
export type Command = 'stack' | 'toolchain' | 'operator';

interface Setting<K extends Scalar> {
  /** Shown in --help and the README; the default is part of the text. */
  readonly help: string;
  readonly default: string;
  /** The commands it changes: `stack` (deploy, destroy, demo), `toolchain`, `operator` (status, enroll, revoke, …). */
  readonly scope: readonly Command[];
  readonly parse: (raw: string, name: string) => NonNullable<Settings[K]>;
  readonly format: (value: NonNullable<Settings[K]>) => string;
}

const text = (raw: string) => raw;
const flag = (raw: string, name: string): boolean => {
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new UserError(`${name} must be 1 or 0, got ${JSON.stringify(raw)}`);
};
const bit = (v: boolean) => (v ? '1' : '0');
const integer =
  (min: number, max: number) =>
  (raw: string, name: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) throw new UserError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
const duration = (raw: string, name: string): string => {
  try {
    parseDuration(raw);
  } catch (err) {
    throw new UserError(`${name}: ${(err as Error).message}`);
  }
  return raw;
};
const wrap =
  <T>(parse: (raw: string, name: string) => T | undefined) =>
  (raw: string, name: string): T => {
    try {
      const value = parse(raw, name);
      if (value === undefined) throw new Error(`${name} is empty`);
      return value;
    } catch (err) {
      throw new UserError((err as Error).message);
    }
  };

export const SETTINGS: { readonly [K in Scalar]: Setting<K> } = {
  prefix: {
    help: 'the stack: names its containers, volumes and networks and its directories under .state/ and cdktf.out/ (2-24 of a-z, 0-9, -)',
    default: DEFAULT_PREFIX,
    scope: ['stack', 'operator'],
    parse: wrap((raw, name) => validatePrefix(raw, name)),
    format: text,
  },
  target: {
    help: "where the stack runs: docker, or kubernetes (the toolchain's local single-node cluster, started when it is not running)",
    default: 'docker',
    scope: ['stack'],
    parse: wrap((raw, name) => parseTarget(raw, name)),
    format: text,
  },
  mesh: {
    help: `the mesh to deploy: ${Object.keys(NAMED_MESHES).join(' or ')} (meshes/), or the path of a mesh file of your own (.json, .yaml, .yml, .ts, .mjs)`,
    default: 'default (mesh.ts)',
    scope: ['stack'],
    // A path is kept absolute, against the directory the command was run in (npm run starts scripts in the project).
    parse: (raw) => meshRef(raw, process.env.INIT_CWD || process.cwd()),
    format: text,
  },
  workloads: {
    help: 'deploy only these workloads of the mesh (comma-separated names; every workload one of them calls must be listed)',
    default: 'every workload',
    scope: ['stack'],
    parse: (raw) =>
      raw
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    format: (v) => v.join(','),
  },
  certLifetime: {
    help: 'lifetime of the certificates the CA issues by default (Go duration)',
    default: '5m (the demo: 2m)',
    scope: ['stack'],
    parse: duration,
    format: text,
  },
  minCertLifetime: {
    help: 'the shortest certificate lifetime the CA grants',
    default: '1m',
    scope: ['stack'],
    parse: duration,
    format: text,
  },
  maxCertLifetime: {
    help: 'the longest certificate lifetime the CA grants',
    default: '24h',
    scope: ['stack'],
    parse: duration,
    format: text,
  },
  caPort: {
    help: "the CA's port on 127.0.0.1",
    default: '9000',
    scope: ['stack'],
    parse: integer(1, 65535),
    format: String,
  },
  hostPorts: {
    help: "ports on 127.0.0.1 by workload, over the mesh's own (name=port,name=port)",
    default: "the mesh's",
    scope: ['stack'],
    parse: wrap((raw, name) => parseHostPorts(raw, name)),
    format: (v) =>
      Object.entries(v)
        .map(([n, p]) => `${n}=${p}`)
        .join(','),
  },
  clientRate: {
    help: 'requests per second of each Node reference client',
    default: "the mesh's pace (Node clients: 1)",
    scope: ['stack'],
    parse: integer(1, 1000),
    format: String,
  },
  iac: {
    help: 'the engine under cdktf: terraform or tofu',
    default: 'tofu on PATH, then terraform on PATH, else the toolchain builds tofu',
    scope: ['stack', 'toolchain'],
    parse: wrap((raw, name) => parseIacEngine(raw, name)),
    format: text,
  },
  iacSwitch: {
    help: '1 lets this run take over a stack whose state records the other engine (or --allow-engine-switch)',
    default: '0',
    scope: ['stack'],
    parse: flag,
    format: bit,
  },
  offline: {
    help: '1 builds every image and the provider locally; 0 uses the official images and the public registry',
    default: "offline when the public registries' names do not resolve and no proxy is set",
    scope: ['toolchain'],
    parse: flag,
    format: bit,
  },
  providerMirror: {
    help: "1 takes the docker provider from the project's mirror in connected mode too",
    default: '0',
    scope: ['toolchain'],
    parse: flag,
    format: bit,
  },
  cacheDir: {
    help: 'where the toolchain keeps what it builds and downloads',
    default: '$XDG_CACHE_HOME/mtls-reference, else ~/.cache/mtls-reference',
    scope: ['toolchain'],
    parse: text,
    format: text,
  },
};

export const SETTING_NAMES = Object.keys(SETTINGS) as Scalar[];

/** MTLS_ + the name in upper snake case: certLifetime → MTLS_CERT_LIFETIME. */
export function envName(name: string): string {
  return `MTLS_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** MTLS_STEP_CA_BASE_IMAGE, MTLS_NODE_BASE_IMAGE, …: the toolchain sets them for the CDKTF app; one the user set wins. */
export function baseImageEnvName(key: BaseImageKey): string {
  return envName(`${key}BaseImage`);
}

/** One setting from `env` (undefined when unset or empty); an invalid value is a UserError naming the variable. */
export function readSetting<K extends Scalar>(name: K, env: NodeJS.ProcessEnv = process.env): Settings[K] | undefined {
  const raw = env[envName(name)];
  if (raw === undefined || raw === '') return undefined;
  return (SETTINGS[name].parse as (raw: string, variable: string) => Settings[K])(raw, envName(name));
}

/** Every setting in `env`, validated; the prefix defaults to DEFAULT_PREFIX. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const out: Record<string, unknown> = { prefix: DEFAULT_PREFIX };
  for (const name of SETTING_NAMES) {
    const value = readSetting(name, env);
    if (value !== undefined) out[name] = value;
  }
  const baseImages = Object.fromEntries(BASE_IMAGE_KEYS.flatMap((k) => (env[baseImageEnvName(k)] ? [[k, env[baseImageEnvName(k)]]] : [])));
  if (Object.keys(baseImages).length) out.baseImages = baseImages;
  return out as unknown as Settings;
}

/** The variables that make readSettings return these settings (unset ones are absent): the scripts' way to hand settings to the CDKTF app. */
export function settingsEnv(settings: Partial<Settings>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of SETTING_NAMES) {
    const value = settings[name];
    if (value === undefined) continue;
    env[envName(name)] = (SETTINGS[name].format as (v: unknown) => string)(value);
  }
  for (const [k, image] of Object.entries(settings.baseImages ?? {})) if (image) env[baseImageEnvName(k as BaseImageKey)] = image;
  return env;
}

/** The settings a command reads, for its --help. */
export function settingsHelp(command: Command): string {
  const names = SETTING_NAMES.filter((n) => SETTINGS[n].scope.includes(command));
  const width = Math.max(...names.map((n) => envName(n).length));
  return [
    'Settings (environment; empty counts as unset):',
    ...names.map((n) => `  ${envName(n).padEnd(width)}  ${SETTINGS[n].help} (default: ${SETTINGS[n].default})`),
  ].join('\n');
}

/** The README's settings table (a unit test checks the README carries exactly this). */
export function settingsTable(): string {
  const rows = SETTING_NAMES.map((n) => `| \`${envName(n)}\` | ${SETTINGS[n].help.replace(/\|/g, '\\|')} | ${SETTINGS[n].default} |`);
  return [
    '| variable | what it does | default |',
    '|---|---|---|',
    ...rows,
    `| \`MTLS_<IMAGE>_BASE_IMAGE\` | base image of one Dockerfile (${BASE_IMAGE_KEYS.map((k) => `\`${baseImageEnvName(k)}\``).join(', ')}) | the toolchain's choice |`,
  ].join('\n');
}
