import { caCertificate, caToken } from '../ca/step.js';
import { UserError } from '../cli/ui.js';
import * as docker from '../docker/commands.js';
import { FILES, type Stack, type Workload } from '../workloads/handles.js';
import { verifyBundle } from './pki.js';

export interface EnrollResult {
  readonly workload: string;
  readonly identities: string[];
  readonly action: 'issued' | 'kept' | 'failed';
  readonly serial?: string;
  readonly notAfter?: string;
  readonly keyMode?: string;
  readonly error?: string;
}

/**
 * Enrolls one workload: a one-time token minted inside the CA container,
 * exchanged inside the workload's renewer, which generates the key there.
 * A valid certificate for the right identities is kept unless `force`.
 */
export async function enrollWorkload(stack: Stack, w: Workload, opts: { force?: boolean; lifetime?: string } = {}): Promise<EnrollResult> {
  const base = { workload: w.name, identities: w.sans };
  const root = await docker.readFile(w.renewer, FILES.root);
  if (!root) {
    return { ...base, action: 'failed', error: `no root.crt in ${w.volume}: run bootstrap-trust first (npm run bootstrap-trust)` };
  }
  const existing = await docker.readFile(w.renewer, FILES.cert);
  if (existing && !opts.force) {
    const check = verifyBundle(existing, root);
    if (check.ok && w.sans.every((s) => check.leaf.dnsNames.includes(s) || check.leaf.uris.includes(s))) {
      return {
        ...base,
        action: 'kept',
        serial: check.leaf.serial,
        notAfter: check.leaf.notAfter.toISOString(),
        keyMode: await docker.fileMode(w.renewer, FILES.key),
      };
    }
  }
  let token: string;
  try {
    token = await caToken(stack.ca, { subject: w.dns_name, sans: w.sans });
  } catch (err) {
    return { ...base, action: 'failed', error: `minting a token failed: ${(err as Error).message}` };
  }
  const issued = await caCertificate({
    renewer: w.renewer,
    subject: w.dns_name,
    token,
    caUrl: stack.outputs.ca_url,
    certFile: FILES.cert,
    keyFile: FILES.key,
    rootFile: FILES.root,
    lifetime: opts.lifetime,
  });
  if (!issued.ok) return { ...base, action: 'failed', error: `the CA refused the token exchange: ${issued.error}` };
  const written = await docker.readFile(w.renewer, FILES.cert);
  const check = written ? verifyBundle(written, root) : ({ ok: false, reason: 'site.crt missing after issuance' } as const);
  if (!check.ok) return { ...base, action: 'failed', error: `the issued certificate does not verify: ${check.reason}` };
  const keyMode = await docker.fileMode(w.renewer, FILES.key);
  if (keyMode !== '600') return { ...base, action: 'failed', error: `site.key has mode ${keyMode ?? 'unknown'}, expected 600` };
  return { ...base, action: 'issued', serial: check.leaf.serial, notAfter: check.leaf.notAfter.toISOString(), keyMode };
}

/** Enrolls many workloads concurrently (bounded), never failing fast: every workload gets a row. */
export async function enrollAll(
  stack: Stack,
  workloads: readonly Workload[],
  opts: { force?: boolean; lifetime?: string; concurrency?: number } = {},
): Promise<EnrollResult[]> {
  const results = new Array<EnrollResult>(workloads.length);
  let next = 0;
  const worker = async () => {
    while (next < workloads.length) {
      const i = next++;
      const w = workloads[i]!;
      results[i] = await enrollWorkload(stack, w, opts).catch((err: Error) => ({
        workload: w.name,
        identities: w.sans,
        action: 'failed' as const,
        error: err.message,
      }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, workloads.length) }, worker));
  return results;
}

export function assertEnrolled(results: readonly EnrollResult[]): void {
  const failed = results.filter((r) => r.action === 'failed');
  if (failed.length) throw new UserError(`enrollment failed for ${failed.map((f) => `${f.workload} (${f.error})`).join('; ')}`);
}
