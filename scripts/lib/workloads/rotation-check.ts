import { X509Certificate } from 'node:crypto';

import { waitFor } from '../../../common/wait.js';
import { servesAcme } from '../../../stack/technologies.js';
import { UserError } from '../cli/ui.js';
import * as docker from '../docker/commands.js';
import { serialOf, splitPem } from '../identity/pki.js';
import { type AppReport, appReport } from './app-report.js';
import { certOnDisk, FILES, type Stack, type Workload } from './handles.js';
import { servedCertificate, servedChainPems } from './served-cert.js';

export interface TimelineEntry {
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** When this poll first saw the app serving it. */
  readonly seenAt: string;
}

export interface RotationReport {
  readonly ok: boolean;
  readonly rotationsWanted: number;
  readonly workloads: Array<{
    readonly workload: string;
    readonly rotations: number;
    readonly notAfterMonotonic: boolean;
    readonly timeline: TimelineEntry[];
  }>;
  /** The clients' calls over the observation window, added up. */
  readonly traffic: { readonly successes: number; readonly failures: number; readonly failuresByReason: Record<string, number> };
  /** Each client's calls over the window: who it called, ok and failed. */
  readonly calls: Array<{ readonly client: string; readonly server: string; readonly ok: number; readonly failed: number }>;
  readonly serverSerialsSeenByClient: string[];
  readonly elapsedSeconds: number;
  readonly problems: string[];
}

type Counters = { successes: number; failures: number; failuresByReason: Record<string, number> };

const ZERO: Counters = { successes: 0, failures: 0, failuresByReason: {} };

/** The calls of every client of the stack, added up. */
function counters(reports: ReadonlyMap<string, AppReport | undefined>, clients: readonly Workload[]): Counters {
  const sum: Counters = { successes: 0, failures: 0, failuresByReason: {} };
  for (const w of clients) {
    const r = reports.get(w.name)?.requests;
    sum.successes += r?.ok ?? 0;
    sum.failures += r?.failed ?? 0;
    for (const [k, v] of Object.entries(r?.failuresByReason ?? (r?.failed ? { [`${w.name}`]: r.failed } : {}))) {
      sum.failuresByReason[k] = (sum.failuresByReason[k] ?? 0) + v;
    }
  }
  return sum;
}

function diff(a: Counters, b: Counters): Counters {
  const reasons: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.failuresByReason)) {
    const d = v - (a.failuresByReason[k] ?? 0);
    if (d) reasons[k] = d;
  }
  return { successes: b.successes - a.successes, failures: b.failures - a.failures, failuresByReason: reasons };
}

/**
 * The certificate a workload's process uses now: what it reports (Node admin
 * /stats, a recipe's stats file); for a server that does not report it, what
 * it serves on its published port; for a client that re-reads its files on
 * every call (curl, psql), the files themselves.
 */
export async function certificateInUse(
  w: Workload,
  report: AppReport | undefined,
): Promise<{ serial: string; notBefore?: string; notAfter: string } | undefined> {
  if (report?.serial && report.notAfter) return { serial: report.serial, notBefore: report.notBefore, notAfter: report.notAfter };
  const cert = w.host_port ? await servedCertificate({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol }) : await certOnDisk(w);
  return cert ? { serial: cert.serial, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() } : undefined;
}

/**
 * The workload's certificate bundle on disk (leaf, then intermediate) when its
 * process uses that leaf (see certificateInUse); undefined while it still
 * uses another. What a CA rotation waits on: the chain a workload has moved to.
 */
export async function bundleInUse(w: Workload): Promise<{ bundle: string; leaf: string; serial: string } | undefined> {
  // An app that obtains the certificate it serves by ACME never serves the
  // renewer's site.crt: what it uses is what it serves, chain included.
  if (servesAcme(w.technology)) {
    const chain = w.host_port ? await servedChainPems({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol }) : [];
    const [leaf] = chain;
    return leaf ? { bundle: chain.join(''), leaf, serial: serialOf(new X509Certificate(leaf)) } : undefined;
  }
  const bundle = await docker.readFile(w.renewer, FILES.cert);
  const leaf = bundle ? splitPem(bundle)[0] : undefined;
  if (!bundle || !leaf) return undefined;
  const serial = serialOf(new X509Certificate(leaf));
  return (await certificateInUse(w, await appReport(w)))?.serial === serial ? { bundle, leaf, serial } : undefined;
}

export interface FirstAnswer {
  readonly client: string;
  readonly server: string | undefined;
  /** Calls retried while the server had never answered yet (start-up, not failures). */
  readonly startupRetries: number;
  /** Calls that failed before the first answer (start-up retries ran out). */
  readonly failed: number;
}

/**
 * Waits until every client of the stack has had a call answered: from then
 * on every server is up, and a failed call is a failure. What happened
 * before (start-up retries) is returned, to be shown on its own line. Fails
 * with each silent client's last error when one never got an answer.
 */
export async function untilEveryClientAnswered(stack: Stack, opts: { timeoutMs: number; intervalMs?: number }): Promise<FirstAnswer[]> {
  const clients = stack.workloads.filter((w) => w.role === 'client');
  let why: string[] = [];
  const answered = await waitFor(
    'every client to have a call answered',
    async () => {
      const reports = await Promise.all(clients.map((w) => appReport(w)));
      const silent = clients.filter((_, i) => !((reports[i]?.requests.ok ?? 0) > 0));
      if (silent.length === 0) {
        return clients.map((w, i) => ({
          client: w.name,
          server: w.calls,
          startupRetries: reports[i]?.requests.startupRetries ?? 0,
          failed: reports[i]?.requests.failed ?? 0,
        }));
      }
      why = silent.map((w) => `${w.name} → ${w.calls}: ${reports[clients.indexOf(w)]?.lastError ?? 'no report'}`);
      return undefined;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs ?? 1000 },
  ).catch(() => undefined);
  if (answered) return answered;
  throw new UserError(
    `no answer within ${Math.round(opts.timeoutMs / 1000)} s for ${why.length} client(s):\n  ${why.join('\n  ')}\nSee \`npm run status\` and \`docker logs <container>\`.`,
  );
}

/**
 * Watches the certificate each app process actually uses (see
 * certificateInUse) until every workload has rotated `rotations` times with
 * notAfter moving forward, while the clients keep calling; adds up the
 * clients' calls over the window. Polls; never sleeps blindly past the point
 * where the answer is known.
 */
export async function observeRotations(
  stack: Stack,
  opts: { rotations: number; timeoutMs: number; intervalMs?: number; only?: readonly string[]; onChange?: (workload: string, e: TimelineEntry) => void },
): Promise<RotationReport> {
  const started = Date.now();
  const watched = opts.only ? stack.workloads.filter((w) => opts.only!.includes(w.name)) : stack.workloads;
  const clients = watched.filter((w) => w.role === 'client');
  const reportsNow = async () => new Map(await Promise.all(watched.map(async (w) => [w.name, await appReport(w)] as const)));
  const first = await reportsNow();
  const before = counters(first, clients);
  const timelines = new Map<string, TimelineEntry[]>(watched.map((w) => [w.name, []]));
  const problems: string[] = [];
  let last = new Map<string, AppReport | undefined>();

  const poll = async () => {
    last = await reportsNow();
    await Promise.all(
      watched.map(async (w) => {
        const c = await certificateInUse(w, last.get(w.name));
        if (!c) return;
        const tl = timelines.get(w.name)!;
        if (tl.at(-1)?.serial === c.serial) return;
        const entry = { serial: c.serial, notBefore: c.notBefore ?? '', notAfter: c.notAfter, seenAt: new Date().toISOString() };
        tl.push(entry);
        opts.onChange?.(w.name, entry);
      }),
    );
  };
  const rotationsOf = (name: string) => Math.max(0, (timelines.get(name)?.length ?? 0) - 1);
  const done = () => watched.every((w) => rotationsOf(w.name) >= opts.rotations);

  // Running out of time is not an error here: the report says what is missing.
  const left = opts.timeoutMs - (Date.now() - started);
  await waitFor(`${opts.rotations} rotation(s) of every watched workload`, async () => (await poll(), done()), {
    timeoutMs: left,
    intervalMs: opts.intervalMs ?? 1000,
  }).catch(() => undefined);
  await poll(); // the last counters, after the last rotation was seen
  const traffic = clients.length ? diff(before, counters(last, clients)) : ZERO;

  const workloads = watched.map((w) => {
    const timeline = timelines.get(w.name)!;
    const notAfterMonotonic = timeline.every((e, i) => i === 0 || Date.parse(e.notAfter) > Date.parse(timeline[i - 1]!.notAfter));
    const rotations = rotationsOf(w.name);
    if (rotations < opts.rotations) problems.push(`${w.name}: ${rotations} rotation(s) observed, wanted ${opts.rotations}`);
    if (!notAfterMonotonic) problems.push(`${w.name}: notAfter did not move forward at every rotation`);
    return { workload: w.name, rotations, notAfterMonotonic, timeline };
  });
  if (!clients.length) problems.push('no client workload to measure traffic');
  if (traffic.failures > 0) problems.push(`${traffic.failures} call(s) failed: ${JSON.stringify(traffic.failuresByReason)}`);
  const calls = clients.map((w) => ({
    client: w.name,
    server: w.calls,
    ok: (last.get(w.name)?.requests.ok ?? 0) - (first.get(w.name)?.requests.ok ?? 0),
    failed: (last.get(w.name)?.requests.failed ?? 0) - (first.get(w.name)?.requests.failed ?? 0),
  }));
  for (const c of calls) if (c.ok <= 0) problems.push(`${c.client} made no successful call while rotations were observed`);
  return {
    ok: problems.length === 0,
    rotationsWanted: opts.rotations,
    workloads,
    traffic,
    calls,
    serverSerialsSeenByClient: [...(clients.map((w) => last.get(w.name)?.serverSerials).find((s) => s?.length) ?? [])],
    elapsedSeconds: (Date.now() - started) / 1000,
    problems,
  };
}
