// Props reach the resources, and bad props fail at synth time with an error
// that names the prop and shows the bad value (lower-case, per STYLE.md).
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';

import { MtlsStack, type MtlsStackProps } from '../../../stack/mtls-stack.js';
import { MtlsWorkload, type MtlsWorkloadProps } from '../../../stack/mtls-workload.js';
import { Mesh } from '../../../stack/networks.js';
import { type DockerContainerJson, envOf, listOf, synthesize } from '../helpers/cdktf-matchers.js';
import { baseProps, buildStack } from './fixtures.js';

const caEnv = (overrides: Partial<MtlsStackProps>): Record<string, string> => {
  const { json, prefix } = buildStack(overrides);
  const ca = listOf<DockerContainerJson>(json, Container).find((c) => c.name === `${prefix}-ca`);
  if (!ca) throw new Error('no CA container');
  return envOf(ca);
};

describe('certificate lifetime claims', () => {
  it('default to min 1m, default 5m, max 24h', () => {
    expect(caEnv({ namePrefix: 'claims-default' })).toMatchObject({
      MTLS_CA_MIN_TLS_CERT_DURATION: '1m',
      MTLS_CA_DEFAULT_TLS_CERT_DURATION: '5m',
      MTLS_CA_MAX_TLS_CERT_DURATION: '24h',
    });
  });

  it('reach the CA env from the stack props', () => {
    expect(caEnv({ namePrefix: 'claims-set', minCertLifetime: '90s', certLifetime: '1h30m', maxCertLifetime: '48h' })).toMatchObject({
      MTLS_CA_MIN_TLS_CERT_DURATION: '90s',
      MTLS_CA_DEFAULT_TLS_CERT_DURATION: '1h30m',
      MTLS_CA_MAX_TLS_CERT_DURATION: '48h',
    });
  });

  it('accept min = default = max', () => {
    expect(() => buildStack({ namePrefix: 'claims-eq', minCertLifetime: '5m', certLifetime: '5m', maxCertLifetime: '5m' })).not.toThrow();
  });
});

/** Builds without synthesizing: validation happens in the constructors. */
const construct = (overrides: Partial<MtlsStackProps>) => () => new MtlsStack(Testing.app(), 'invalid', baseProps(overrides));

describe('prop validation', () => {
  it('rejects min > default', () => {
    expect(construct({ minCertLifetime: '10m', certLifetime: '5m' })).toThrow(
      'certificate lifetimes must satisfy min <= default <= max, got min=10m default=5m max=24h',
    );
  });

  it('rejects default > max', () => {
    expect(construct({ certLifetime: '2h', maxCertLifetime: '1h' })).toThrow(/min <= default <= max.*default=2h max=1h/);
  });

  it('rejects a duration that is not Go syntax', () => {
    expect(construct({ certLifetime: '5 minutes' })).toThrow('invalid duration "5 minutes"');
  });

  it.each(['Bad_Prefix', 'x', '1abc', 'a'.repeat(25), ''])('rejects the prefix %j', (bad) => {
    expect(construct({ namePrefix: bad })).toThrow(`namePrefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "${bad}"`);
  });

  it('rejects a CA host port outside 1-65535', () => {
    expect(construct({ caPort: 70000 })).toThrow('caPort must be a TCP port (1-65535), got 70000');
    expect(construct({ caPort: 0 })).toThrow(/got 0$/);
  });

  it('rejects a workload host port outside 1-65535', () => {
    expect(construct({ hostPorts: { server: 70000 } })).toThrow('workload "server": hostPort must be an integer between 1 and 65535, got 70000');
    expect(construct({ hostPorts: { server: 8443.5 } })).toThrow(/got 8443\.5/);
  });

  it('reports errors in lower case', () => {
    for (const bad of [{ namePrefix: 'Bad_Prefix' }, { caPort: 70000 }, { minCertLifetime: 'soon' }, { minCertLifetime: '1h' }]) {
      let message = '';
      try {
        construct(bad)();
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, JSON.stringify(bad)).toMatch(/^[a-z]/);
    }
  });
});

describe('MtlsWorkload on its own', () => {
  const workloadProps = (mesh: Mesh, overrides: Partial<MtlsWorkloadProps> = {}): MtlsWorkloadProps => ({
    namePrefix: 'solo',
    name: 'server',
    role: 'server',
    technology: 'node-server',
    identity: { dnsName: 'server.mesh.internal', uri: 'spiffe://mesh.internal/server' },
    mesh,
    appImage: 'app:test',
    renewerImage: 'renewer:test',
    caUrl: 'https://ca.mesh.internal:9000',
    ...overrides,
  });

  it('synthesizes an app and a renewer for a valid identity', () => {
    const raw = Testing.synthScope((scope) => {
      const mesh = new Mesh(scope, 'mesh', { namePrefix: 'solo' });
      new MtlsWorkload(scope, 'server', workloadProps(mesh));
    });
    expect(raw).toHaveResourceWithProperties(Container, { name: 'solo-server', hostname: 'server.mesh.internal', ports: [] });
    expect(raw).toHaveResourceWithProperties(Container, { name: 'solo-server-renewer' });
  });

  it('rejects an identity outside the mesh domain', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'solo' });
        new MtlsWorkload(scope, 'server', workloadProps(mesh, { identity: { dnsName: 'server.evil.example' } }));
      }),
    ).toThrow('identity.dnsName must be under the mesh domain mesh.internal, got "server.evil.example"');
  });

  it('rejects a name that only ends like the mesh domain', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'solo' });
        new MtlsWorkload(scope, 'server', workloadProps(mesh, { identity: { dnsName: 'server.notmesh.internal' } }));
      }),
    ).toThrow(/under the mesh domain mesh\.internal/);
  });

  it('rejects a URI that is not absolute', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'solo' });
        new MtlsWorkload(scope, 'server', workloadProps(mesh, { identity: { dnsName: 'server.mesh.internal', uri: 'server' } }));
      }),
    ).toThrow('identity.uri must be an absolute URI such as spiffe://mesh.internal/server, got "server"');
  });

  it('rejects a bad publish port', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'solo' });
        new MtlsWorkload(scope, 'server', workloadProps(mesh, { publish: { containerPort: 8443, hostPort: 70000 } }));
      }),
    ).toThrow('publish.hostPort must be a TCP port (1-65535), got 70000');
  });

  it('is usable from synthesize() on a plain stack as well', () => {
    const app = Testing.app();
    const stack = new MtlsStack(app, 'plain', baseProps({ namePrefix: 'plain' }));
    expect(listOf<DockerContainerJson>(synthesize(stack).json, Container)).toHaveLength(6);
  });
});

describe('MtlsStack cross-prop validation', () => {
  it('rejects the same host port for the CA and a workload', () => {
    expect(construct({ caPort: 9443, hostPorts: { server: 9443 } })).toThrow('workload "server": hostPort 9443 is already taken by the CA (caPort)');
  });

  it('rejects a host port for a workload the mesh does not have', () => {
    expect(construct({ hostPorts: { nosuch: 9443 } })).toThrow('hostPorts names "nosuch", which is not a workload of the mesh');
  });
});
