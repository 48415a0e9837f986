// The root pin lives on a per-workload trust volume that only the app mounts,
// read-only: the renewer (which writes root.crt) can never change it.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { describe, expect, it } from 'vitest';

import { ROOT_PIN_FILE, TRUST_DIR } from '../../../stack/mtls-workload.js';
import { type DockerContainerJson, envOf, listOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

const { json, prefix, stack } = buildStack({ namePrefix: 'pin', caPort: 19000, hostPorts: { server: 18443 } });
const containers = listOf<DockerContainerJson>(json, Container);
const byName = (name: string) => containers.find((c) => c.name === name)!;

describe.each(['server', 'client'])('%s trust volume', (w) => {
  it('is mounted read-only into the app, which is told where the pin file is', () => {
    const app = byName(`${prefix}-${w}`);
    const mounts = (app.volumes ?? []).filter((v) => v.container_path === TRUST_DIR);
    expect(mounts).toEqual([expect.objectContaining({ container_path: TRUST_DIR, read_only: true })]);
    expect(envOf(app)['ROOT_PIN_FILE']).toBe(ROOT_PIN_FILE);
    expect(ROOT_PIN_FILE.startsWith(`${TRUST_DIR}/`)).toBe(true);
  });

  it('is mounted into no other container', () => {
    const others = containers.filter((c) => c.name !== `${prefix}-${w}`);
    const app = byName(`${prefix}-${w}`);
    const trustRef = app.volumes?.find((v) => v.container_path === TRUST_DIR)?.volume_name;
    expect(trustRef).toBeTruthy();
    for (const c of others)
      expect(
        (c.volumes ?? []).map((v) => v.volume_name),
        c.name,
      ).not.toContain(trustRef);
  });

  it('is a stack output, so bootstrap-trust can write the pin', () => {
    const trustRef = byName(`${prefix}-${w}`).volumes?.find((v) => v.container_path === TRUST_DIR)?.volume_name;
    const outputs = (json as { output?: Record<string, { value: unknown }> }).output ?? {};
    const entry = (outputs['workloads']?.value as Array<Record<string, string>>).find((o) => o['name'] === w);
    expect(entry?.['trust_volume']).toBe(trustRef);
    expect(stack.workload(w).trustVolumeName).toBeTruthy();
  });
});
