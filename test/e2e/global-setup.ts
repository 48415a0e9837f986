import os from 'node:os';

import type { TestProject } from 'vitest/node';

import { createUi } from '../../scripts/lib/cli/ui.js';
import { buildServices, readOutputs } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { ownerValue, processRunning, selectLeftovers } from '../../scripts/lib/docker/ownership.js';
import { ensureToolchain } from '../../scripts/lib/toolchain/index.js';
import { readSetting } from '../../settings.js';
import type { E2eContext } from './helpers/context.js';
import { downTestStack, E2E_MESH, E2E_PREFIX_STEM, OPERATOR_URI, removeLocalState, testStackSettings, upTestStack } from './helpers/test-stack.js';

export { E2E_PREFIX_STEM };

/**
 * Removes the stacks of earlier e2e runs that are no longer running (by their
 * owner label), and their local state. Stacks of a run that is still going
 * (another suite on the same engine) and stacks without an owner label (a
 * person's) are left alone.
 */
export async function removeLeftovers(log: (s: string) => void): Promise<void> {
  const decisions = selectLeftovers(await docker.labelledObjects(), { stem: E2E_PREFIX_STEM, host: os.hostname(), isRunning: processRunning });
  for (const { prefix, remove, why } of decisions) {
    if (!remove) {
      log(`kept ${prefix}: ${why}`);
      continue;
    }
    const removed = await docker.removeLabelled(prefix);
    await removeLocalState(prefix);
    log(`removed leftovers of ${prefix} (${why}): ${removed.length} object(s)`);
  }
}

export default async function setup(project: TestProject) {
  const log = (s: string) => process.stderr.write(`[e2e setup] ${s}\n`);
  const { toolchain } = await ensureToolchain(createUi({ quiet: true }), { engine: readSetting('iac') });
  const engine = toolchain!.terraform;
  await removeLeftovers(log);
  await buildServices();

  // This process owns every stack of the run (the test files run in a child process).
  const owner = ownerValue({ host: os.hostname(), pid: process.pid, run: Date.now().toString(36) });
  const prefix = `${E2E_PREFIX_STEM}${Date.now().toString(36).slice(-5)}`;
  // The suite's stack runs the catalog mesh (every technology) unless MTLS_MESH names another; MTLS_WORKLOADS narrows it.
  const settings = await testStackSettings(prefix, owner, { mesh: readSetting('mesh') ?? E2E_MESH, workloads: readSetting('workloads') });
  const teardown = async () => {
    log(`destroying ${prefix}`);
    await downTestStack(settings, engine);
  };
  try {
    log(`${toolchain!.mode} mode (${toolchain!.modeReason}); base images ${toolchain!.baseImages.stepCa}, ${toolchain!.baseImages.node}`);
    log(
      `deploying ${prefix} with ${engine.flavour} ${engine.version} (CA on 127.0.0.1:${settings.caPort}, published on 127.0.0.1: ${Object.entries(
        settings.hostPorts ?? {},
      )
        .map(([n, p]) => `${n} ${p}`)
        .join(', ')})`,
    );
    const { trust } = await upTestStack(settings, engine);
    const context: E2eContext = {
      prefix,
      outputs: await readOutputs(prefix),
      fingerprint: trust.fingerprint,
      hostStepPath: trust.hostStepPath,
      caPort: settings.caPort!,
      servicePort: settings.hostPorts!.server!,
      certLifetime: settings.certLifetime!,
      minCertLifetime: settings.minCertLifetime!,
      operatorUri: OPERATOR_URI,
      owner,
      engine,
      mode: toolchain!.mode,
      baseImages: toolchain!.baseImages,
    };
    project.provide('e2e', context);
    log(`ready: ${prefix}`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
