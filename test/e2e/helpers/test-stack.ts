import { bootstrapTrust } from '../../../scripts/lib/ca/trust-bootstrap.js';
import { freePort } from '../../../scripts/lib/deploy/free-ports.js';
import { cdktf, freeHostPorts, removeLocalState, type StackSettings } from '../../../scripts/lib/deploy/stack-instance.js';
import { destroyStack, teardownWarnings } from '../../../scripts/lib/deploy/teardown.js';
import { assertEnrolled, enrollAll } from '../../../scripts/lib/identity/enrollment.js';
import type { TerraformCli } from '../../../scripts/lib/toolchain/engine.js';
import { loadStack } from '../../../scripts/lib/workloads/handles.js';
import { waitForWorkloads } from '../../../scripts/lib/workloads/readiness.js';

/** Stacks created by the e2e suite carry this prefix, so leftovers can be found. */
export const E2E_PREFIX_STEM = 'e2e';

/** The mesh the suite's shared stack runs (meshes/index.ts): every technology the project provides. */
export const E2E_MESH = 'catalog';

/** The host's operator identity: the default mesh's operator, on every server's allow-list. */
export const OPERATOR_URI = 'spiffe://mesh.internal/operator';

/** Settings of a test stack: short certificates, free 127.0.0.1 ports, the run's owner label. */
export async function testStackSettings(
  prefix: string,
  owner: string,
  { mesh, workloads }: { mesh?: string; workloads?: readonly string[] } = {},
): Promise<StackSettings> {
  const caPort = await freePort();
  return {
    prefix,
    ...(mesh ? { mesh } : {}),
    certLifetime: '1m',
    minCertLifetime: '20s',
    maxCertLifetime: '1h',
    caPort,
    ...(workloads ? { workloads } : {}),
    hostPorts: await freeHostPorts({ mesh, workloads, avoid: [caPort] }),
    clientRate: 10,
    owner,
  };
}

/**
 * Brings a test stack up the way an operator does: deploy with `engine`,
 * bootstrap trust, enroll every workload, wait until every one serves. The caller destroys it with
 * `downTestStack`, also when this fails halfway.
 */
export async function upTestStack(settings: StackSettings, engine: TerraformCli) {
  await cdktf('deploy', settings, { quiet: true, engine });
  const trust = await bootstrapTrust(settings.prefix, { quiet: true });
  const stack = await loadStack(settings.prefix);
  assertEnrolled(await enrollAll(stack, stack.workloads));
  await waitForWorkloads(stack.workloads);
  return { trust, stack };
}

/**
 * Destroys a test stack with `engine`; whatever Terraform could not remove
 * goes by label, then the local state. A destroy that failed only because
 * Terraform stopped waiting (its 30 s for a network whose endpoints the engine
 * still held) is not a failure of the run once nothing of the stack is left;
 * anything left is. (e2e 09 and 18 test destroy itself, and fail on it.)
 */
export async function downTestStack(settings: StackSettings, engine: TerraformCli): Promise<void> {
  const t = await destroyStack(settings, { viaCdktf: true, engine });
  if (t.left.length) throw new Error(`${settings.prefix} is not gone: ${t.left.join(', ')}${t.destroyError ? `\n${t.destroyError}` : ''}`);
  for (const line of teardownWarnings(settings.prefix, t)) console.warn(`[e2e setup] ${line}`);
}

export { removeLocalState };
