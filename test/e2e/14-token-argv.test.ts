import { describe, expect, inject, it } from 'vitest';

import { enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { loadStack } from '../../scripts/lib/workloads/handles.js';
import { sampleStepArgv, TOKEN_SHAPE } from './helpers/argv-sampler.js';
import { workload } from './helpers/fixtures.js';

const ctx = inject('e2e');

// A local user who reads /proc/<pid>/cmdline while enrollment runs must not
// see the one-time token (and so cannot race to redeem it with their own key).
describe('one-time tokens never appear in a process argv', { timeout: 120_000 }, () => {
  it('enrollment: step ca certificate runs in the renewer without the token in its argv', async () => {
    const stack = await loadStack(ctx.prefix);
    const server = workload(stack, 'server');
    const sampling = sampleStepArgv(server.renewer, 8);
    // The sampler is running well before the token is minted and exchanged.
    const [result] = await enrollAll(stack, [server], { force: true });
    const seen = await sampling;
    expect(result?.action, result?.error).toBe('issued');
    // The sampler saw the exchange itself, so an absence below means something.
    const exchange = seen.filter((l) => l.startsWith('step ca certificate server.mesh.internal '));
    expect(exchange, seen.join('\n')).toHaveLength(1);
    for (const line of seen) {
      expect(line).not.toMatch(TOKEN_SHAPE);
      expect(line).not.toContain('--token');
    }
  });
});
