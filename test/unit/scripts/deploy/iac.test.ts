// The deploy path without the cdktf CLI: the CDKTF app synthesizes the same
// stack as `cdktf synth`, and the engine gets the steps `cdktf deploy` runs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { appCommand, APPLY_PARALLELISM, engineSteps, outputValues } from '../../../../scripts/lib/deploy/iac.js';
import { projectDir } from '../../../../scripts/lib/deploy/stack-instance.js';
import { cachePaths } from '../../../../scripts/lib/toolchain/cache.js';
import { ensureNodeBinary } from '../../../../scripts/lib/toolchain/node-runtime.js';
import { HOST_NODE_RELEASES } from '../../../../stack/versions.js';

/**
 * The cdktf CLI (not the deploy path) loads node-pty, whose package ships
 * prebuilt binaries for Node up to 22 only (and the project runs no install
 * scripts). Where this Node cannot load it, the CLI runs under the pinned Node 22.
 */
async function cdktfCliPath(): Promise<string> {
  try {
    const fromCore = createRequire(createRequire(path.join(projectDir, 'package.json')).resolve('@cdktf/cli-core/package.json'));
    fromCore('@cdktf/node-pty-prebuilt-multiarch');
    return process.env.PATH ?? '';
  } catch {
    const { binary } = await ensureNodeBinary(cachePaths(), { build: true, release: HOST_NODE_RELEASES['22'] });
    return `${path.dirname(binary)}${path.delimiter}${process.env.PATH ?? ''}`;
  }
}

describe('engineSteps', () => {
  it('deploy is init then a non-interactive apply with more than the default 10 parallel changes', () => {
    expect(engineSteps('deploy')).toEqual([
      ['init', '-input=false', '-no-color'],
      ['apply', '-auto-approve', '-input=false', '-no-color', `-parallelism=${APPLY_PARALLELISM}`],
    ]);
    expect(APPLY_PARALLELISM).toBeGreaterThan(10);
  });

  it('destroy and diff', () => {
    expect(engineSteps('destroy').map((s) => s[0])).toEqual(['init', 'destroy']);
    expect(engineSteps('destroy')[1]).toContain('-auto-approve');
    expect(engineSteps('diff')).toEqual([
      ['init', '-input=false', '-no-color'],
      ['plan', '-input=false', '-no-color'],
    ]);
  });
});

describe('outputValues', () => {
  it("keeps each output's value, as cdktf --outputs-file writes it", () => {
    const json = JSON.stringify({
      prefix: { sensitive: false, type: 'string', value: 'mtls' },
      cert_lifetimes: { sensitive: false, type: ['object', {}], value: { min: '1m', default: '5m', max: '24h' } },
    });
    expect(outputValues(json)).toEqual({ prefix: 'mtls', cert_lifetimes: { min: '1m', default: '5m', max: '24h' } });
  });

  it('refuses output that is not JSON', () => {
    expect(() => outputValues('Warning: No outputs found')).toThrow(SyntaxError);
  });
});

describe('the CDKTF app run directly synthesizes what `cdktf synth` does', { timeout: 180_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'iac-synth-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('same cdk.tf.json from both, for the same environment', async () => {
    const env = { ...process.env, MTLS_PREFIX: 'synth-check', CHECKPOINT_DISABLE: '1', FORCE_COLOR: '0', CI: '1' };
    const direct = path.join(dir, 'direct');
    const cli = path.join(dir, 'cli');
    await $({ cwd: projectDir, env: { ...env, CDKTF_OUTDIR: direct }, quiet: true, timeout: '50s' })`sh -c ${await appCommand(projectDir)}`;
    await $({ cwd: projectDir, env: { ...env, PATH: await cdktfCliPath() }, quiet: true, timeout: '150s' })`npx cdktf synth --output ${cli}`;
    const stack = (root: string) =>
      readFile(path.join(root, 'stacks', 'synth-check', 'cdk.tf.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>);
    const [a, b] = await Promise.all([stack(direct), stack(cli)]);
    expect(Object.keys(a)).toEqual(expect.arrayContaining(['resource', 'output', 'terraform']));
    expect(a).toEqual(b);
  });
});
