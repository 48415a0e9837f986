// Flag parsing shared by every operator script: unknown flags are errors that
// carry the help text, and value checks name the flag they refuse.
import path from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { COMMON_HELP, durationFlag, engineSettings, parseCli, positiveInt } from '../../../../scripts/lib/cli/flags.js';
import { UserError } from '../../../../scripts/lib/cli/ui.js';
import { projectDir, stackDirs } from '../../../../scripts/lib/deploy/stack-instance.js';

const HELP = `usage: enroll [flags] <workload>\n  --count N  how many\n${COMMON_HELP}`;
const OPTIONS = { count: { type: 'string' } } as const;

function userErrorOf(run: () => unknown): UserError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error('expected a UserError, nothing was thrown');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('parseCli', () => {
  it('parses script flags, common flags and positionals', () => {
    vi.stubEnv('MTLS_PREFIX', undefined);
    const cli = parseCli(['--count', '3', 'server', '--json'], OPTIONS, HELP);
    expect(cli.values.count).toBe('3');
    expect(cli.positionals).toEqual(['server']);
    expect(cli.json).toBe(true);
    expect(cli.help).toBe(false);
    expect(cli.prefix).toBe('mtls');
    expect(cli.helpText).toBe(HELP);
  });

  it('reads -h as help', () => {
    expect(parseCli(['-h'], OPTIONS, HELP).help).toBe(true);
  });

  it('refuses an unknown flag, naming it and showing the help text', () => {
    const error = userErrorOf(() => parseCli(['--cuont', '3'], OPTIONS, HELP));
    expect(error.message).toContain("'--cuont'");
    expect(error.message.endsWith(`\n\n${HELP}`)).toBe(true);
  });

  it('refuses a string flag given without its value', () => {
    const error = userErrorOf(() => parseCli(['--count'], OPTIONS, HELP));
    expect(error.message).toContain('--count');
    expect(error.message).toContain(HELP);
  });

  it('takes the prefix from MTLS_PREFIX when no --prefix is given', () => {
    vi.stubEnv('MTLS_PREFIX', 'blue');
    expect(parseCli([], OPTIONS, HELP).prefix).toBe('blue');
  });

  it('prefers an explicit --prefix over MTLS_PREFIX', () => {
    vi.stubEnv('MTLS_PREFIX', 'blue');
    expect(parseCli(['--prefix', 'green'], OPTIONS, HELP).prefix).toBe('green');
    expect(parseCli(['--prefix=red'], OPTIONS, HELP).prefix).toBe('red');
  });

  it('falls back to "mtls" without flag or environment', () => {
    vi.stubEnv('MTLS_PREFIX', undefined);
    expect(parseCli([], OPTIONS, HELP).prefix).toBe('mtls');
  });

  it('treats an empty MTLS_PREFIX as unset, as main.ts does (the same stack for both)', () => {
    vi.stubEnv('MTLS_PREFIX', '');
    expect(parseCli([], OPTIONS, HELP).prefix).toBe('mtls');
  });

  it.each(['--prefix=../x', '--prefix=../../tmp/y', '--prefix=', '--prefix=a/b'])('refuses a prefix that is not a plain name: %s', (flag) => {
    const error = userErrorOf(() => parseCli([flag], OPTIONS, HELP));
    expect(error.message).toMatch(/^--prefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "/);
    expect(error.message).toContain(HELP);
  });

  it('refuses a path-like MTLS_PREFIX, naming the variable', () => {
    vi.stubEnv('MTLS_PREFIX', '../x');
    expect(userErrorOf(() => parseCli([], OPTIONS, HELP)).message).toMatch(/^MTLS_PREFIX must be .*, got "\.\.\/x"/);
  });
});

describe('stackDirs', () => {
  it('builds paths below .state/ and cdktf.out/ only for a valid prefix', () => {
    expect(path.relative(projectDir, stackDirs('blue').stateDir)).toBe(path.join('.state', 'blue'));
    const error = userErrorOf(() => stackDirs('../x'));
    expect(error.message).toBe('prefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "../x"');
  });
});

describe('engineSettings', () => {
  it('reads MTLS_IAC and MTLS_IAC_SWITCH, or the flag', () => {
    expect(engineSettings({})).toEqual({ engine: undefined, allowEngineSwitch: false });
    expect(engineSettings({ MTLS_IAC: 'tofu', MTLS_IAC_SWITCH: '1' })).toEqual({ engine: 'tofu', allowEngineSwitch: true });
    expect(engineSettings({ MTLS_IAC: 'terraform', MTLS_IAC_SWITCH: '0' })).toEqual({ engine: 'terraform', allowEngineSwitch: false });
    expect(engineSettings({ MTLS_IAC: '' }, { allowEngineSwitch: true })).toEqual({ engine: undefined, allowEngineSwitch: true });
  });

  it('refuses values it does not know, as UserErrors', () => {
    expect(userErrorOf(() => engineSettings({ MTLS_IAC: 'opentofu' })).message).toBe('MTLS_IAC must be terraform or tofu, got "opentofu"');
    expect(userErrorOf(() => engineSettings({ MTLS_IAC_SWITCH: 'yes' })).message).toBe('MTLS_IAC_SWITCH must be 1 or 0, got "yes"');
  });
});

describe('positiveInt', () => {
  it('returns the fallback when the flag is absent and the number when given', () => {
    expect(positiveInt('count', undefined, 8)).toBe(8);
    expect(positiveInt('count', '1', 8)).toBe(1);
    expect(positiveInt('count', '12', 8)).toBe(12);
  });

  it.each(['0', '-1', '1.5', 'x', ''])('refuses %j, naming the flag', (raw) => {
    const error = userErrorOf(() => positiveInt('count', raw, 8));
    expect(error.message).toBe(`--count must be a positive integer, got "${raw}"`);
  });
});

describe('durationFlag', () => {
  it.each(['90s', '5m', '1h30m', '1h', '0m30s'])('accepts %s unchanged', (raw) => {
    expect(durationFlag('lifetime', raw)).toBe(raw);
  });

  it('is undefined when the flag is absent', () => {
    expect(durationFlag('lifetime', undefined)).toBeUndefined();
  });

  it.each(['0s', '0h0m', '5 minutes', '', '5', '1.5h', '-5m', '1d'])('refuses %j, naming the flag', (raw) => {
    const error = userErrorOf(() => durationFlag('lifetime', raw));
    expect(error.message).toBe(`--lifetime must be a duration such as 90s, 5m or 1h, got "${raw}"`);
  });
});
