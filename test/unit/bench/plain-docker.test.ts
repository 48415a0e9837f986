// The B1 baseline must translate every container the stack synthesizes,
// including the CA's one-shot init step (attach, depends_on, network none).
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { describe, expect, it } from 'vitest';

import { containerSpec } from '../../../bench/lib/plain-docker.js';
import { type DockerContainerJson, listOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from '../stack/fixtures.js';

const { json, prefix } = buildStack({ namePrefix: 'pd' }, 'pd-stack');

const specs = listOf<DockerContainerJson>(json, Container).map((c) => containerSpec(c as any));

describe('plain-docker baseline', () => {
  it('translates every synthesized container', () => {
    expect(specs.map((s) => s.name)).toContain(`${prefix}-ca-init`);
    expect(specs.length).toBeGreaterThanOrEqual(6);
  });

  it('runs the CA init step once, without a network, before the rest', () => {
    const init = specs.find((s) => s.name === `${prefix}-ca-init`)!;
    expect(init.oneShot).toBe(true);
    expect(init.flags.join(' ')).toContain('--network none');
    expect(init.flags.join(' ')).toContain('--restart on-failure:3');
    expect(init.networks).toEqual([]);
    expect(specs.filter((s) => s.oneShot).map((s) => s.name)).toEqual([`${prefix}-ca-init`]);
  });

  it('refuses an attribute it does not know instead of dropping it', () => {
    expect(() => containerSpec({ name: 'x', image: 'i', privileged: true })).toThrow('does not translate privileged of container x');
  });
});
