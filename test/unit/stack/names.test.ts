// One rule for names from the command line and the environment, shared by
// main.ts, the scripts and the constructs.
import { describe, expect, it } from 'vitest';

import { resolvePrefix } from '../../../scripts/lib/cli/flags.js';
import { DEFAULT_PREFIX, parseIacEngine, validatePrefix } from '../../../stack/names.js';

describe('validatePrefix', () => {
  it.each(['mtls', 'e2eab12c', 'blue-2', 'a1', 'a'.repeat(24)])('accepts %j', (ok) => {
    expect(validatePrefix(ok)).toBe(ok);
  });

  it.each(['../x', '..', 'a/b', 'x/../../etc', '/abs', 'Mtls', 'x', '1abc', '-ab', 'a b', 'a.b', 'a'.repeat(25), '', 'mtls\n'])(
    'refuses %j, naming the source and the value',
    (bad) => {
      expect(() => validatePrefix(bad, '--prefix')).toThrow(
        `--prefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got ${JSON.stringify(bad)}`,
      );
    },
  );
});

describe('resolvePrefix', () => {
  it('takes the flag over the environment over the default', () => {
    expect(resolvePrefix('green', { MTLS_PREFIX: 'blue' })).toBe('green');
    expect(resolvePrefix(undefined, { MTLS_PREFIX: 'blue' })).toBe('blue');
    expect(resolvePrefix(undefined, {})).toBe(DEFAULT_PREFIX);
  });

  it('treats an empty MTLS_PREFIX as unset, as every setting does', () => {
    expect(resolvePrefix(undefined, { MTLS_PREFIX: '' })).toBe('mtls');
  });

  it('refuses an empty or path-like flag instead of falling back', () => {
    expect(() => resolvePrefix('', { MTLS_PREFIX: 'blue' })).toThrow(
      '--prefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got ""',
    );
    expect(() => resolvePrefix('../x', {})).toThrow('got "../x"');
  });

  it('refuses a path-like MTLS_PREFIX, naming the variable', () => {
    expect(() => resolvePrefix(undefined, { MTLS_PREFIX: '../../tmp/x' })).toThrow(
      'MTLS_PREFIX must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "../../tmp/x"',
    );
  });
});

describe('parseIacEngine', () => {
  it('knows terraform and tofu; unset or empty means "not chosen"', () => {
    expect(parseIacEngine('terraform')).toBe('terraform');
    expect(parseIacEngine('tofu')).toBe('tofu');
    expect(parseIacEngine(undefined)).toBeUndefined();
    expect(parseIacEngine('')).toBeUndefined();
  });

  it.each(['opentofu', 'Terraform', 'tofu ', 'terraform;rm'])('refuses %j', (bad) => {
    expect(() => parseIacEngine(bad)).toThrow(`MTLS_IAC must be terraform or tofu, got ${JSON.stringify(bad)}`);
  });
});
