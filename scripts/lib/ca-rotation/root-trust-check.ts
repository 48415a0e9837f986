import { X509Certificate } from 'node:crypto';

import { ROOT_PIN_FILE } from '../../../common/facts.js';
import * as docker from '../docker/commands.js';
import { fingerprintOf, splitPem } from '../identity/pki.js';
import { FILES, type Stack, type Workload } from '../workloads/handles.js';

/**
 * Whether every workload trusts a set of roots, read from the workloads
 * themselves (not from the CA's files): the pin file as the app sees it (its
 * trust volume, mounted read-only in the app) and root.crt in the certs volume
 * as the renewer sees it (the renewer checks the CA against it; the app
 * mounts the same volume). A file that cannot be read counts as not trusting:
 * a stopped container is not known to trust anything.
 */
export interface TrustCheck {
  /** Lower-case SHA-256 fingerprints every workload must hold in both places. */
  readonly fingerprints: readonly string[];
  readonly total: number;
  /** The workloads that do not, each with what is missing. */
  readonly not: ReadonlyArray<{ readonly name: string; readonly why: string }>;
}

const short = (f: string) => `${f.slice(0, 12)}…`;

/** The fingerprints a pin file lists (one per line, `#` comments). */
export function pinnedIn(text: string): string[] {
  return text.match(/^[0-9a-f]{64}$/gm) ?? [];
}

/** The fingerprints of the certificates in a PEM bundle; an unreadable block counts as none. */
export function rootsIn(text: string): string[] {
  return splitPem(text).flatMap((pem) => {
    try {
      return [fingerprintOf(new X509Certificate(pem))];
    } catch {
      return [];
    }
  });
}

/** What `w` lacks of `fingerprints`, or undefined when it holds them all in both places. */
export async function workloadTrustProblem(w: Workload, fingerprints: readonly string[]): Promise<string | undefined> {
  const [pins, bundle] = await Promise.all([docker.readFile(w.container, ROOT_PIN_FILE), docker.readFile(w.renewer, FILES.root)]);
  const problems: string[] = [];
  if (pins === undefined) problems.push(`its pin file cannot be read in ${w.container} (not running?)`);
  else {
    const missing = fingerprints.filter((f) => !pinnedIn(pins).includes(f));
    if (missing.length) problems.push(`its pin file lacks ${missing.map(short).join(', ')}`);
  }
  if (bundle === undefined) problems.push(`its root.crt cannot be read through ${w.renewer} (not running?)`);
  else {
    const missing = fingerprints.filter((f) => !rootsIn(bundle).includes(f));
    if (missing.length) problems.push(`its root.crt lacks ${missing.map(short).join(', ')}`);
  }
  return problems.length ? problems.join('; ') : undefined;
}

export async function checkTrust(stack: Stack, fingerprints: readonly string[]): Promise<TrustCheck> {
  const problems = await Promise.all(stack.workloads.map(async (w) => ({ name: w.name, why: await workloadTrustProblem(w, fingerprints) })));
  return { fingerprints, total: stack.workloads.length, not: problems.filter((p): p is { name: string; why: string } => p.why !== undefined) };
}

/** "5 of 6 workloads trust both roots; not: curl" (what was checked, and who failed it). */
export function trustSummary(check: TrustCheck, what = 'both roots'): string {
  const line = `${check.total - check.not.length} of ${check.total} workloads trust ${what}`;
  return check.not.length ? `${line}; not: ${check.not.map((n) => n.name).join(', ')}` : line;
}

/** One line per workload that fails the check, for an error message. */
export function trustDetails(check: TrustCheck): string {
  return check.not.map((n) => `  ${n.name}: ${n.why}`).join('\n');
}
