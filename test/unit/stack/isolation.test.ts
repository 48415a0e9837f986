// Two stacks with different prefixes can run side by side on one engine:
// nothing Docker names by name is shared.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { listOf, type SynthJson } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

const names = (json: SynthJson, type: string): string[] => listOf<{ name: string }>(json, type).map((r) => r.name);

describe('two stacks with different prefixes', () => {
  // `mtls` and `mtls-server` on purpose: one prefix extends the other and
  // collides with a resource name of the first (`mtls-server` is a container).
  const a = buildStack({ namePrefix: 'mtls' });
  const b = buildStack({ namePrefix: 'mtls-server' });

  it.each([
    ['docker_container', Container.tfResourceType],
    ['docker_network', Network.tfResourceType],
    ['docker_volume', Volume.tfResourceType],
    ['docker_image', Image.tfResourceType],
  ])('have disjoint %s names', (_label, type) => {
    const inA = names(a.json, type);
    const inB = names(b.json, type);
    expect(inA.length).toBeGreaterThan(0);
    expect(inB).toHaveLength(inA.length);
    expect(inA.filter((n) => inB.includes(n))).toEqual([]);
    for (const n of inA) expect(n.startsWith('mtls-')).toBe(true);
    for (const n of inB) expect(n.startsWith('mtls-server-')).toBe(true);
  });

  it('keep separate Terraform state', () => {
    const statePath = (j: SynthJson) => j.terraform?.backend?.['local']?.['path'];
    expect(statePath(a.json)).not.toBe(statePath(b.json));
  });
});
