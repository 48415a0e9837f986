// The Terraform provider only reads DOCKER_HOST; the toolchain must hand it
// the endpoint of the context the docker CLI uses, and leave an explicit
// DOCKER_HOST alone.
import { describe, expect, it } from 'vitest';

import { endpointFromContext, providerEnv } from '../../../../scripts/lib/toolchain/docker-host.js';
import { type Toolchain, toolchainEnv } from '../../../../scripts/lib/toolchain/index.js';
import { OFFICIAL_IMAGES } from '../../../../stack/versions.js';

const inspect = (name: string, host: string, tls = false) =>
  JSON.stringify([
    {
      Name: name,
      Endpoints: { docker: { Host: host, SkipTLSVerify: false } },
      TLSMaterial: tls ? { docker: ['ca.pem', 'cert.pem', 'key.pem'] } : {},
      Storage: { MetadataPath: '/home/u/.docker/contexts/meta/x', TLSPath: '/home/u/.docker/contexts/tls/x' },
    },
  ]);

describe('endpointFromContext', () => {
  it('Docker Desktop on macOS: the desktop-linux context socket', () => {
    const e = endpointFromContext({}, inspect('desktop-linux', 'unix:///Users/u/.docker/run/docker.sock'));
    expect(e).toEqual({ host: 'unix:///Users/u/.docker/run/docker.sock', certPath: undefined, why: 'endpoint of docker context "desktop-linux"' });
  });

  it('rootless Docker: the per-user socket', () => {
    expect(endpointFromContext({}, inspect('rootless', 'unix:///run/user/1000/docker.sock')).host).toBe('unix:///run/user/1000/docker.sock');
  });

  it('a TLS context: the host and the directory of its certificates', () => {
    const e = endpointFromContext({}, inspect('remote', 'tcp://10.0.0.5:2376', true));
    expect(e.host).toBe('tcp://10.0.0.5:2376');
    expect(e.certPath).toBe('/home/u/.docker/contexts/tls/x/docker');
  });

  it('an explicit DOCKER_HOST wins and is left as it is', () => {
    expect(endpointFromContext({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }, inspect('desktop-linux', 'unix:///x.sock'))).toEqual({
      why: 'DOCKER_HOST is set; the provider reads it',
    });
  });

  it.each([
    ['no output', undefined, 'no docker context could be read'],
    ['not JSON', 'Error: context "x" does not exist', 'printed no JSON'],
    ['no endpoint', '[{"Name":"odd","Endpoints":{}}]', 'names no endpoint'],
  ])('%s: nothing is passed on, and it says why', (_label, out, why) => {
    const e = endpointFromContext({}, out);
    expect(e.host).toBeUndefined();
    expect(e.why).toContain(why);
  });
});

describe('toolchainEnv', () => {
  const tc: Toolchain = {
    mode: 'connected',
    modeReason: 'test',
    cacheDir: '/cache',
    terraform: { binary: 'terraform', flavour: 'terraform', version: '1.11.4', built: false },
    terraformCliConfig: '/cache/terraform/cli.tfrc',
    baseImages: OFFICIAL_IMAGES,
    dockerServerVersion: '28.0.0',
    dockerEndpoint: { host: 'unix:///run/user/1000/docker.sock', why: 'endpoint of docker context "rootless"' },
  };

  it('gives the provider the context endpoint when DOCKER_HOST is unset', () => {
    expect(toolchainEnv(tc, { PATH: '/bin' }).DOCKER_HOST).toBe('unix:///run/user/1000/docker.sock');
  });

  it('keeps a DOCKER_HOST the user set', () => {
    expect(toolchainEnv(tc, { DOCKER_HOST: 'tcp://127.0.0.1:2375' }).DOCKER_HOST).toBe('tcp://127.0.0.1:2375');
  });

  it('sets nothing for an endpoint without a host', () => {
    expect(providerEnv({ why: 'DOCKER_HOST is set' })).toEqual({});
  });
});
