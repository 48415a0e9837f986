import { appStats, type AppStats, type Stack, type Workload } from './workloads.js';

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
  /** Client request counters over the observation window. */
  readonly traffic: { readonly successes: number; readonly failures: number; readonly failuresByReason: Record<string, number> };
  readonly serverSerialsSeenByClient: string[];
  readonly elapsedSeconds: number;
  readonly problems: string[];
}

type Counters = { successes: number; failures: number; failuresByReason: Record<string, number> };

function counters(s: AppStats | undefined): Counters {
  return {
    successes: s?.requests?.successes ?? 0,
    failures: s?.requests?.failures ?? 0,
    failuresByReason: { ...(s?.requests?.failuresByReason ?? {}) },
  };
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
 * Watches the certificate each app process actually serves (its admin
 * /stats, not the file on disk) until every workload has rotated `rotations`
 * times with notAfter moving forward, while the client keeps sending traffic.
 * Polls; never sleeps blindly past the point where the answer is known.
 */
export async function observeRotations(
  stack: Stack,
  opts: { rotations: number; timeoutMs: number; intervalMs?: number; trafficFrom?: Workload; onChange?: (workload: string, e: TimelineEntry) => void },
): Promise<RotationReport> {
  const started = Date.now();
  const client = opts.trafficFrom ?? stack.workloads.find((w) => w.name === 'client');
  const before = counters(client ? await appStats(client) : undefined);
  const timelines = new Map<string, TimelineEntry[]>(stack.workloads.map((w) => [w.name, []]));
  const problems: string[] = [];
  let lastClientStats: AppStats | undefined;

  const poll = async () => {
    await Promise.all(
      stack.workloads.map(async (w) => {
        const s = await appStats(w);
        if (w === client) lastClientStats = s;
        const c = s?.credentials;
        if (!c?.serial || !c.notAfter || !c.notBefore) return;
        const tl = timelines.get(w.name)!;
        if (tl.at(-1)?.serial === c.serial) return;
        const entry = { serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter, seenAt: new Date().toISOString() };
        tl.push(entry);
        opts.onChange?.(w.name, entry);
      }),
    );
  };
  const rotationsOf = (name: string) => Math.max(0, (timelines.get(name)?.length ?? 0) - 1);
  const done = () => stack.workloads.every((w) => rotationsOf(w.name) >= opts.rotations);

  await poll();
  while (!done() && Date.now() - started < opts.timeoutMs) {
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    await poll();
  }
  const traffic = diff(before, counters(client ? (lastClientStats ?? (await appStats(client))) : undefined));

  const workloads = stack.workloads.map((w) => {
    const timeline = timelines.get(w.name)!;
    const notAfterMonotonic = timeline.every((e, i) => i === 0 || Date.parse(e.notAfter) > Date.parse(timeline[i - 1]!.notAfter));
    const rotations = rotationsOf(w.name);
    if (rotations < opts.rotations) problems.push(`${w.name}: ${rotations} rotation(s) observed, wanted ${opts.rotations}`);
    if (!notAfterMonotonic) problems.push(`${w.name}: notAfter did not move forward at every rotation`);
    return { workload: w.name, rotations, notAfterMonotonic, timeline };
  });
  if (!client) problems.push('no client workload to measure traffic');
  if (traffic.failures > 0) problems.push(`${traffic.failures} request(s) failed: ${JSON.stringify(traffic.failuresByReason)}`);
  if (client && traffic.successes === 0) problems.push('the client made no successful request while rotations were observed');
  return {
    ok: problems.length === 0,
    rotationsWanted: opts.rotations,
    workloads,
    traffic,
    serverSerialsSeenByClient: lastClientStats?.serverSerials ?? [],
    elapsedSeconds: (Date.now() - started) / 1000,
    problems,
  };
}
