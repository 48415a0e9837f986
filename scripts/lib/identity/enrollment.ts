import { caCertificateInstall, caTokens } from '../ca/step.js';
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

export interface EnrollOptions {
  /** Issue even when a valid certificate for the right identities is there. */
  readonly force?: boolean;
  /** Certificate lifetime, within the CA's claims. @default the CA's default */
  readonly lifetime?: string;
  /** Workloads in flight at once. @default 8 */
  readonly concurrency?: number;
}

/** Tokens minted per exec in the CA: enough to spare most execs, few enough that a token never waits long before its exchange. */
const MAX_BATCH = 8;

const failed = (w: Workload, error: string): EnrollResult => ({ workload: w.name, identities: w.sans, action: 'failed', error });

/**
 * What enrollment reads of a workload's volume, in one exec in its renewer:
 * root.crt (required: bootstrap-trust wrote it), a NUL, then site.crt if any.
 */
async function readVolume(w: Workload): Promise<{ root?: string; cert?: string }> {
  const out = await docker.exec(w.renewer, [
    'sh',
    '-c',
    'cat -- "$1" || exit 3; printf "\\000"; cat -- "$2" 2>/dev/null; exit 0',
    'read-volume',
    FILES.root,
    FILES.cert,
  ]);
  const cut = out.stdout.indexOf('\0');
  if (out.exitCode !== 0 || cut < 0) return {};
  return { root: out.stdout.slice(0, cut), cert: out.stdout.slice(cut + 1) || undefined };
}

/** A result when the workload needs no token (no root yet, or a certificate worth keeping); its root otherwise. */
async function inspect(w: Workload, opts: EnrollOptions): Promise<EnrollResult | { root: string }> {
  const { root, cert } = await readVolume(w);
  if (!root) return failed(w, `no root.crt in ${w.name}'s certificate directory: run bootstrap-trust first (npm run bootstrap-trust)`);
  if (cert && !opts.force) {
    const check = verifyBundle(cert, root);
    if (check.ok && w.sans.every((s) => check.leaf.dnsNames.includes(s) || check.leaf.uris.includes(s))) {
      const keyMode = await docker.fileMode(w.renewer, FILES.key);
      return { workload: w.name, identities: w.sans, action: 'kept', serial: check.leaf.serial, notAfter: check.leaf.notAfter.toISOString(), keyMode };
    }
  }
  return { root };
}

/** The token exchanged inside the workload's renewer (key made there), installed under the renewer's lock, read back and checked in the same exec. */
async function issue(stack: Stack, w: Workload, root: string, token: string, opts: EnrollOptions): Promise<EnrollResult> {
  const issued = await caCertificateInstall({
    renewer: w.renewer,
    subject: w.dns_name,
    token,
    caUrl: stack.outputs.ca_url,
    certFile: FILES.cert,
    keyFile: FILES.key,
    rootFile: FILES.root,
    lifetime: opts.lifetime,
  });
  if (!issued.ok) return failed(w, `the CA refused the token exchange: ${issued.error}`);
  const check = verifyBundle(issued.certPem, root);
  if (!check.ok) return failed(w, `the issued certificate does not verify: ${check.reason}`);
  if (issued.keyMode !== '600') return failed(w, `site.key has mode ${issued.keyMode || 'unknown'}, expected 600`);
  return {
    workload: w.name,
    identities: w.sans,
    action: 'issued',
    serial: check.leaf.serial,
    notAfter: check.leaf.notAfter.toISOString(),
    keyMode: issued.keyMode,
  };
}

/**
 * A batch, one workload after another: each volume read, the tokens of those
 * that need one minted in one exec in the CA (the provisioner's key and
 * password never leave the CA volume), then each token exchanged.
 */
async function enrollBatch(stack: Stack, batch: readonly Workload[], opts: EnrollOptions): Promise<EnrollResult[]> {
  const seen: Array<EnrollResult | { root: string }> = [];
  for (const w of batch) seen.push(await inspect(w, opts).catch((err: Error) => failed(w, err.message)));
  const pending = batch.flatMap((w, i) => {
    const s = seen[i]!;
    return 'root' in s ? [{ w, i, root: s.root }] : [];
  });
  const tokens = await caTokens(
    stack.ca,
    pending.map((p) => ({ subject: p.w.dns_name, sans: p.w.sans })),
  ).catch((err: Error) => pending.map(() => err));
  const results = seen as EnrollResult[];
  for (const [k, p] of pending.entries()) {
    const token = tokens[k]!;
    results[p.i] =
      token instanceof Error
        ? failed(p.w, `minting a token failed: ${token.message}`)
        : await issue(stack, p.w, p.root, token, opts).catch((err: Error) => failed(p.w, err.message));
  }
  return results;
}

/**
 * Enrolls workloads: a one-time token per workload minted inside the CA
 * container, exchanged inside the workload's renewer, which makes the key
 * there. `concurrency` workers take batches of up to MAX_BATCH, so N
 * workloads cost 2N execs plus one per batch (it was 6N). A valid
 * certificate for the right identities is kept unless `force`. Never fails
 * fast: every workload gets a row.
 */
export async function enrollAll(stack: Stack, workloads: readonly Workload[], opts: EnrollOptions = {}): Promise<EnrollResult[]> {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const size = Math.min(MAX_BATCH, Math.max(1, Math.ceil(workloads.length / concurrency)));
  const results = new Array<EnrollResult>(workloads.length);
  let next = 0;
  const worker = async () => {
    while (next < workloads.length) {
      const start = next;
      next = Math.min(workloads.length, next + size);
      const batch = await enrollBatch(stack, workloads.slice(start, next), opts);
      batch.forEach((r, k) => (results[start + k] = r));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.ceil(workloads.length / size)) }, worker));
  return results;
}

export function assertEnrolled(results: readonly EnrollResult[]): void {
  const failures = results.filter((r) => r.action === 'failed');
  if (failures.length) throw new UserError(`enrollment failed for ${failures.map((f) => `${f.workload} (${f.error})`).join('; ')}`);
}
