// Images are built from the base images passed as props, and the workloads
// know each other's identities.
import path from 'node:path';

import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { describe, expect, it } from 'vitest';

import { type DockerContainerJson, type DockerImageJson, envOf, listOf, resourcesOf } from '../helpers/cdktf-matchers.js';
import { buildStack, NODE_BASE, NODE_PAIR, PROJECT_DIR, referencedId, STEP_CA_BASE } from './fixtures.js';

const { json, raw, prefix, stack } = buildStack({ namePrefix: 'wire' });
const images = resourcesOf<DockerImageJson>(json, Image);
const containers = listOf<DockerContainerJson>(json, Container);
const container = (name: string): DockerContainerJson => {
  const c = containers.find((x) => x.name === `${prefix}-${name}`);
  if (!c) throw new Error(`no container ${prefix}-${name}`);
  return c;
};
const imageOf = (c: DockerContainerJson): DockerImageJson | undefined => {
  const id = referencedId(c.image, 'docker_image');
  return id === undefined ? undefined : images[id];
};

describe('images', () => {
  // Only names, contexts and build args: the content hash (a label and a
  // trigger) changes with every edit under services/ and is not asserted.
  it('build the CA image from the step-ca base image prop', () => {
    expect(raw).toHaveResourceWithProperties(Image, {
      name: `${prefix}-step-ca:local`,
      // The project root, so the image reaches recipes/lib; the root .dockerignore sends only its two folders.
      build: { context: PROJECT_DIR, dockerfile: 'images/step-ca/Dockerfile', build_args: { STEP_CA_IMAGE: STEP_CA_BASE } },
    });
  });

  it('build the workload image from the node base image prop', () => {
    expect(raw).toHaveResourceWithProperties(Image, {
      name: `${prefix}-workload:local`,
      build: { context: path.join(PROJECT_DIR, 'services', 'workload'), dockerfile: 'Dockerfile', build_args: { NODE_IMAGE: NODE_BASE } },
    });
  });

  it('are exactly these two', () => {
    expect(
      Object.values(images)
        .map((i) => i.name)
        .sort(),
    ).toEqual([`${prefix}-step-ca:local`, `${prefix}-workload:local`]);
  });

  it('run where they belong: step image for the CA and renewers, workload image for the apps', () => {
    expect(imageOf(container('ca'))?.name).toBe(`${prefix}-step-ca:local`);
    expect(imageOf(container('server-renewer'))?.name).toBe(`${prefix}-step-ca:local`);
    expect(imageOf(container('client-renewer'))?.name).toBe(`${prefix}-step-ca:local`);
    expect(imageOf(container('server'))?.name).toBe(`${prefix}-workload:local`);
    expect(imageOf(container('client'))?.name).toBe(`${prefix}-workload:local`);
  });
});

describe('workload identities', () => {
  it('the server allows the client URI, then the operator (the mesh allow-list, in order)', () => {
    const allowed = envOf(container('server'))['ALLOWED_IDENTITIES']?.split(',');
    expect(allowed).toEqual(['spiffe://mesh.internal/client', 'spiffe://mesh.internal/ops']);
    expect(allowed).toContain(stack.workload('client').identity.uri);
  });

  it('the client expects the server URI and targets the server DNS name', () => {
    const env = envOf(container('client'));
    expect(env['EXPECTED_SERVER_IDENTITY']).toBe('spiffe://mesh.internal/server');
    expect(env['EXPECTED_SERVER_IDENTITY']).toBe(stack.workload('server').identity.uri);
    expect(env['TARGET_URL']).toBe('https://server.mesh.internal:8443/');
  });

  it('each app runs its role and is reachable by its DNS name in the mesh', () => {
    for (const role of ['server', 'client'] as const) {
      const c = container(role);
      const w = stack.workload(role);
      expect(c.hostname).toBe(w.identity.dnsName);
      expect(c.networks_advanced?.[0]?.aliases).toEqual([w.identity.dnsName]);
      expect((c as DockerContainerJson & { command?: string[] }).command).toEqual(['node', `/app/${role}.mjs`]);
    }
  });

  it('a mesh without operators: the server allows only the client', () => {
    const plain = buildStack({
      namePrefix: 'wire-plain',
      mesh: { ...NODE_PAIR, operators: [], workloads: NODE_PAIR.workloads.map((w) => (w.allow ? { ...w, allow: ['client'] } : w)) },
    });
    const server = listOf<DockerContainerJson>(plain.json, Container).find((c) => c.name === 'wire-plain-server');
    expect(server && envOf(server)['ALLOWED_IDENTITIES']).toBe('spiffe://mesh.internal/client');
  });
});
