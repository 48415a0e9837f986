// The stack records its engine in the state (an output) and, for test runs,
// labels every container, network and volume with the run that owns it.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Network } from '@cdktf/provider-docker/lib/network/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { LABEL } from '../../../stack/labels.js';
import { listOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

type Labelled = { name: string; labels?: Array<{ label: string; value: string }> };
const TYPES = [Container.tfResourceType, Network.tfResourceType, Volume.tfResourceType];

describe('engine record', () => {
  it('adds the output iac_engine with the engine that applies the stack', () => {
    const { json } = buildStack({ namePrefix: 'eng', iac: 'tofu' });
    expect((json as { output?: Record<string, { value: unknown }> }).output?.iac_engine?.value).toBe('tofu');
  });

  it('records nothing when no engine is given (a hand-run synth)', () => {
    const { json } = buildStack({ namePrefix: 'eng' });
    expect((json as { output?: Record<string, unknown> }).output).not.toHaveProperty('iac_engine');
  });

  it('refuses an unknown engine', () => {
    expect(() => buildStack({ namePrefix: 'eng', iac: 'pulumi' as never })).toThrow('iac must be terraform or tofu, got "pulumi"');
  });
});

describe('owner label', () => {
  it('is on every container, network and volume, next to the prefix label', () => {
    const { json } = buildStack({ namePrefix: 'own', owner: 'host-1/4242/abc' });
    let count = 0;
    for (const type of TYPES) {
      for (const r of listOf<Labelled>(json, type)) {
        const labels = Object.fromEntries((r.labels ?? []).map((l) => [l.label, l.value]));
        expect(labels[LABEL.owner], `${type} ${r.name}`).toBe('host-1/4242/abc');
        expect(labels[LABEL.prefix], `${type} ${r.name}`).toBe('own');
        count++;
      }
    }
    expect(count).toBeGreaterThanOrEqual(8);
  });

  it("is absent from a stack without an owner (a person's stack)", () => {
    const { json } = buildStack({ namePrefix: 'own' });
    const labelled = TYPES.flatMap((type) => listOf<Labelled>(json, type));
    expect(labelled.length).toBeGreaterThanOrEqual(8);
    for (const r of labelled) expect((r.labels ?? []).map((l) => l.label)).not.toContain(LABEL.owner);
  });

  it.each(['', 'a b', 'x,y', 'a'.repeat(201)])('refuses the owner %j', (bad) => {
    expect(() => buildStack({ namePrefix: 'own', owner: bad })).toThrow(`owner must be 1-200 letters, digits or . _ : / -, got ${JSON.stringify(bad)}`);
  });
});
