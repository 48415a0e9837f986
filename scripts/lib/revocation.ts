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
  // The renewer may renew between reading the serial and revoking it; a
  // certificate issued in that window is not covered by the revocation. So
  // revoke what is on disk until what is on disk is revoked (bounded).
  const revoked = new Set<string>();
  for (let attempt = 0; attempt < 5; attempt++) {
    const cert = await certOnDisk(w);
    if (!cert) throw new UserError(`${w.name} has no certificate to revoke; enroll it first`);
    if (!revoked.has(cert.serial)) {
      await revoke(stack.ca, cert.serial, reason);
      revoked.add(cert.serial);
    }
    const renewal = await tryRenew(w.renewer, { caUrl: stack.outputs.ca_url, certFile: FILES.cert, keyFile: FILES.key, rootFile: FILES.root });
    // A renewal already in flight lands within one check interval of the
    // renewer (2 s): the serial must hold still past that.
    await new Promise((r) => setTimeout(r, 3000));
    const now = await certOnDisk(w);
    if (now?.serial === cert.serial) {
      return { workload: w.name, serial: cert.serial, notAfter: cert.notAfter.toISOString(), renewalRefused: !renewal.ok, renewalError: renewal.error };
    }
  }
  throw new UserError(`${w.name}'s certificate kept changing while revoking it (revoked: ${[...revoked].join(', ')}); stop its renewer and try again`);
}
