// What reaches Terraform (and its state): a pinned provider, no secrets.
import { describe, expect, it } from 'vitest';
import { DOCKER_PROVIDER } from '../../../stack/versions.js';
import { buildStack } from './fixtures.js';

describe('provider', () => {
  const { json, raw } = buildStack({ namePrefix: 'prov' });

  it('pins kreuzwerker/docker to the version in versions.ts', () => {
    expect(json.terraform?.required_providers?.['docker']).toEqual({ source: 'kreuzwerker/docker', version: DOCKER_PROVIDER.version });
    expect(DOCKER_PROVIDER.source).toBe('kreuzwerker/docker');
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
  const outputs = { 'Testing.synth': built.raw, 'toTerraform': JSON.stringify(built.stack.toTerraform()) };

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
