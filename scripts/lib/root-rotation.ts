/**
 * Root rotation in three phases (README "Rotating the CA"):
 *   prepare   a new root and an intermediate under it; every app's pin set and
 *             trust bundle hold both roots (pins first); the CA accepts either.
 *   activate  the CA issues from the new intermediate; workloads renew onto it
 *             at their normal schedule; leaves under the old root still work.
 *   retire    once no valid leaf under the old root remains (the CA's log and
 *             every workload's files are checked), the old root leaves every
 *             bundle, then every pin set, then the CA.
 * The pins are configuration written only by the operator's commands (the
 * trust volumes, which no running container can write), so a writer of a
 * certs volume cannot add a root: a bundle with an unpinned root is refused.
 */
import { X509Certificate } from 'node:crypto';
import { fs } from 'zx';
import { parseDuration } from '../../stack/duration.js';
import { issuedFromCaLog, logIsComplete, type IssuedCertificate } from './ca-log.js';
import { commonName, locateCa, rfc3339, servedIntermediate } from './ca-rotation.js';
import * as docker from './docker.js';
import { INTERMEDIATE_CRT } from './intermediate-job.js';
import { certInfo, fingerprintOf, issuedBy, serialOf, splitPem } from './pki.js';
import { CA_ROOT_FILE, NEXT_ROOT, rootJobArgs, ROTATE_ROOT_SCRIPT, type RootPhase } from './root-job.js';
import { stackDirs } from './stack.js';
import { pinRoots } from './trust.js';
import type { Ui } from './ui.js';
import { UserError } from './ui.js';
import { FILES, type Stack } from './workloads.js';

export type RotationPhase = 'none' | 'prepared' | 'activated';

export interface RootState {
  readonly phase: RotationPhase;
  /** The CA's root (certs/root_ca.crt) and, during a rotation, the new one. */
  readonly current: { readonly fingerprint: string; readonly pem: string };
  readonly next?: { readonly fingerprint: string; readonly pem: string };
}

/** How long prepare must have lasted before activate: every app has reloaded its bundle by then. */
export const MIN_PREPARE_SECONDS = 15;

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));

/** The phase, read from the CA volume (the files are the state; nothing else records it). */
export async function rootState(stack: Stack): Promise<RootState> {
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

async function runJob(stack: Stack, ui: Ui, phase: RootPhase, what: string): Promise<string[]> {
  const where = await locateCa(stack);
  const root = certInfo(await docker.execOk(stack.ca.container, ['cat', CA_ROOT_FILE]));
  const intermediate = certInfo(await docker.execOk(stack.ca.container, ['cat', INTERMEDIATE_CRT]));
  const stamp = new Date().toISOString().slice(0, 10);
  const name = (s: string | undefined, fallback: string) => (s ?? fallback).replace(/\s+\d{4}-\d\d-\d\d$/, '').replace(/[^A-Za-z0-9 ._-]/g, '').slice(0, 48) || fallback;
  const lifetimeMs = root.notAfter.getTime() - root.notBefore.getTime();
  const job = rootJobArgs({
    name: `${stack.ca.container}-rotate-root`,
    prefix: stack.prefix,
    image: where.image,
    caVolume: where.caVolume,
    rootKeyVolume: where.rootKeyVolume,
    phase,
    rootSubject: `${name(commonName(root.subject), 'Root CA')} ${stamp}`,
    intermediateSubject: `${name(commonName(intermediate.subject), 'Intermediate CA')} ${stamp}`,
    // The new root lives as long as the old one did (step's default: 10 years).
    notAfter: rfc3339(new Date(Date.now() + lifetimeMs)),
  });
  const out = await ui.step(what, () => docker.runOnce(job.flags, job.image, job.args, { input: ROTATE_ROOT_SCRIPT }));
  if (out.exitCode !== 0) {
    const why = (out.stderr || out.stdout).trim().split('\n').slice(-3).join('\n');
    throw new UserError(`rotate-ca root ${phase}: the job failed (exit ${out.exitCode}): ${why}\nFix the cause and run the same command again; a stopped run is completed, not repeated.`);
  }
  return out.stdout.split('\n').filter((l) => l.startsWith('did: ')).map((l) => l.slice(5));
}

/** SIGHUP, then wait until the CA presents an intermediate under `rootPem` (verified against it). */
async function reloadCa(stack: Stack, ui: Ui, rootPem: string, trusted: string): Promise<string> {
  return ui.step('reloading the CA (SIGHUP)', async () => {
    await docker.signal(stack.ca.container, 'HUP');
    const deadline = Date.now() + 30_000;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const served = await servedIntermediate(stack.outputs.ca_host_url, trusted);
        const root = new X509Certificate(rootPem);
        const x = new X509Certificate(served.pem);
        if (issuedBy(x, root)) return served.serial;
        last = 'it still presents the other intermediate';
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new UserError(`the CA did not present an intermediate under the expected root within 30 s (${last}); run the same command again, or restart the CA (docker restart ${stack.ca.container})`);
  });
}

/** The host's pinned state (bootstrap-trust's layout), with the set of pinned roots and the bundle of them. */
async function writeHostTrust(stack: Stack, roots: readonly string[], extra: Record<string, unknown>): Promise<void> {
  const { defaults: defaultsFile, root: bundle } = stackDirs(stack.prefix).hostStep;
  const defaults = await hostDefaults(stack);
  await fs.outputFile(`${bundle}.tmp`, roots.map((r) => r.trim()).join('\n') + '\n');
  await fs.rename(`${bundle}.tmp`, bundle);
  const { rotation: _old, ...rest } = defaults;
  await fs.outputJson(`${defaultsFile}.tmp`, { ...rest, fingerprint: fp(roots.at(-1)!), fingerprints: roots.map(fp), root: bundle, ...extra }, { spaces: 2 });
  await fs.rename(`${defaultsFile}.tmp`, defaultsFile);
}

interface HostDefaults {
  readonly fingerprints?: string[];
  readonly rotation?: { readonly preparedAt?: string; readonly activatedAt?: string };
  readonly [k: string]: unknown;
}

async function hostDefaults(stack: Stack): Promise<HostDefaults> {
  return (await fs.readJson(stackDirs(stack.prefix).hostStep.defaults).catch(() => ({}))) as HostDefaults;
}

async function hostRotation(stack: Stack): Promise<NonNullable<HostDefaults['rotation']>> {
  return (await hostDefaults(stack)).rotation ?? {};
}

/** Pins, then bundles: an app never sees a root in its bundle before the root is pinned. */
async function trustBoth(stack: Stack, ui: Ui, oldPem: string, newPem: string): Promise<void> {
  await ui.step("pin both roots in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fp(oldPem), fp(newPem)]))));
  const bundle = `${oldPem.trim()}\n${newPem.trim()}\n`;
  await ui.step('write both roots into every workload\'s root.crt', () => Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, bundle, '0644'))));
}

export interface PhaseResult {
  readonly phase: RootPhase;
  readonly state: RotationPhase;
  readonly oldFingerprint: string;
  readonly newFingerprint: string;
  readonly actions: string[];
}

export async function prepareRoot(stack: Stack, ui: Ui): Promise<PhaseResult> {
  const before = await rootState(stack);
  if (before.phase === 'activated') throw new UserError(`the CA already issues under the new root ${before.next!.fingerprint}: the next step is rotate-ca root retire`);
  const actions = await runJob(stack, ui, 'prepare', 'making a new root and an intermediate under it (root-key volume mounted for this step only)');
  const state = await rootState(stack);
  if (!state.next) throw new UserError('the prepare job finished but the CA volume holds no new root: run the same command again');
  await trustBoth(stack, ui, state.current.pem, state.next.pem);
  await writeHostTrust(stack, [state.current.pem, state.next.pem], { rotation: { preparedAt: (await hostRotation(stack)).preparedAt ?? new Date().toISOString() } });
  // The CA still issues from the old intermediate; after the reload it also accepts leaves under the new root.
  await reloadCa(stack, ui, state.current.pem, `${state.current.pem}\n${state.next.pem}`);
  actions.push('pinned both roots in every app, wrote both into every root.crt and into the host state, reloaded the CA');
  return { phase: 'prepare', state: 'prepared', oldFingerprint: state.current.fingerprint, newFingerprint: state.next.fingerprint, actions };
}

export async function activateRoot(stack: Stack, ui: Ui, opts: { minPrepareSeconds?: number } = {}): Promise<PhaseResult> {
  const before = await rootState(stack);
  if (before.phase === 'none') throw new UserError('no root rotation is prepared: run rotate-ca root prepare first');
  const { preparedAt } = await hostRotation(stack);
  const minSeconds = opts.minPrepareSeconds ?? MIN_PREPARE_SECONDS;
  const waited = preparedAt ? (Date.now() - Date.parse(preparedAt)) / 1000 : Infinity;
  if (before.phase === 'prepared' && waited < minSeconds) {
    throw new UserError(`prepare ran ${waited.toFixed(0)} s ago: give every app ${minSeconds} s to load both roots, then run activate again`);
  }
  const actions = await runJob(stack, ui, 'activate', 'installing the intermediate under the new root');
  const both = `${before.current.pem}\n${before.next!.pem}`;
  const serial = await reloadCa(stack, ui, before.next!.pem, both);
  const rotation = await hostRotation(stack);
  await writeHostTrust(stack, [before.current.pem, before.next!.pem], { rotation: { ...rotation, activatedAt: rotation.activatedAt ?? new Date().toISOString() } });
  actions.push(`reloaded the CA: it issues from ${serial}, under the new root; workloads move at their next renewal`);
  return { phase: 'activate', state: 'activated', oldFingerprint: before.current.fingerprint, newFingerprint: before.next!.fingerprint, actions };
}

export interface RetireBlocker {
  readonly what: string;
  readonly notAfter: string;
}

/**
 * What still holds a valid leaf under the old root: certificates the CA's log
 * shows it issued under any other chain that have not expired, and workload
 * files that do not chain to the new root. When the log does not reach back
 * far enough, the activation time plus the longest lifetime is the bound.
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
  const caCreated = new Date(new X509Certificate(state.current.pem).validFrom);
  const { activatedAt } = await hostRotation(stack);
  if (logIsComplete(record, { maxLifetimeSeconds, caCreated, now })) {
    for (const c of record.certificates.filter((x: IssuedCertificate) => x.notAfter > now && !underNew(x.x509))) {
      blockers.push({ what: `certificate ${c.serial} for ${[...c.dnsNames, ...c.uris].join(' ')} (in the CA's log)`, notAfter: c.notAfter.toISOString() });
    }
  } else {
    const bound = new Date(Date.parse(activatedAt ?? now.toISOString()) + maxLifetimeSeconds * 1000);
    if (bound > now) blockers.push({ what: `the CA's log does not reach back to every certificate that may be valid: any leaf issued before activation (${activatedAt ?? 'unknown'}) may live until`, notAfter: bound.toISOString() });
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

export async function retireRoot(stack: Stack, ui: Ui): Promise<PhaseResult & { blockers?: RetireBlocker[] }> {
  const before = await rootState(stack);
  if (before.phase === 'none') return finishRetired(stack, ui, before);
  if (before.phase === 'prepared') throw new UserError('the CA does not issue under the new root yet: run rotate-ca root activate first');
  const blockers = await ui.step('checking that no valid leaf under the old root remains', () => retireBlockers(stack, before));
  if (blockers.length) {
    const until = blockers.map((b) => b.notAfter).sort().at(-1);
    throw new UserError(`cannot retire the old root yet: ${blockers.length} valid leaf/leaves under it remain:\n${blockers.map((b) => `  ${b.what}, valid until ${b.notAfter}`).join('\n')}\nRun rotate-ca root retire again after ${until} (workloads renew onto the new root by themselves; re-enroll one with enroll --force to hurry it).`);
  }
  const newPem = before.next!.pem;
  // Bundles first (the new root alone is pinned already), then pins: never an unpinned root in a bundle.
  await ui.step("write the new root alone into every workload's root.crt", () => Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, newPem, '0644'))));
  await ui.step("pin the new root alone in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fp(newPem)]))));
  const actions = await runJob(stack, ui, 'retire', 'retiring the old root in the CA (root-key volume mounted for this step only)');
  await reloadCa(stack, ui, newPem, newPem);
  await writeHostTrust(stack, [newPem], {});
  actions.push('the old root left every bundle, every pin set, the host state and the CA');
  return { phase: 'retire', state: 'none', oldFingerprint: before.current.fingerprint, newFingerprint: before.next!.fingerprint, actions };
}

/**
 * Retire when the CA has one root already: a run stopped after the CA's
 * part is completed (bundles, pins and host state to the CA's root alone);
 * otherwise there is nothing to do.
 */
async function finishRetired(stack: Stack, ui: Ui, state: RootState): Promise<PhaseResult> {
  const pem = state.current.pem;
  const bundles = await Promise.all(stack.workloads.map(async (w) => splitPem((await docker.readFile(w.renewer, FILES.root)) ?? '').length));
  const host = await hostDefaults(stack);
  const actions: string[] = [];
  if (bundles.some((n) => n > 1) || (host.fingerprints?.length ?? 1) > 1) {
    await ui.step("write the CA's root alone into every workload's root.crt", () => Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, pem, '0644'))));
    await ui.step("pin the CA's root alone in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fp(pem)]))));
    await writeHostTrust(stack, [pem], {});
    actions.push('completed a stopped retire: bundles, pins and the host state hold the CA\'s root alone');
  } else {
    actions.push('no root rotation is under way: the CA, every bundle and every pin set hold one root');
  }
  return { phase: 'retire', state: 'none', oldFingerprint: state.current.fingerprint, newFingerprint: state.current.fingerprint, actions };
}

/** The status line of the CA's root and, during a rotation, its phase and what comes next. */
export function rootLine(r: { phase: RotationPhase; root: string; newRoot?: string }): string {
  if (r.phase === 'none') return `CA root: ${r.root} (npm run rotate-ca -- root prepare starts a rotation)`;
  const next = r.phase === 'prepared' ? 'next: rotate-ca root activate' : 'workloads move to the new root as they renew; next: rotate-ca root retire';
  return `CA root rotation ${r.phase.toUpperCase()}: old ${r.root}, new ${r.newRoot} — every app trusts both; ${next}`;
}
