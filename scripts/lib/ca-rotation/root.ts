/**
 * Root rotation in three phases (README "Rotating the CA"):
 *   prepare   a new root and an intermediate under it; every app's pin set and
 *             trust bundle hold both roots (pins first); the CA accepts either.
 *             Complete only once every workload is read back trusting both:
 *             then the CA's own record (root-record.ts) gets `preparedAt`.
 *   activate  refused unless that record exists and every workload still
 *             trusts both; then the CA issues from the new intermediate;
 *             workloads renew onto it at their normal schedule; leaves under
 *             the old root still work.
 *   retire    once no valid leaf under the old root remains (the CA's log and
 *             every workload's files are checked), the old root leaves every
 *             bundle, then every pin set, then the CA, which is reloaded until
 *             it serves the new root alone (also when a rerun finds the CA's
 *             files already retired).
 * The pins are configuration written only by the operator's commands (the
 * trust volumes, which no running container can write), so a writer of a
 * certs volume cannot add a root: a bundle with an unpinned root is refused.
 */
import { X509Certificate } from 'node:crypto';

import { fs } from 'zx';

import { parseDuration } from '../../../stack/duration.js';
import { type IssuedCertificate, issuedFromCaLog, logIsComplete } from '../ca/log.js';
import { pinRoots } from '../ca/trust-bootstrap.js';
import type { Ui } from '../cli/ui.js';
import { UserError } from '../cli/ui.js';
import { stackDirs } from '../deploy/stack-instance.js';
import * as docker from '../docker/commands.js';
import { fingerprintOf, issuedBy, serialOf, splitPem } from '../identity/pki.js';
import { FILES, type Stack } from '../workloads/handles.js';
import { INTERMEDIATE_CRT } from './intermediate-job.js';
import { CA_ROOT_FILE, NEXT_ROOT, type RootPhase } from './root-job.js';
import { readRotationRecord, recordPhase } from './root-record.js';
import { reloadCa, runJob, writeHostTrust } from './root-steps.js';
import { checkTrust, type TrustCheck, trustDetails, trustSummary } from './root-trust-check.js';

export type RotationPhase = 'none' | 'prepared' | 'activated';

export interface RootState {
  readonly phase: RotationPhase;
  /** The CA's root (certs/root_ca.crt) and, during a rotation, the new one. */
  readonly current: { readonly fingerprint: string; readonly pem: string };
  readonly next?: { readonly fingerprint: string; readonly pem: string };
}

/** How long prepare must have lasted before activate: every app has reloaded its bundle by then. */
export const MIN_PREPARE_SECONDS = 15;

export interface PhaseOptions {
  readonly minPrepareSeconds?: number;
  /** @default 30 s */
  readonly reloadTimeoutMs?: number;
}

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));

/** The phase, read from the CA volume (the files are the state). */
export async function readRootState(stack: Stack): Promise<RootState> {
  const ca = stack.ca.container;
  const currentPem = await docker.execOk(ca, ['cat', CA_ROOT_FILE]);
  const nextPem = await docker.readFile(ca, NEXT_ROOT);
  const current = { fingerprint: fp(currentPem), pem: currentPem };
  if (!nextPem) return { phase: 'none', current };
  const next = { fingerprint: fp(nextPem), pem: nextPem };
  const intermediate = new X509Certificate(await docker.execOk(ca, ['cat', INTERMEDIATE_CRT]));
  const root = new X509Certificate(nextPem);
  const activated = issuedBy(intermediate, root);
  return { phase: activated ? 'activated' : 'prepared', current, next };
}

/** The phase and, during a rotation, which workloads trust both roots (read from each of them). */
export async function rootState(stack: Stack): Promise<RootState & { readonly trust?: TrustCheck }> {
  const state = await readRootState(stack);
  if (!state.next) return state;
  return { ...state, trust: await checkTrust(stack, [state.current.fingerprint, state.next.fingerprint]) };
}

/**
 * Pins, then bundles, per workload: a root never reaches a bundle before it
 * is pinned there. Every workload is attempted even when one fails; what
 * counts is read back afterwards (checkTrust).
 */
async function trustBoth(stack: Stack, ui: Ui, oldPem: string, newPem: string): Promise<void> {
  const bundle = `${oldPem.trim()}\n${newPem.trim()}\n`;
  await ui.step("pin both roots in every app's trust volume, then write both into its root.crt", () =>
    Promise.allSettled(
      stack.workloads.map(async (w) => {
        await pinRoots(w, [fp(oldPem), fp(newPem)]);
        await docker.writeFile(w.renewer, FILES.root, bundle, '0644');
      }),
    ),
  );
}

const REPAIR = 'run rotate-ca root prepare again (it completes the pinning where it is missing)';

export interface PhaseResult {
  readonly phase: RootPhase;
  readonly state: RotationPhase;
  readonly oldFingerprint: string;
  readonly newFingerprint: string;
  readonly actions: string[];
}

export async function prepareRoot(stack: Stack, ui: Ui, opts: PhaseOptions = {}): Promise<PhaseResult> {
  const before = await readRootState(stack);
  // Activated already: no job; only the pinning is completed where it is missing (a repair).
  const actions =
    before.phase === 'activated'
      ? []
      : await runJob(stack, ui, 'prepare', 'making a new root and an intermediate under it (root-key volume mounted for this step only)');
  const state = before.phase === 'activated' ? before : await readRootState(stack);
  if (!state.next) throw new UserError('the prepare job finished but the CA volume holds no new root: run the same command again');
  const both = [state.current.pem, state.next.pem];
  await trustBoth(stack, ui, state.current.pem, state.next.pem);
  const trust = await ui.step("read back every workload's pin file and root.crt", () => checkTrust(stack, both.map(fp)));
  if (trust.not.length) {
    const stakes =
      state.phase === 'activated'
        ? 'The CA already issues under the new root: these workloads cannot renew until this succeeds.'
        : 'Do not activate before it succeeds (activate refuses).';
    throw new UserError(
      `rotate-ca root prepare is not complete: ${trustSummary(trust)}.\n${trustDetails(trust)}\nStart what is stopped, then ${REPAIR}. ${stakes}`,
    );
  }
  await writeHostTrust(stack, both);
  // The CA issues from the intermediate it had (under the old root until activation); after the reload it also accepts leaves under the new root.
  await reloadCa(stack, ui, { issuer: state.phase === 'activated' ? state.next.pem : state.current.pem, roots: both }, opts.reloadTimeoutMs);
  const record = await recordPhase(stack, state.next.fingerprint, 'preparedAt');
  actions.push(
    `${trustSummary(trust)} (pin files and root.crt read back); wrote both into the host state; reloaded the CA; the CA records prepare complete since ${record.preparedAt}`,
  );
  return {
    phase: 'prepare',
    state: state.phase === 'activated' ? 'activated' : 'prepared',
    oldFingerprint: state.current.fingerprint,
    newFingerprint: state.next.fingerprint,
    actions,
  };
}

export async function activateRoot(stack: Stack, ui: Ui, opts: PhaseOptions = {}): Promise<PhaseResult> {
  const before = await readRootState(stack);
  if (before.phase === 'none' || !before.next) throw new UserError('no root rotation is prepared: run rotate-ca root prepare first');
  const next = before.next;
  const both = [before.current.pem, next.pem];
  const trust = await ui.step('check that every workload trusts both roots (pin file and root.crt)', () => checkTrust(stack, both.map(fp)));
  if (trust.not.length) {
    throw new UserError(
      `activate refused: ${trustSummary(trust)}.\n${trustDetails(trust)}\nA workload that does not trust the new root cannot renew once the CA issues under it. Start what is stopped, then ${REPAIR}, then activate.`,
    );
  }
  const { preparedAt } = await readRotationRecord(stack, next.fingerprint);
  if (!preparedAt) {
    throw new UserError(
      `activate refused: the CA has no record that prepare completed for the new root ${next.fingerprint} (every workload read back trusting both roots): ${REPAIR}, then activate`,
    );
  }
  const minSeconds = opts.minPrepareSeconds ?? MIN_PREPARE_SECONDS;
  const waited = (Date.now() - Date.parse(preparedAt)) / 1000;
  if (before.phase === 'prepared' && waited < minSeconds) {
    throw new UserError(`prepare completed ${waited.toFixed(0)} s ago: give every app ${minSeconds} s to load both roots, then run activate again`);
  }
  const actions = await runJob(stack, ui, 'activate', 'installing the intermediate under the new root');
  const serial = await reloadCa(stack, ui, { issuer: next.pem, roots: both }, opts.reloadTimeoutMs);
  // Recorded after the reload, so the time is never before the CA's last issuance under the old root.
  const record = await recordPhase(stack, next.fingerprint, 'activatedAt');
  await writeHostTrust(stack, both);
  actions.push(
    `${trustSummary(trust)}; reloaded the CA: it issues from ${serial}, under the new root (recorded with the CA: activated ${record.activatedAt}); workloads move at their next renewal`,
  );
  return { phase: 'activate', state: 'activated', oldFingerprint: before.current.fingerprint, newFingerprint: next.fingerprint, actions };
}

export interface RetireBlocker {
  readonly what: string;
  readonly notAfter: string;
}

/**
 * What still holds a valid leaf under the old root: certificates the CA's log
 * shows it issued under any other chain that have not expired, and workload
 * files that do not chain to the new root. When the log does not reach back
 * far enough, the activation time the CA recorded plus the longest lifetime
 * is the bound; without that record nothing bounds it, and retire is refused
 * with the command that records it.
 */
export async function retireBlockers(stack: Stack, state: RootState, now = new Date()): Promise<RetireBlocker[]> {
  const newRoot = new X509Certificate(state.next!.pem);
  const intermediates = (await Promise.all([INTERMEDIATE_CRT, `${INTERMEDIATE_CRT}.previous`].map((f) => docker.readFile(stack.ca.container, f))))
    .filter((p): p is string => Boolean(p))
    .map((p) => new X509Certificate(p))
    .filter((i) => issuedBy(i, newRoot));
  const underNew = (c: X509Certificate) => intermediates.some((i) => issuedBy(c, i));
  const blockers: RetireBlocker[] = [];
  const record = issuedFromCaLog(await docker.logs(stack.ca.container, { timestamps: true }));
  const maxLifetimeSeconds = parseDuration(stack.outputs.cert_lifetimes.max);
  if (logIsComplete(record, { maxLifetimeSeconds, now })) {
    for (const c of record.certificates.filter((x: IssuedCertificate) => x.notAfter > now && !underNew(x.x509))) {
      blockers.push({ what: `certificate ${c.serial} for ${[...c.dnsNames, ...c.uris].join(' ')} (in the CA's log)`, notAfter: c.notAfter.toISOString() });
    }
  } else {
    const { activatedAt } = await readRotationRecord(stack, state.next!.fingerprint);
    if (!activatedAt) {
      throw new UserError(
        `cannot retire the old root: the CA's log does not reach back to every certificate that may be valid, and the CA has no record of when it began issuing under the new root. Run rotate-ca root activate again (it changes nothing else and records the time), then retire once the longest lifetime (${stack.outputs.cert_lifetimes.max}) has passed since.`,
      );
    }
    const bound = new Date(Date.parse(activatedAt) + maxLifetimeSeconds * 1000);
    if (bound > now)
      blockers.push({
        what: `the CA's log does not reach back to every certificate that may be valid: any leaf issued before activation (${activatedAt}, recorded by the CA) may live until`,
        notAfter: bound.toISOString(),
      });
  }
  for (const w of stack.workloads) {
    const disk = await docker.readFile(w.renewer, FILES.cert);
    const leaf = disk ? splitPem(disk)[0] : undefined;
    if (!leaf) continue;
    const x = new X509Certificate(leaf);
    const notAfter = new Date(x.validTo);
    if (notAfter > now && !underNew(x)) blockers.push({ what: `${w.name}'s certificate ${serialOf(x)} (its files)`, notAfter: notAfter.toISOString() });
  }
  return blockers;
}

export async function retireRoot(stack: Stack, ui: Ui, opts: PhaseOptions = {}): Promise<PhaseResult & { blockers?: RetireBlocker[] }> {
  const before = await readRootState(stack);
  if (before.phase === 'none') return finishRetired(stack, ui, before, opts);
  if (before.phase === 'prepared') throw new UserError('the CA does not issue under the new root yet: run rotate-ca root activate first');
  const blockers = await ui.step('checking that no valid leaf under the old root remains', () => retireBlockers(stack, before));
  if (blockers.length) {
    const until = blockers
      .map((b) => b.notAfter)
      .sort()
      .at(-1);
    throw new UserError(
      `cannot retire the old root yet: ${blockers.length} valid leaf/leaves under it remain:\n${blockers.map((b) => `  ${b.what}, valid until ${b.notAfter}`).join('\n')}\nRun rotate-ca root retire again after ${until} (workloads renew onto the new root by themselves; re-enroll one with enroll --force to hurry it).`,
    );
  }
  const newPem = before.next!.pem;
  // Bundles first (the new root alone is pinned already), then pins: never an unpinned root in a bundle.
  await ui.step("write the new root alone into every workload's root.crt", () =>
    Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, newPem, '0644'))),
  );
  await ui.step("pin the new root alone in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fp(newPem)]))));
  const actions = await runJob(stack, ui, 'retire', 'retiring the old root in the CA (root-key volume mounted for this step only)');
  await reloadCa(stack, ui, { issuer: newPem, roots: [newPem] }, opts.reloadTimeoutMs);
  await writeHostTrust(stack, [newPem]);
  actions.push('the old root left every bundle, every pin set, the host state and the CA (reloaded: /roots serves the new root alone)');
  return { phase: 'retire', state: 'none', oldFingerprint: before.current.fingerprint, newFingerprint: before.next!.fingerprint, actions };
}

/**
 * Retire when the CA's volume has one root already: a run stopped after the
 * CA's job is completed (bundles, pins and host state to the CA's root
 * alone), and the running CA is reloaded and must serve that root alone at
 * /roots (a reload that timed out left it accepting the old one).
 */
async function finishRetired(stack: Stack, ui: Ui, state: RootState, opts: PhaseOptions): Promise<PhaseResult> {
  const pem = state.current.pem;
  const bundles = await Promise.all(stack.workloads.map(async (w) => splitPem((await docker.readFile(w.renewer, FILES.root)) ?? '').length));
  const host = (await fs.readJson(stackDirs(stack.prefix).hostStep.defaults).catch(() => ({}))) as { fingerprints?: string[] };
  const actions: string[] = [];
  if (bundles.some((n) => n > 1) || (host.fingerprints?.length ?? 1) > 1) {
    await ui.step("write the CA's root alone into every workload's root.crt", () =>
      Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, pem, '0644'))),
    );
    await ui.step("pin the CA's root alone in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fp(pem)]))));
    await writeHostTrust(stack, [pem]);
    actions.push("completed a stopped retire: bundles, pins and the host state hold the CA's root alone");
  } else {
    actions.push("no root rotation is under way: the CA's volume, every bundle and every pin set hold one root");
  }
  await reloadCa(stack, ui, { issuer: pem, roots: [pem] }, opts.reloadTimeoutMs);
  actions.push('reloaded the CA: /roots serves its root alone');
  return { phase: 'retire', state: 'none', oldFingerprint: state.current.fingerprint, newFingerprint: state.current.fingerprint, actions };
}

/**
 * The status line of the CA's root and, during a rotation, its phase, which
 * workloads were read back trusting both roots, and what comes next.
 */
export function rootLine(r: { phase: RotationPhase; root: string; newRoot?: string; trust?: TrustCheck }): string {
  if (r.phase === 'none') return `CA root: ${r.root} (npm run rotate-ca -- root prepare starts a rotation)`;
  const { trust } = r;
  const checked = trust ? trustSummary(trust) : 'not checked which workloads trust both roots';
  const next =
    !trust || trust.not.length
      ? 'next: rotate-ca root prepare (completes the pinning; activate refuses until every workload trusts both)'
      : r.phase === 'prepared'
        ? 'next: rotate-ca root activate'
        : 'workloads move to the new root as they renew; next: rotate-ca root retire';
  return `CA root rotation ${r.phase.toUpperCase()}: old ${r.root}, new ${r.newRoot} — ${checked}; ${next}`;
}
