import type { TestProject } from 'vitest/node';
import { fs } from 'zx';
import * as docker from '../../scripts/lib/docker.js';
import { freePort } from '../../scripts/lib/net.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/enrollment.js';
import { buildServices, cdktf, readOutputs, stackDirs, type StackSettings } from '../../scripts/lib/stack.js';
import { ensureToolchain } from '../../scripts/lib/toolchain/index.js';
import { bootstrapTrust } from '../../scripts/lib/trust.js';
import { createUi } from '../../scripts/lib/ui.js';
import { loadStack } from '../../scripts/lib/workloads.js';
import type { E2eContext } from './helpers/context.js';

/** Stacks created by the e2e suite carry this prefix, so leftovers can be found. */
export const E2E_PREFIX_STEM = 'e2e';

/** Removes stacks of earlier, interrupted runs (by label) and their state. */
export async function removeLeftovers(log: (s: string) => void): Promise<void> {
  for (const prefix of await docker.labelledPrefixes()) {
    if (!prefix.startsWith(E2E_PREFIX_STEM)) continue;
    const removed = await docker.removeLabelled(prefix);
    await fs.remove(stackDirs(prefix).stateDir);
    await fs.remove(stackDirs(prefix).synthOut);
    log(`removed leftovers of ${prefix}: ${removed.length} object(s)`);
  }
}

export default async function setup(project: TestProject) {
  const log = (s: string) => process.stderr.write(`[e2e setup] ${s}\n`);
  const ui = createUi({ quiet: true });
  const { toolchain } = await ensureToolchain(ui);
  await removeLeftovers(log);
  await buildServices();

  const prefix = `${E2E_PREFIX_STEM}${Date.now().toString(36).slice(-5)}`;
  const settings: StackSettings = {
    prefix,
    certLifetime: '1m',
    minCertLifetime: '20s',
    maxCertLifetime: '1h',
    caPort: await freePort(),
    servicePort: await freePort(),
    clientRate: 10,
    extraAllowedIdentities: ['spiffe://mesh.internal/operator'],
  };
  let deployed = false;
  const teardown = async () => {
    if (!deployed) return;
    log(`destroying ${prefix}`);
    try {
      await cdktf('destroy', settings, { quiet: true });
    } finally {
      // Whatever Terraform could not remove goes by label.
      await docker.removeLabelled(prefix);
      await fs.remove(stackDirs(prefix).stateDir);
      await fs.remove(stackDirs(prefix).synthOut);
    }
  };
  try {
    log(`${toolchain!.mode} mode (${toolchain!.modeReason}); base images ${toolchain!.baseImages.stepCa}, ${toolchain!.baseImages.node}`);
    log(`deploying ${prefix} (CA on 127.0.0.1:${settings.caPort}, service on 127.0.0.1:${settings.servicePort})`);
    deployed = true;
    await cdktf('deploy', settings, { quiet: true });
    const trust = await bootstrapTrust(prefix, { quiet: true });
    const stack = await loadStack(prefix);
    assertEnrolled(await enrollAll(stack, stack.workloads));
    const context: E2eContext = {
      prefix,
      outputs: await readOutputs(prefix),
      fingerprint: trust.fingerprint,
      hostStepPath: trust.hostStepPath,
      caPort: settings.caPort!,
      servicePort: settings.servicePort!,
      certLifetime: settings.certLifetime!,
      minCertLifetime: settings.minCertLifetime!,
      operatorUri: 'spiffe://mesh.internal/operator',
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
