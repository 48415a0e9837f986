import { UserError } from './ui.js';
import { revoke, tryRenew } from './step.js';
import { certOnDisk, FILES, type Stack, type Workload } from './workloads.js';

export interface RevocationResult {
  readonly workload: string;
  readonly serial: string;
  readonly notAfter: string;
  readonly renewalRefused: boolean;
  readonly renewalError: string;
}

/**
 * Revokes the workload's current certificate (step-ca's passive revocation:
 * the serial goes into the CA's database and every renewal of it is refused)
 * and proves it by asking the CA to renew it once.
 */
export async function revokeWorkload(stack: Stack, w: Workload, reason = 'revoked by operator'): Promise<RevocationResult> {
  const cert = await certOnDisk(w);
  if (!cert) throw new UserError(`${w.name} has no certificate to revoke; enroll it first`);
  await revoke(stack.ca, cert.serial, reason);
  const renewal = await tryRenew(w.renewer, { caUrl: stack.outputs.ca_url, certFile: FILES.cert, keyFile: FILES.key, rootFile: FILES.root });
  return { workload: w.name, serial: cert.serial, notAfter: cert.notAfter.toISOString(), renewalRefused: !renewal.ok, renewalError: renewal.error };
}
