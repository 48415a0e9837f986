// Networks and volumes: labelled for discovery and cleanup; `mesh` is
// internal, and whatever publishes a port is also on the non-internal `edge`
// (Docker silently ignores port publishing on internal networks).
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { LABEL } from '../../../stack/labels.js';
import { PROJECT } from '../../../stack/versions.js';
import { type DockerContainerJson, type DockerNetworkJson, type DockerVolumeJson, labelsOf, listOf, resourcesOf } from '../helpers/cdktf-matchers.js';
import { buildStack, referencedId } from './fixtures.js';

const { json, raw, prefix } = buildStack({ namePrefix: 'net' });
const networks = resourcesOf<DockerNetworkJson>(json, Network);
const volumes = listOf<DockerVolumeJson>(json, Volume);
const containers = listOf<DockerContainerJson>(json, Container);

/** The networks a container joins, resolved from `${docker_network.<id>.name}`. */
const networksOf = (c: DockerContainerJson): DockerNetworkJson[] =>
  (c.networks_advanced ?? []).map((n) => {
    const id = referencedId(n.name, 'docker_network');
    const net = id === undefined ? undefined : networks[id];
    if (!net) throw new Error(`container ${c.name} joins an unknown network ${n.name}`);
    return net;
  });

describe('networks', () => {
  it('are <prefix>-mesh (internal) and <prefix>-edge (not internal)', () => {
    expect(raw).toHaveResourceWithProperties(Network, { name: `${prefix}-mesh`, internal: true });
    expect(raw).toHaveResourceWithProperties(Network, { name: `${prefix}-edge`, internal: false });
    expect(
      Object.values(networks)
        .map((n) => n.name)
        .sort(),
    ).toEqual([`${prefix}-edge`, `${prefix}-mesh`]);
  });

  it.each(['mesh', 'edge'])('%s carries the project and prefix labels', (which) => {
    const net = Object.values(networks).find((n) => n.name === `${prefix}-${which}`);
    expect(net && labelsOf(net)).toMatchObject({ [LABEL.project]: PROJECT, [LABEL.prefix]: prefix });
  });

  it('every long-running container is on the internal mesh network', () => {
    for (const c of containers.filter((x) => x.name !== `${prefix}-ca-init`)) {
      expect(
        networksOf(c).map((n) => n.name),
        c.name,
      ).toContain(`${prefix}-mesh`);
    }
  });

  it('the CA init step has no network at all', () => {
    const init = containers.find((c) => c.name === `${prefix}-ca-init`);
    expect(init?.network_mode).toBe('none');
    expect(init?.networks_advanced ?? []).toEqual([]);
  });

  it('containers that publish ports are also on a non-internal network', () => {
    const publishing = containers.filter((c) => (c.ports ?? []).length > 0);
    expect(publishing.map((c) => c.name).sort()).toEqual([`${prefix}-ca`, `${prefix}-server`]);
    for (const c of publishing) {
      expect(
        networksOf(c).some((n) => n.internal === false),
        c.name,
      ).toBe(true);
    }
  });

  it('containers that publish nothing stay off the edge network', () => {
    const unpublished = containers.filter((x) => (x.ports ?? []).length === 0);
    expect(unpublished.length).toBeGreaterThan(0);
    for (const c of unpublished) {
      expect(
        networksOf(c).map((n) => n.name),
        c.name,
      ).not.toContain(`${prefix}-edge`);
    }
  });
});

describe('volumes', () => {
  it('are the CA volume, the root-key volume, and one certs and one trust volume per workload', () => {
    expect(volumes.map((v) => v.name).sort()).toEqual([
      `${prefix}-ca`,
      `${prefix}-ca-root-key`,
      `${prefix}-client-certs`,
      `${prefix}-client-trust`,
      `${prefix}-server-certs`,
      `${prefix}-server-trust`,
    ]);
  });

  it('all carry the project and prefix labels', () => {
    for (const v of volumes) {
      expect(labelsOf(v), v.name).toMatchObject({ [LABEL.project]: PROJECT, [LABEL.prefix]: prefix });
    }
  });
});
