import { afterAll, describe, expect, inject, it } from 'vitest';
import { fs } from 'zx';

import { waitFor } from '../../common/wait.js';
import { bootstrapTrust } from '../../scripts/lib/ca/trust-bootstrap.js';
import { freePort } from '../../scripts/lib/deploy/free-ports.js';
import { cdktf, freeHostPorts, readOutputs, stackDirs, type StackSettings, terraform } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { loadStack } from '../../scripts/lib/workloads/handles.js';
import { health } from '../../scripts/lib/workloads/readiness.js';
import { servingContainers } from './helpers/containers.js';

const ctx = inject('e2e');

async function containerIds(prefix: string): Promise<string[]> {
  const names = await docker.listLabelled('container', prefix);
  const out = await Promise.all(names.map(async (n) => (await import('zx')).$({ quiet: true })`docker inspect --format ${'{{.Id}}'} ${n}`));
  return out.map((o) => o.stdout.trim()).sort();
}

describe('stack lifecycle: side by side, idempotent, clean destroy', { timeout: 600_000 }, () => {
  // A second stack next to the suite's own; the e2e stem and the run's owner
  // label let a later setup remove it if this run is interrupted.
  // The Node pair alone: what this file checks (a second stack beside the first) needs no recipe.
  const settings: StackSettings = { prefix: `${ctx.prefix}b`, certLifetime: '5m', owner: ctx.owner, workloads: ['server', 'client'] };
  let deployed = false;

  afterAll(async () => {
    if (deployed) await cdktf('destroy', settings, { quiet: true }).catch(() => docker.removeLabelled(settings.prefix));
    await fs.remove(stackDirs(settings.prefix).stateDir);
    await fs.remove(stackDirs(settings.prefix).synthOut);
  });

  it('a second stack with another prefix runs beside the first, bootstrapped and enrolled, all containers healthy', async () => {
    const caPort = await freePort();
    const s = { ...settings, caPort, hostPorts: await freeHostPorts({ mesh: settings.mesh, workloads: settings.workloads, avoid: [caPort] }) };
    Object.assign(settings, s);
    deployed = true;
    await cdktf('deploy', settings, { quiet: true });
    const outputs = await readOutputs(settings.prefix);
    const names = await docker.listLabelled('container', settings.prefix);
    // <prefix>-ca-init is the CA's one-shot init step: it has exited (see 15-root-key).
    expect(names.sort()).toEqual([`${settings.prefix}-ca-init`, ...servingContainers(outputs)].sort());
    // Ready means serving with a certificate: the second stack gets its own trust and enrollment.
    await bootstrapTrust(settings.prefix, { quiet: true });
    const secondStack = await loadStack(settings.prefix);
    assertEnrolled(await enrollAll(secondStack, secondStack.workloads));
    for (const n of [...servingContainers(outputs), ...servingContainers(ctx.outputs)]) {
      await waitFor(`${n} healthy`, async () => ((await health(n)) === 'healthy' ? true : undefined), { timeoutMs: 90_000 });
    }
    const first = await docker.listLabelled('volume', ctx.prefix);
    const second = await docker.listLabelled('volume', settings.prefix);
    expect(first.filter((v) => second.includes(v))).toEqual([]);
  });

  it('a second deploy changes nothing', async () => {
    const before = await containerIds(settings.prefix);
    await cdktf('deploy', settings, { quiet: true });
    expect(await containerIds(settings.prefix)).toEqual(before);
    const plan = await terraform(settings.prefix, ['plan', '-detailed-exitcode', '-input=false', '-no-color']);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('No changes');
  });

  it('destroy leaves no container, network, volume or image of that stack, and the first stack untouched', async () => {
    const firstBefore = await containerIds(ctx.prefix);
    await cdktf('destroy', settings, { quiet: true });
    deployed = false;
    for (const kind of ['container', 'network', 'volume', 'image'] as const) {
      expect(await docker.listLabelled(kind, settings.prefix), kind).toEqual([]);
    }
    expect(await containerIds(ctx.prefix)).toEqual(firstBefore);
  });
});
