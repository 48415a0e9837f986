// Which engine runs the stack: MTLS_IAC when set, else what is on PATH
// (tofu first), else the OpenTofu the toolchain builds.
import { describe, expect, it } from 'vitest';

import { UserError } from '../../../../scripts/lib/cli/ui.js';
import { chooseEngine, otherEngine, usable } from '../../../../scripts/lib/toolchain/engine.js';

describe('chooseEngine', () => {
  it('with nothing chosen, prefers tofu on PATH over terraform on PATH', () => {
    expect(chooseEngine(undefined, { tofu: '1.10.6', terraform: '1.11.4' })).toEqual({ engine: 'tofu', fromPath: true, why: 'tofu on PATH; MTLS_IAC unset' });
  });

  it('with nothing chosen and only terraform on PATH, uses terraform', () => {
    expect(chooseEngine(undefined, { terraform: '1.11.4' })).toEqual({
      engine: 'terraform',
      fromPath: true,
      why: 'terraform on PATH, no tofu; MTLS_IAC unset',
    });
  });

  it('with nothing usable on PATH, builds OpenTofu (an old terraform does not count)', () => {
    expect(chooseEngine(undefined, {})).toMatchObject({ engine: 'tofu', fromPath: false });
    expect(chooseEngine(undefined, { terraform: '1.4.7' })).toMatchObject({ engine: 'tofu', fromPath: false });
  });

  it('MTLS_IAC=tofu wins over terraform on PATH, using the built OpenTofu when tofu is not on PATH', () => {
    expect(chooseEngine('tofu', { terraform: '1.11.4' })).toEqual({ engine: 'tofu', fromPath: false, why: 'MTLS_IAC=tofu' });
    expect(chooseEngine('tofu', { terraform: '1.11.4', tofu: '1.9.0' })).toEqual({ engine: 'tofu', fromPath: true, why: 'MTLS_IAC=tofu' });
  });

  it('MTLS_IAC=terraform wins over tofu on PATH', () => {
    expect(chooseEngine('terraform', { terraform: '1.5.0', tofu: '1.10.6' })).toEqual({ engine: 'terraform', fromPath: true, why: 'MTLS_IAC=terraform' });
  });

  it('MTLS_IAC=terraform without a usable terraform is an error that says what to do', () => {
    const attempt = () => chooseEngine('terraform', { terraform: '1.4.7', tofu: '1.10.6' });
    expect(attempt).toThrow(UserError);
    expect(attempt).toThrow('MTLS_IAC=terraform, but no terraform >= 1.5.0 is on PATH (found 1.4.7). Install Terraform, or use OpenTofu: MTLS_IAC=tofu');
  });
});

describe('usable / otherEngine', () => {
  it('applies each engine its own minimum version', () => {
    expect(usable('tofu', { tofu: '1.6.0' })).toBe('1.6.0');
    expect(usable('tofu', { tofu: '1.5.9' })).toBeUndefined();
    expect(usable('terraform', { terraform: '1.5.0' })).toBe('1.5.0');
    expect(usable('terraform', { tofu: '1.10.0' })).toBeUndefined();
  });

  it('names the other engine', () => {
    expect(otherEngine('terraform')).toBe('tofu');
    expect(otherEngine('tofu')).toBe('terraform');
  });
});
