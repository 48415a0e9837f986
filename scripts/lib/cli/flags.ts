import { parseArgs, type ParseArgsConfig } from 'node:util';

import { readSetting, settingsHelp } from '../../../settings.js';
import { DEFAULT_PREFIX, type IacEngine, validatePrefix } from '../../../stack/names.js';
import { UserError } from './ui.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every operator script takes. */
export const COMMON_OPTIONS = {
  prefix: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

export const COMMON_FLAGS_HELP = `  --prefix NAME  the stack (over MTLS_PREFIX)
  --json         machine-readable output on stdout
  -h, --help     this text`;

/** The help of an operator script's common flags and the settings it reads. */
export const COMMON_HELP = `${COMMON_FLAGS_HELP}\n\n${settingsHelp('operator')}`;

/**
 * parseArgs with the common flags and errors that say what to do. Unknown
 * flags are errors: a typo must not silently change what a script does.
 */
export function parseCli<O extends Options>(argv: string[], options: O, help: string) {
  try {
    const parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
    const values = parsed.values as Record<string, unknown>;
    return {
      values: parsed.values,
      positionals: parsed.positionals,
      prefix: resolvePrefix(values.prefix as string | undefined),
      json: Boolean(values.json),
      help: Boolean(values.help),
      helpText: help,
    };
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n\n${help}`);
  }
}

/**
 * The stack prefix of one invocation: the flag wins (an empty flag is an
 * error, since someone typed it), then the setting, then the default. The
 * prefix names directories under .state/, so both are validated.
 */
export function resolvePrefix(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined) {
    try {
      return validatePrefix(flag, '--prefix');
    } catch (err) {
      throw new UserError((err as Error).message);
    }
  }
  return readSetting('prefix', env) ?? DEFAULT_PREFIX;
}

/**
 * The engine settings of one invocation (settings `iac` and `iacSwitch`):
 * MTLS_IAC chooses terraform or tofu, MTLS_IAC_SWITCH=1 (or the flag
 * --allow-engine-switch) lets this run take over a stack whose state records
 * the other engine.
 */
export function engineSettings(env: NodeJS.ProcessEnv, flags: { allowEngineSwitch?: boolean } = {}): { engine?: IacEngine; allowEngineSwitch: boolean } {
  return { engine: readSetting('iac', env), allowEngineSwitch: Boolean(flags.allowEngineSwitch) || readSetting('iacSwitch', env) === true };
}

const shown = (raw: unknown): string => (typeof raw === 'string' ? raw : JSON.stringify(raw));

/** A positive integer flag, with the flag's name in the error. */
export function positiveInt(name: string, raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--${name} must be a positive integer, got "${shown(raw)}"`);
  return n;
}

/** A Go-style duration flag (90s, 5m, 1h), validated and returned as given; the flag's name is in the error. */
export function durationFlag(name: string, raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const text = shown(raw);
  if (!/^(\d+[hms])+$/.test(text) || /^(0+[hms])+$/.test(text)) {
    throw new UserError(`--${name} must be a duration such as 90s, 5m or 1h, got "${text}"`);
  }
  return text;
}
