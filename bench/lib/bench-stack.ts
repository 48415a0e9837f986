import path from 'node:path';

import { fs } from 'zx';

import { bootstrapTrust } from '../../scripts/lib/ca/trust-bootstrap.js';
import { freePort } from '../../scripts/lib/deploy/free-ports.js';
import { freeHostPorts, projectDir, type StackSettings } from '../../scripts/lib/deploy/stack-instance.js';
import { destroyStack, teardownWarnings } from '../../scripts/lib/deploy/teardown.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { loadStack, type Stack } from '../../scripts/lib/workloads/handles.js';
import { type HostIdentity, hostIdentity } from './load-identity.js';

export const BENCH_WORKLOADS = ['server', 'client'];

/** The identity the host's load generators present: the mesh's operator, allowed on every server. */
export const OPERATOR_URI = 'spiffe://mesh.internal/operator';

/**
 * The operator identity for `minutes` of load: issued by the stack's CA (key
 * made on the host) and written under `dir`. A load generator keeps the
 * certificate it started with, so it must outlive the load: the servers
 * check validity on every request (401 certificate_expired) and refuse an
 * expired certificate in the handshake.
 */
export function operatorIdentity(stack: Stack, rootPem: string, dir: string, minutes: number): Promise<HostIdentity> {
  return hostIdentity(stack, rootPem, dir, { commonName: 'operator.mesh.internal', uris: [OPERATOR_URI], notAfter: `${Math.ceil(minutes)}m` });
}

/** Settings of a benchmark stack: free 127.0.0.1 ports, short certificates, the operator allowed. */
export async function benchSettings(prefix: string): Promise<StackSettings> {
  const caPort = await freePort();
  return {
    prefix,
    // Workload certificates outlive the CPU-bound benchmarks (no rotation
    // in the middle of B3/B4); B5 re-enrolls with the CA's shortest lifetime.
    certLifetime: '30m',
    minCertLifetime: '20s',
    // Long enough for a load generator's identity over B7's whole soak (operatorIdentity).
    maxCertLifetime: '24h',
    caPort,
    // The Node reference pair: the benchmarks measure it against plain
    // alternatives, and the recipes' traffic would only add noise.
    workloads: BENCH_WORKLOADS,
    hostPorts: await freeHostPorts({ workloads: BENCH_WORKLOADS, avoid: [caPort] }),
    clientRate: 5,
  };
}

/** After deploy: trust bootstrapped, workloads enrolled; the same steps as the demo and the e2e setup. */
export async function bootstrapAndEnroll(prefix: string): Promise<{ stack: Stack; rootPem: string }> {
  const trust = await bootstrapTrust(prefix, { quiet: true });
  const stack = await loadStack(prefix);
  assertEnrolled(await enrollAll(stack, stack.workloads));
  const rootPem = await fs.readFile(path.join(trust.hostStepPath, 'certs', 'root_ca.crt'), 'utf8');
  return { stack, rootPem };
}

/**
 * Takes a benchmark stack down however far it got: cdktf destroy, then
 * anything left by label (and the plain-docker baseline, which Terraform
 * never knew), then its state and synth output.
 */
export async function teardown(settings: StackSettings, opts: { viaCdktf: boolean }): Promise<string[]> {
  const t = await destroyStack(settings, opts);
  for (const line of teardownWarnings(settings.prefix, t)) console.warn(`warning: ${line}`);
  return t.left.length ? [`${settings.prefix} is not gone: ${t.left.join(', ')}${t.destroyError ? ` (${t.destroyError.split('\n')[0]})` : ''}`] : [];
}

/** Scratch is per stack prefix: two runs on different prefixes must not remove each other's files. */
export const benchDirs = (smoke: boolean, prefix: string) => ({
  results: path.join(projectDir, 'bench', smoke ? 'tmp' : 'results'),
  scratch: path.join(projectDir, 'bench', 'tmp', `scratch-${prefix}`),
});
