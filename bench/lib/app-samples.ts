// What B7 and B9 read from each Node app while they run: its /stats (RSS,
// heap, pid, served serial, reloads, client failures) at a fixed interval.
import { appStats, type AppStats, type Workload } from '../../scripts/lib/workloads.js';

/** Peak RSS must stay below this share of the container's memory limit, whatever the length of the run. */
export const PEAK_RSS_SHARE = 0.75;

export interface Sample {
  readonly at: number;
  readonly workload: string;
  readonly pid: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly serial: string;
  readonly reloads: number;
  readonly failures: number;
  readonly retries: number;
}

export function sampleOf(w: Workload, s: AppStats | undefined, at: number): Sample | undefined {
  const proc = s?.['process'] as { pid?: number; rssBytes?: number; heapUsedBytes?: number } | undefined;
  if (!proc?.rssBytes || !s?.credentials?.serial) return undefined;
  const requests = s.requests as { failures?: number; retries?: number } | undefined;
  return {
    at,
    workload: w.name,
    pid: proc.pid ?? 0,
    rssMb: proc.rssBytes / 2 ** 20,
    heapUsedMb: (proc.heapUsedBytes ?? 0) / 2 ** 20,
    serial: s.credentials.serial,
    reloads: s.credentials.reloads ?? 0,
    failures: requests?.failures ?? 0,
    retries: requests?.retries ?? 0,
  };
}

/**
 * Samples every workload each `everyMs` from `from` for as long as
 * `more(next)` says so (`next` is the time of the sample about to be taken).
 * `missed` names each sample that could not be taken: `server@120s`.
 */
export async function sampleApps(
  workloads: readonly Workload[],
  opts: { readonly from: number; readonly everyMs: number; readonly more: (next: number) => boolean },
): Promise<{ samples: Sample[]; missed: string[] }> {
  const samples: Sample[] = [];
  const missed: string[] = [];
  for (let next = opts.from; opts.more(next); next += opts.everyMs) {
    const wait = next - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const at = Date.now();
    const got = await Promise.all(workloads.map(async (w) => ({ w, s: sampleOf(w, await appStats(w), at) })));
    for (const { w, s } of got) {
      if (s) samples.push(s);
      else missed.push(`${w.name}@${Math.round((at - opts.from) / 1000)}s`);
    }
  }
  return { samples, missed };
}
