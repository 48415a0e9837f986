// What reaches Terraform (and its state): a pinned provider, no secrets.
import { describe, expect, it } from 'vitest';

import { DOCKER_PROVIDER } from '../../../stack/versions.js';
import { buildStack } from './fixtures.js';

describe('provider', () => {
  const { json, raw } = buildStack({ namePrefix: 'prov' });

  it('constrains kreuzwerker/docker to the range in versions.ts', () => {
    expect(json.terraform?.required_providers?.['docker']).toEqual({ source: 'kreuzwerker/docker', version: DOCKER_PROVIDER.constraint });
    expect(DOCKER_PROVIDER.source).toBe('kreuzwerker/docker');
  });

  // A connected machine gets a published release from the public registry;
  // offline, the mirror's build is installed as mirrorVersion. The one
  // constraint must accept both, or one of the two paths cannot init.
  it('accepts the newest published release and the offline mirror build', () => {
    const m = /^~> (\d+)\.(\d+)$/.exec(DOCKER_PROVIDER.constraint);
    expect(m, `constraint ${DOCKER_PROVIDER.constraint} is a ~> X.Y range`).not.toBeNull();
    const [major, minor] = [Number(m![1]), Number(m![2])];
    const satisfies = (v: string) => {
      const [a, b] = v.split('.').map(Number) as [number, number];
      return a === major && b >= minor;
    };
    expect(satisfies('4.5.0'), 'v4.5.0, the newest published tag').toBe(true);
    expect(satisfies(DOCKER_PROVIDER.mirrorVersion), `mirror build ${DOCKER_PROVIDER.mirrorVersion}`).toBe(true);
    expect(satisfies('5.0.0')).toBe(false);
  });

  it('configures the docker provider', () => {
    expect(raw).toHaveProviderWithProperties('docker', {});
  });

  it('keeps state under .state/<prefix>/ of the project by default', () => {
    expect(json.terraform?.backend?.['local']?.['path']).toMatch(/[/\\]\.state[/\\]prov[/\\]terraform\.tfstate$/);
  });
});

describe('no secrets in the synthesized configuration', () => {
  const built = buildStack({ namePrefix: 'sec' });
  // Testing.synth output, and what `cdktf synth` writes (with metadata).
  const outputs = { 'Testing.synth': built.raw, toTerraform: JSON.stringify(built.stack.toTerraform()) };

  describe.each(Object.entries(outputs))('%s', (_, text) => {
    it.each([
      ['a password', /password/i],
      ['a token', /token/i],
      ['a PEM block', /-----BEGIN/],
      ['a private key', /PRIVATE KEY/i],
      ['an init password env', /DOCKER_STEPCA_INIT_PASSWORD/],
      ['a provisioner secret file', /secrets\//],
    ])('contains no %s', (_what, pattern) => {
      expect(text).not.toMatch(pattern);
    });
  });
});
