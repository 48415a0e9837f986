// The suite's stack runs on the default engine; this file proves the other
// one (OpenTofu where terraform is the default, and the reverse) end to end:
// a stack deployed with it serves mTLS, records its engine in the state, is
// refused to the suite's engine without an explicit switch, deploys again
// without changes and destroys cleanly.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { waitFor } from '../../common/wait.js';
import { cdktf, readOutputs, stackEngine, type StackSettings, terraform } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { cachePaths } from '../../scripts/lib/toolchain/cache.js';
import { otherEngine, type TerraformCli } from '../../scripts/lib/toolchain/engine.js';
import { engineCli } from '../../scripts/lib/toolchain/terraform.js';
import { appStats } from '../../scripts/lib/workloads/handles.js';
import { downTestStack, removeLocalState, testStackSettings, upTestStack } from './helpers/test-stack.js';

const ctx = inject('e2e');
const other = otherEngine(ctx.engine.flavour);

async function containerIds(prefix: string): Promise<string[]> {
  const names = await docker.listLabelled('container', prefix);
  const ids = await Promise.all(names.map((n) => $({ quiet: true })`docker inspect --format ${'{{.Id}}'} ${n}`));
  return ids.map((o) => o.stdout.trim()).sort();
}

describe(`a stack on the other engine (${other})`, { timeout: 600_000 }, () => {
  let engine: TerraformCli;
  let settings: StackSettings;
  let deployed = false;

  beforeAll(async () => {
    // Built (OpenTofu, ~4 minutes cold) or taken from the toolchain's cache.
    const cli = await engineCli(cachePaths(), other, { build: true, chosenBy: 'the e2e test of the other engine' });
    if (!cli) throw new Error(`this test needs ${other} as the second engine: install terraform >= 1.5 on PATH (OpenTofu the toolchain builds itself)`);
    engine = cli;
    // The Node pair alone: the engine switch is about state, not about what runs.
    settings = await testStackSettings(`${ctx.prefix}t`, ctx.owner, { workloads: ['server', 'client'] });
  }, 900_000);

  afterAll(async () => {
    if (!settings) return;
    if (deployed) await downTestStack(settings, engine);
    else await removeLocalState(settings.prefix);
  });

  it(`deploys with ${other}, records it in the state, and the client gets 200 from the server over mTLS`, async () => {
    expect(engine.flavour).toBe(other);
    deployed = true;
    const { stack } = await upTestStack(settings, engine);
    const record = await stackEngine(settings.prefix);
    expect(record?.engine).toBe(other);
    expect(record?.version).toBe(engine.version);
    expect((await readOutputs(settings.prefix)).prefix).toBe(settings.prefix);

    const client = stack.workloads.find((w) => w.name === 'client')!;
    const stats = await waitFor(
      "client success on the other engine's stack",
      async () => {
        const s = await appStats(client);
        return (s?.requests?.successes ?? 0) > 0 ? s : undefined;
      },
      { timeoutMs: 90_000 },
    );
    const last = stats.lastResponse as { status: number; body: { identity: string } };
    expect(last.status).toBe(200);
    expect(last.body.identity).toBe(client.uri);
  });

  it(`refuses the suite's engine (${ctx.engine.flavour}) on that stack unless the switch is allowed`, async () => {
    await expect(terraform(settings.prefix, ['plan', '-input=false', '-no-color'], { engine: ctx.engine })).rejects.toThrow(
      `stack "${settings.prefix}" is managed by ${other} ${engine.version}`,
    );
    await expect(cdktf('deploy', settings, { quiet: true, engine: ctx.engine })).rejects.toThrow(/Refusing to switch engines silently: run with MTLS_IAC=/);
    // Nothing ran: the state still records the other engine.
    expect((await stackEngine(settings.prefix))?.engine).toBe(other);
  });

  it(`a second deploy with ${other} plans no changes`, async () => {
    const outputs = await readOutputs(settings.prefix);
    const expected = [outputs.ca_container, ...outputs.workloads.flatMap((w) => [w.container, w.renewer])];
    expect(await docker.listLabelled('container', settings.prefix)).toEqual(expect.arrayContaining(expected));
    const before = await containerIds(settings.prefix);
    await cdktf('deploy', settings, { quiet: true, engine });
    expect(await containerIds(settings.prefix)).toEqual(before);
    const plan = await terraform(settings.prefix, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], { engine });
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain('No changes');
  });

  it(`switching on purpose (MTLS_IAC_SWITCH) to ${ctx.engine.flavour} and back keeps every container and rewrites the record`, async () => {
    const before = await containerIds(settings.prefix);
    await cdktf('deploy', settings, { quiet: true, engine: ctx.engine, allowEngineSwitch: true });
    expect(await containerIds(settings.prefix)).toEqual(before);
    expect(await stackEngine(settings.prefix)).toMatchObject({ engine: ctx.engine.flavour, version: ctx.engine.version });
    const plan = await terraform(settings.prefix, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], { engine: ctx.engine });
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    // Now the other engine is the one refused, until it is allowed back.
    await expect(cdktf('deploy', settings, { quiet: true, engine })).rejects.toThrow(`is managed by ${ctx.engine.flavour} ${ctx.engine.version}`);
    await cdktf('deploy', settings, { quiet: true, engine, allowEngineSwitch: true });
    expect(await containerIds(settings.prefix)).toEqual(before);
    expect(await stackEngine(settings.prefix)).toMatchObject({ engine: other, version: engine.version });
  });

  it(`destroy with ${other} leaves no container, network, volume or image of that stack`, async () => {
    await cdktf('destroy', settings, { quiet: true, engine });
    deployed = false;
    for (const kind of ['container', 'network', 'volume', 'image'] as const) {
      expect(await docker.listLabelled(kind, settings.prefix), kind).toEqual([]);
    }
    expect(await stackEngine(settings.prefix)).toBeUndefined();
  });
});
