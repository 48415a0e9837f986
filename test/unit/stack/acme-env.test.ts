// The ACME wiring of the Docker stack: the CA gets MTLS_CA_ACME_DNS_NAMES
// (its entrypoint adds the provisioner `acme` for exactly those names) only
// when the mesh has a workload whose technology obtains its served
// certificate by ACME; that workload's app gets CA_URL and WORKLOAD_DNS_NAME,
// and no other app does.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { describe, expect, it } from 'vitest';

import { DEFAULT_MESH } from '../../../mesh.js';
import { CATALOG_MESH } from '../../../meshes/catalog.js';
import type { MeshSpec } from '../../../stack/mesh-spec.js';
import { type DockerContainerJson, envOf, listOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

function containersOf(mesh: MeshSpec, prefix: string) {
  const { json } = buildStack({ namePrefix: prefix, mesh });
  const all = listOf<DockerContainerJson>(json, Container);
  return (name: string) => envOf(all.find((c) => c.name === `${prefix}-${name}`)!);
}

describe('ACME: the CA provisioner and the app environment', () => {
  it('the default mesh has no ACME workload: no ACME names for the CA, no CA_URL for any app', () => {
    const env = containersOf(DEFAULT_MESH, 'noacme');
    expect(env('ca')).not.toHaveProperty('MTLS_CA_ACME_DNS_NAMES');
    for (const w of DEFAULT_MESH.workloads) expect(env(w.name), w.name).not.toHaveProperty('CA_URL');
  });

  it("the catalog's caddy-acme: its DNS name alone for the CA; CA_URL and its name for its app only", () => {
    const env = containersOf(CATALOG_MESH, 'acme');
    expect(env('ca')['MTLS_CA_ACME_DNS_NAMES']).toBe('caddy-acme.mesh.internal');
    expect(env('caddy-acme')).toMatchObject({ CA_URL: 'https://ca.mesh.internal:9000', WORKLOAD_DNS_NAME: 'caddy-acme.mesh.internal' });
    for (const name of ['caddy', 'caddy-acme-client', 'server']) {
      expect(env(name), name).not.toHaveProperty('CA_URL');
      expect(env(name), name).not.toHaveProperty('WORKLOAD_DNS_NAME');
    }
  });
});
