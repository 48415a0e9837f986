import { sleep } from '../../../common/wait.js';
import { parseDuration } from '../../../stack/duration.js';
import { UserError } from '../cli/ui.js';
import * as docker from '../docker/commands.js';
import { certOnDisk, FILES, type Stack, type Workload } from '../workloads/handles.js';
import { type IssuedCertificate, issuedFromCaLog, logIsComplete, unexpiredFor } from './log.js';
import { revoke, tryRenew } from './step.js';

export interface RevokedCertificate {
  readonly serial: string;
  readonly notAfter: string;
  /** Where it was found: the CA's request log, or only the workload's volume. */
  readonly source: 'ca log' | 'volume';
  readonly outcome: 'revoked' | 'already revoked';
}

export interface RevocationResult {
  readonly workload: string;
  /** The certificate in the workload's volume at the end. */
  readonly serial: string;
  readonly notAfter: string;
  /** Every unexpired certificate for the workload's identities that the CA is now refusing to renew. */
  readonly revoked: RevokedCertificate[];
  /** Oldest line of the CA's log that was searched. */
  readonly logSince?: string;
  /** The log reaches back to the CA's start or past the longest lifetime: no unexpired certificate can be missing. */
  readonly logComplete: boolean;
  readonly renewalRefused: boolean;
  readonly renewalError: string;
}

/** Passes over the log before giving up on a renewal racing the revocation. */
const MAX_PASSES = 5;
/** A renewal the CA authorised just before a revocation is answered (and logged) within this. */
const SETTLE_MS = 2000;

/**
 * Revokes every unexpired certificate the CA issued for the workload's
 * identities, including ones made with a copied key (step-ca's passive
 * revocation: each serial goes into the CA's database and every renewal or
 * rekey of it is refused). Certificates are found in the CA's request log
 * (see ca-log.ts) and in the workload's volume; passes repeat until one finds
 * nothing new, so a renewal racing the revocation is caught too. Then the
 * CA is asked once to renew the certificate on disk, to show the refusal.
 */
export async function revokeWorkload(stack: Stack, w: Workload, reason = 'revoked by operator'): Promise<RevocationResult> {
  const maxLifetimeSeconds = parseDuration(stack.outputs.cert_lifetimes.max);
  const done = new Map<string, RevokedCertificate>();
  let since: Date | undefined;
  let complete = false;
  for (let pass = 0; ; pass++) {
    if (pass === MAX_PASSES) {
      throw new UserError(
        `${w.name}: new certificates kept appearing while revoking (${done.size} revoked so far); stop ${w.renewer} (docker stop) and run revoke again`,
      );
    }
    const record = issuedFromCaLog(await docker.logs(stack.ca.container, { timestamps: true }));
    since = record.since;
    complete = logIsComplete(record, { maxLifetimeSeconds });
    const found = new Map<string, { cert: Pick<IssuedCertificate, 'serial' | 'notAfter'>; source: RevokedCertificate['source'] }>(
      unexpiredFor(record, w.sans).map((cert) => [cert.serial, { cert, source: 'ca log' as const }]),
    );
    const disk = await certOnDisk(w);
    if (disk && disk.notAfter.getTime() > Date.now() && !found.has(disk.serial)) found.set(disk.serial, { cert: disk, source: 'volume' });
    const fresh = [...found.values()].filter((f) => !done.has(f.cert.serial));
    if (pass === 0 && found.size === 0) throw new UserError(`${w.name} has no unexpired certificate to revoke; enroll it first`);
    if (fresh.length === 0) break;
    for (const { cert, source } of fresh) {
      const outcome = await revoke(stack.ca, cert.serial, reason);
      done.set(cert.serial, { serial: cert.serial, notAfter: cert.notAfter.toISOString(), source, outcome });
    }
    await sleep(SETTLE_MS);
  }
  const now = await certOnDisk(w);
  if (!now) throw new UserError(`${w.name}'s certificate disappeared from ${w.volume} while revoking it`);
  const renewal = await tryRenew(w.renewer, { caUrl: stack.outputs.ca_url, certFile: FILES.cert, keyFile: FILES.key, rootFile: FILES.root });
  return {
    workload: w.name,
    serial: now.serial,
    notAfter: now.notAfter.toISOString(),
    revoked: [...done.values()],
    logSince: since?.toISOString(),
    logComplete: complete,
    renewalRefused: !renewal.ok,
    renewalError: renewal.error,
  };
}
