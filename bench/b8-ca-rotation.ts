import { X509Certificate } from 'node:crypto';

import { fs } from 'zx';

import { sleep, waitFor } from '../common/wait.js';
import { rotateIntermediate, servedIntermediate } from '../scripts/lib/ca-rotation/intermediate.js';
import { activateRoot, MIN_PREPARE_SECONDS, prepareRoot, retireBlockers, retireRoot, rootState } from '../scripts/lib/ca-rotation/root.js';
import { hostUrl, stackDirs, type StackSettings } from '../scripts/lib/deploy/stack-instance.js';
import { enrollHostIdentity, type IssuedCredential } from '../scripts/lib/identity/host-identity.js';
import { mtlsRequest } from '../scripts/lib/identity/mtls-request.js';
import { fingerprintOf, issuedBy, splitPem } from '../scripts/lib/identity/pki.js';
import { appReport } from '../scripts/lib/workloads/app-report.js';
import { loadStack, type Stack, type Workload } from '../scripts/lib/workloads/handles.js';
import { bundleInUse } from '../scripts/lib/workloads/rotation-check.js';
import { bringUpWithCdktf } from './b1-bringup.js';
import { benchSettings, OPERATOR_URI, teardown } from './lib/bench-stack.js';
import type { BenchContext, BenchResult } from './lib/context.js';
import { cutover, type Renewal, startRenewals } from './lib/renewal-load.js';
import { fmt, formatSummary, summarize } from './lib/stats.js';

/** The stack B8 rotates: its own, so the main bench stack's root and CA log stay untouched. */
export const b8Settings = async (prefix: string): Promise<StackSettings> => ({ ...(await benchSettings(`${prefix}-b8`)), certLifetime: LEAF_LIFETIME });

/** The e2e suite's leaf lifetime: renewals every ~40 s bound every wait below. */
const LEAF_LIFETIME = '1m';
/** The host's own credentials (load generator, renewal fleet) are short too, so they never hold retire back. */
const HOST_LIFETIME = '40s';
/** Renewals measured after each switch: long enough for a rate, short next to a leaf's lifetime. */
const AFTER_SWITCH_MS = 5000;

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));
const signedBy = (leafPem: string, issuerPem: string) => issuedBy(new X509Certificate(leafPem), new X509Certificate(issuerPem));
const secondsSince = (t: number) => (Date.now() - t) / 1000;

/** How often B8 looks again while it waits for the workloads or the CA's log. */
const POLL_MS = 500;

/** Every workload's process uses a leaf under `intermediatePem`. */
async function allOn(workloads: readonly Workload[], intermediatePem: string): Promise<boolean> {
  const used = await Promise.all(workloads.map(bundleInUse));
  return used.every((u) => u !== undefined && signedBy(u.leaf, intermediatePem));
}

/**
 * A client on the host that calls the server on a fresh connection every
 * 100 ms, trusting what the host's pinned state holds, with a credential it
 * re-enrolls before it runs out (as a workload's renewer would): the
 * failed-request count across the rotation, from outside the mesh.
 */
function hostTraffic(stack: Stack, rootFile: string) {
  const state = { ok: 0, failed: [] as string[], stop: false };
  const enroll = async () =>
    enrollHostIdentity(stack.ca, stack.outputs.ca_host_url, await fs.readFile(rootFile, 'utf8'), {
      commonName: 'operator.mesh.internal',
      uris: [OPERATOR_URI],
      notAfter: HOST_LIFETIME,
    });
  const done = (async () => {
    let cred: IssuedCredential = await enroll();
    let renewAt = Date.now() + 20_000;
    while (!state.stop) {
      if (Date.now() > renewAt) {
        cred = await enroll();
        renewAt = Date.now() + 20_000;
      }
      const ca = await fs.readFile(rootFile, 'utf8');
      const r = await mtlsRequest(hostUrl(stack.outputs, 'server'), { ca, cert: cred.certPem, key: cred.keyPem }).catch((err: Error) => err);
      if (r instanceof Error || r.status !== 200) state.failed.push(`${new Date().toISOString()} ${r instanceof Error ? r.message : `HTTP ${r.status}`}`);
      else state.ok += 1;
      await sleep(100);
    }
  })();
  return { state, done };
}

interface Round {
  readonly intermediate: { commandSeconds: number; allMovedSeconds: number; renewals: ReturnType<typeof cutover> & { newPerSecond: number } };
  readonly prepareSeconds: number;
  readonly activate: { commandSeconds: number; allMovedSeconds: number; renewals: ReturnType<typeof cutover> & { newPerSecond: number } };
  readonly retireWaitSeconds: number;
  readonly retireSeconds: number;
  readonly totalSeconds: number;
}

/** Renewals from the host around one switch: started before `run`, stopped AFTER_SWITCH_MS after it; which intermediate each came back under. */
async function renewalsAcross<T>(stack: Stack, rootFile: string, run: () => Promise<T>): Promise<{ result: T; renewals: Renewal[]; switchedAt: number }> {
  const identity = await enrollHostIdentity(stack.ca, stack.outputs.ca_host_url, await fs.readFile(rootFile, 'utf8'), {
    commonName: 'renewals.mesh.internal',
    notAfter: HOST_LIFETIME,
  });
  const load = startRenewals({ caUrl: stack.outputs.ca_host_url, identity, ca: () => fs.readFileSync(rootFile, 'utf8'), connections: 2 });
  try {
    await sleep(1000);
    const result = await run();
    const switchedAt = Date.now();
    await sleep(AFTER_SWITCH_MS);
    return { result, renewals: await stopAnd(load), switchedAt };
  } catch (err) {
    await stopAnd(load);
    throw err;
  }
  function stopAnd(l: typeof load) {
    l.stop();
    return l.done;
  }
}

const rated = (renewals: readonly Renewal[], from: string, to: string, switchedAt: number) => {
  const c = cutover(renewals, from, to);
  const last = renewals.at(-1)?.at ?? switchedAt;
  const span = c.firstNew !== undefined ? (last - c.firstNew) / 1000 : 0;
  return { ...c, newPerSecond: span > 0 ? c.onNew / span : 0 };
};

async function oneRound(ctx: BenchContext, stack: Stack, rootFile: string, round: number): Promise<Round> {
  const label = `B8 round ${round + 1}`;
  const t0 = Date.now();
  const caUrl = stack.outputs.ca_host_url;
  const fleetWait = 3 * 60_000;

  // 1. A new intermediate under the same root.
  const oldIntermediate = await servedIntermediate(caUrl, await fs.readFile(rootFile, 'utf8'));
  const inter = await renewalsAcross(stack, rootFile, async () => {
    const t = Date.now();
    const r = await ctx.ui.step(`${label}: rotate-ca intermediate`, () => rotateIntermediate(stack, ctx.ui));
    return { seconds: secondsSince(t), r };
  });
  const newIntermediate = await servedIntermediate(caUrl, await fs.readFile(rootFile, 'utf8'));
  await ctx.ui.step(`${label}: every workload on the new intermediate`, () =>
    waitFor('every workload to move to the new intermediate (B8)', () => allOn(stack.workloads, newIntermediate.pem), {
      timeoutMs: fleetWait,
      intervalMs: POLL_MS,
    }),
  );
  const interMoved = secondsSince(inter.switchedAt);

  // 2. A new root: prepare, the enforced wait, activate.
  const tPrepare = Date.now();
  await ctx.ui.step(`${label}: rotate-ca root prepare`, () => prepareRoot(stack, ctx.ui));
  const prepareSeconds = secondsSince(tPrepare);
  // prepare records its time while it runs; from its end, the minimum has surely not passed yet.
  const prepared = Date.now();
  const state = await rootState(stack);
  await ctx.ui.step(`${label}: the ${MIN_PREPARE_SECONDS} s every app gets to load both roots`, () =>
    sleep(Math.max(0, MIN_PREPARE_SECONDS * 1000 - (Date.now() - prepared) + 500)),
  );
  const act = await renewalsAcross(stack, rootFile, async () => {
    const t = Date.now();
    await ctx.ui.step(`${label}: rotate-ca root activate`, () => activateRoot(stack, ctx.ui));
    return secondsSince(t);
  });
  const activatedAt = act.switchedAt;
  const underNewRoot = await servedIntermediate(caUrl, state.next!.pem);
  if (!signedBy(underNewRoot.pem, state.next!.pem)) throw new Error('B8: after activate the CA does not serve an intermediate under the new root');
  await ctx.ui.step(`${label}: every workload on the new root`, () =>
    waitFor('every workload to move to the new root (B8)', () => allOn(stack.workloads, underNewRoot.pem), { timeoutMs: fleetWait, intervalMs: POLL_MS }),
  );
  const actMoved = secondsSince(activatedAt);

  // 3. Retire, as soon as the CA's log and the workloads' files allow it.
  await ctx.ui.step(`${label}: wait until no valid leaf under the old root remains`, () =>
    waitFor('the last old-root leaf to expire (B8)', async () => (await retireBlockers(stack, await rootState(stack))).length === 0, {
      timeoutMs: fleetWait,
      intervalMs: POLL_MS,
    }),
  );
  const retireWaitSeconds = secondsSince(activatedAt);
  const tRetire = Date.now();
  await ctx.ui.step(`${label}: rotate-ca root retire`, () => retireRoot(stack, ctx.ui));
  const retireSeconds = secondsSince(tRetire);
  const bundle = splitPem(await fs.readFile(rootFile, 'utf8'));
  if (bundle.length !== 1 || fp(bundle[0]!) !== state.next!.fingerprint) throw new Error('B8: after retire the host does not pin the new root alone');

  return {
    intermediate: {
      commandSeconds: inter.result.seconds,
      allMovedSeconds: interMoved,
      renewals: rated(inter.renewals, fp(oldIntermediate.pem), fp(newIntermediate.pem), inter.switchedAt),
    },
    prepareSeconds,
    activate: {
      commandSeconds: act.result,
      allMovedSeconds: actMoved,
      renewals: rated(act.renewals, fp(newIntermediate.pem), fp(underNewRoot.pem), activatedAt),
    },
    retireWaitSeconds,
    retireSeconds,
    totalSeconds: secondsSince(t0),
  };
}

export async function b8CaRotation(ctx: BenchContext): Promise<BenchResult> {
  const settings = await b8Settings(ctx.settings.prefix);
  const rounds = ctx.smoke ? 1 : Math.min(ctx.rounds, 2);
  const problems: string[] = [];
  try {
    await ctx.ui.step(`B8: deploy "${settings.prefix}" (cdktf, ${LEAF_LIFETIME} leaves), bootstrap trust, enroll`, () => bringUpWithCdktf(settings));
    const stack = await loadStack(settings.prefix);
    const rootFile = stackDirs(settings.prefix).hostStep.root;
    const clientsBefore = await clientCalls(stack);
    const host = hostTraffic(stack, rootFile);
    const samples: Round[] = [];
    try {
      for (let r = 0; r < rounds; r++) samples.push(await oneRound(ctx, stack, rootFile, r));
    } finally {
      host.state.stop = true;
      await host.done;
    }
    const clientsAfter = await clientCalls(stack);
    const meshFailed = clientsAfter.failed - clientsBefore.failed;
    const meshOk = clientsAfter.ok - clientsBefore.ok;
    const renewalFailures = samples.reduce((n, s) => n + s.intermediate.renewals.failed + s.activate.renewals.failed, 0);
    const retried = samples.reduce((n, s) => n + s.intermediate.renewals.retriedAfterClose + s.activate.renewals.retriedAfterClose, 0);
    const renewalErrors = samples
      .flatMap((s) => [s.intermediate.renewals.errors, s.activate.renewals.errors])
      .reduce<Record<string, number>>((all, e) => {
        for (const [k, v] of Object.entries(e)) all[k] = (all[k] ?? 0) + v;
        return all;
      }, {});
    if (host.state.failed.length) problems.push(`${host.state.failed.length} failed host request(s), first: ${host.state.failed[0]}`);
    if (meshFailed) problems.push(`the stack's client counted ${meshFailed} failed call(s)`);
    if (renewalFailures) problems.push(`${renewalFailures} renewal(s) failed across a switch: ${JSON.stringify(renewalErrors)}`);
    if (!samples.every((s) => s.intermediate.renewals.onNew > 0 && s.activate.renewals.onNew > 0))
      problems.push('no renewal landed on the new chain after a switch');

    const s = (f: (x: Round) => number, unit: string) => formatSummary(summarize(samples.map(f)), unit);
    const gap = (f: (x: Round) => number | undefined) => {
      const xs = samples.map(f).filter((x): x is number => x !== undefined);
      return xs.length ? formatSummary(summarize(xs), 'ms') : 'n/a';
    };
    return {
      id: 'b8',
      title: 'B8 CA rotation under live traffic: a new intermediate, then a new root (prepare, activate, retire)',
      method:
        `A stack of its own ("${settings.prefix}", the Node pair, ${LEAF_LIFETIME} leaves renewed at 2/3 of their lifetime, the client calling at ${settings.clientRate}/s), deployed and destroyed by B8. ` +
        `Per round, through the same library calls as \`npm run rotate-ca\`: intermediate rotation; root prepare; the enforced ${MIN_PREPARE_SECONDS} s; activate; retire as soon as retireBlockers (the CA's log and every workload's files) finds no valid leaf under the old root. ` +
        "Phase times are the command's wall time; \"moved\" is from the command's end until every workload's process uses a leaf under the new chain (its own report, or what it serves). " +
        `Across each switch a host fleet of 2 keep-alive connections sends POST /1.0/renew back to back (from 1 s before the command until ${AFTER_SWITCH_MS / 1000} s after it) and records which intermediate each answer is under; renewals/s on the new chain is the count on it over the time from its first one to the end. ` +
        `Throughout, a host client calls the server on a fresh connection every 100 ms with a ${HOST_LIFETIME} credential it re-enrolls, trusting the host's pinned state. ${rounds} round(s), one after the other on the same stack.`,
      limits: [
        `The waits are set by the leaf lifetime, not by the code: a workload moves at its next renewal (≤ 2/3 × ${LEAF_LIFETIME} after a switch), and retire waits until the last leaf issued under the old root expires (≤ ${LEAF_LIFETIME} after activate). With 24 h leaves, the same sequence takes a day; the commands themselves take seconds.`,
        'The renewal fleet and the CA share 2 cores; its rate measures that the CA keeps issuing across a switch, not its capacity (B6).',
        'At each reload step-ca hands its listening socket to a new server and closes the kept-alive connections the old one held, now and then under a request already sent: the fleet retries such a request once on a new connection, as HTTP clients do for a connection closed under them, and counts it; a renewal that fails after that retry is a failure.',
        'A negative cutover gap means answers under both chains overlapped: requests in flight during the reload came back under the old one after the first under the new one.',
        ctx.smoke ? 'Smoke: one round, not a measurement.' : `${rounds} rounds (each about 2 minutes, nearly all of it leaf-lifetime waits).`,
      ],
      rows: [
        { metric: 'rotate-ca intermediate (command)', value: s((x) => x.intermediate.commandSeconds, 's') },
        { metric: 'every workload on the new intermediate, after the command', value: s((x) => x.intermediate.allMovedSeconds, 's') },
        { metric: 'renewals/s on the new intermediate right after the switch', value: s((x) => x.intermediate.renewals.newPerSecond, '/s') },
        { metric: 'cutover gap, last renewal on the old intermediate → first on the new', value: gap((x) => x.intermediate.renewals.gapMs) },
        { metric: 'rotate-ca root prepare (command)', value: s((x) => x.prepareSeconds, 's') },
        { metric: 'prepare → activate (the enforced minimum)', value: `${MIN_PREPARE_SECONDS} s` },
        { metric: 'rotate-ca root activate (command)', value: s((x) => x.activate.commandSeconds, 's') },
        { metric: 'every workload on the new root, after activate', value: s((x) => x.activate.allMovedSeconds, 's') },
        { metric: 'renewals/s on the new root right after activate', value: s((x) => x.activate.renewals.newPerSecond, '/s') },
        { metric: 'cutover gap, last renewal on the old root → first on the new', value: gap((x) => x.activate.renewals.gapMs) },
        { metric: 'activate → retire allowed (last old-root leaf expired)', value: s((x) => x.retireWaitSeconds, 's') },
        { metric: 'rotate-ca root retire (command)', value: s((x) => x.retireSeconds, 's') },
        { metric: 'whole sequence, intermediate to retire', value: s((x) => x.totalSeconds, 's') },
        {
          metric: 'failed requests: host client / stack client',
          value: `${host.state.failed.length} of ${host.state.ok + host.state.failed.length} / ${meshFailed} of ${meshOk + meshFailed}`,
        },
        {
          metric: 'renewals across the switches: failed / retried once after the CA closed a kept-alive connection at its reload',
          value: `${renewalFailures} / ${retried} of ${samples.reduce((n, x) => n + x.intermediate.renewals.onOld + x.intermediate.renewals.onNew + x.activate.renewals.onOld + x.activate.renewals.onNew, 0) + renewalFailures}`,
        },
      ],
      data: {
        renewalErrors,
        settings: { prefix: settings.prefix, leafLifetime: LEAF_LIFETIME, hostLifetime: HOST_LIFETIME, clientRate: settings.clientRate },
        rounds: samples,
        host: { ok: host.state.ok, failed: host.state.failed },
        mesh: { ok: meshOk, failed: meshFailed },
        note: `rates in /s, times in s (${fmt(samples.length)} rounds)`,
      },
      problems,
    };
  } finally {
    problems.push(...(await ctx.ui.step(`B8: destroy "${settings.prefix}"`, () => teardown(settings, { viaCdktf: true }))));
  }
}

/** Calls the stack's clients made and failed, from their own reports. */
async function clientCalls(stack: Stack): Promise<{ ok: number; failed: number }> {
  const reports = await Promise.all(stack.workloads.filter((w) => w.role === 'client').map(appReport));
  return reports.reduce((t, r) => ({ ok: t.ok + (r?.requests?.ok ?? 0), failed: t.failed + (r?.requests?.failed ?? 0) }), { ok: 0, failed: 0 });
}
