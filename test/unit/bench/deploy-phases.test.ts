// B1's breakdown of one deploy (synth, engine, readiness), from when its output lines arrived.
import { describe, expect, it } from 'vitest';

import { deployPhases } from '../../../bench/lib/deploy-phases.js';
import type { PhaseMark } from '../../../scripts/lib/deploy/iac.js';

const at = (s: number, text: string) => ({ at: s * 1000, text });
const mark = (s: number, m: PhaseMark) => ({ at: s * 1000, text: `bench-b1: ${m}`, mark: m });

describe('deployPhases', () => {
  it('splits synth, init, plan, apply, outputs and readiness, and follows the chain of waits that sets the apply', () => {
    const p = deployPhases([
      at(1.0, '> node --import tsx main.ts'),
      mark(3.5, 'synthesized'),
      at(4.0, 'Initializing the backend...'),
      at(5.5, 'Terraform has been successfully initialized!'),
      at(7.0, 'docker_network.mesh_ABC (mesh): Creating...'),
      at(7.1, 'docker_volume.ca_volume_1 (ca/volume): Creating...'),
      at(7.2, 'docker_network.mesh_ABC (mesh): Creation complete after 0s [id=1]'),
      at(7.25, 'docker_volume.ca_volume_1 (ca/volume): Creation complete after 0s [id=2]'),
      at(7.3, 'docker_container.ca_init_0F (ca/init): Creating...'),
      at(7.3, 'docker_container.server_renewer_FE1 (server/renewer): Creating...'),
      at(7.4, 'docker_container.server_app_681 (server/app): Creating...'),
      at(9.3, 'docker_container.ca_init_0F (ca/init): Creation complete after 2s [id=3]'),
      at(9.4, 'docker_container.ca_container_9A (ca/container): Creating...'),
      at(12.5, 'docker_container.server_renewer_FE1 (server/renewer): Creation complete after 5s [id=4]'),
      at(12.6, 'docker_container.server_app_681 (server/app): Creation complete after 5s [id=5]'),
      at(14.6, 'docker_container.ca_container_9A (ca/container): Creation complete after 5s [id=6]'),
      at(14.7, 'Apply complete! Resources: 7 added, 0 changed, 0 destroyed.'),
      mark(15.0, 'outputs'),
      mark(16.5, 'ready'),
      { at: 16_500, text: '' },
    ]);
    expect([p.synth, p.init, p.plan, p.apply, p.finish, p.ready]).toEqual([3.5, 2, 1.5, 7.7, expect.closeTo(0.3, 5), 1.5]);
    expect(p.resources).toEqual({
      network: { count: 1, slowest: expect.closeTo(0.2, 5) },
      volume: { count: 1, slowest: expect.closeTo(0.15, 5) },
      'container ca-init': { count: 1, slowest: 2 },
      'container renewer': { count: 1, slowest: expect.closeTo(5.2, 5) },
      'container app': { count: 1, slowest: expect.closeTo(5.2, 5) },
      'container ca': { count: 1, slowest: expect.closeTo(5.2, 5) },
    });
    // The apply's length comes from the CA: its volume, its init step, then its own health wait.
    expect(p.slowest.map((s) => s.resource)).toEqual(['docker_volume.ca_volume_1', 'docker_container.ca_init_0F', 'docker_container.ca_container_9A']);
  });

  it('gives 0 to phases whose marker never appeared (a deploy with nothing to change, unmarked output)', () => {
    const p = deployPhases([at(3, 'Initializing the backend...'), at(4, 'Terraform has been successfully initialized!'), { at: 6000, text: '' }]);
    expect([p.synth, p.init, p.plan, p.apply, p.finish, p.ready]).toEqual([3, 1, 0, 0, 2, 0]);
    expect(p.slowest).toEqual([]);
  });
});
